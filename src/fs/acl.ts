// POSIX ACLs as Linux stores them in the system.posix_acl_access / system.posix_acl_default
// xattrs (little-endian: u32 version 2, then entries of u16 tag, u16 perm, u32 id), and the mode
// interplay of fs/posix_acl.c: posix_acl_valid, posix_acl_equiv_mode, posix_acl_update_mode,
// posix_acl_chmod and posix_acl_create. The kernel enforces permissions from these xattrs; this
// module only keeps the ACL and the mode bits consistent, exactly as ext4 does.
import { errno, fsError } from './errors.js';
import { S_IRWXG, S_IRWXO, S_IRWXU, S_ISGID } from './mode.js';

export const XATTR_NAME_POSIX_ACL_ACCESS = 'system.posix_acl_access';
export const XATTR_NAME_POSIX_ACL_DEFAULT = 'system.posix_acl_default';

export const POSIX_ACL_XATTR_VERSION = 0x0002;
export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_GROUP = 0x08;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;
export const ACL_UNDEFINED_ID = 0xffffffff;

const HEADER = 4;
const ENTRY = 8;

export interface AclEntry {
  tag: number;
  perm: number;
  id: number;
}

export type Acl = AclEntry[];

/** Decodes an ACL xattr value. Returns null for an empty ACL (header only): setting it removes
 * the ACL. EOPNOTSUPP for a wrong version, EINVAL for a malformed or invalid ACL. */
export function decodeAcl(buf: Buffer): Acl | null {
  if (buf.length < HEADER) throw fsError(errno.EINVAL, 'ACL xattr shorter than its header');
  if (buf.readUInt32LE(0) !== POSIX_ACL_XATTR_VERSION) throw fsError(errno.EOPNOTSUPP, 'ACL xattr version is not 2');
  if ((buf.length - HEADER) % ENTRY !== 0) throw fsError(errno.EINVAL, 'ACL xattr size is not header + n entries');
  const count = (buf.length - HEADER) / ENTRY;
  if (count === 0) return null;
  const acl: Acl = [];
  for (let i = 0; i < count; i++) {
    const o = HEADER + i * ENTRY;
    const tag = buf.readUInt16LE(o);
    const perm = buf.readUInt16LE(o + 2);
    const id = tag === ACL_USER || tag === ACL_GROUP ? buf.readUInt32LE(o + 4) : ACL_UNDEFINED_ID;
    acl.push({ tag, perm, id });
  }
  validateAcl(acl);
  return acl;
}

export function encodeAcl(acl: Acl): Buffer {
  const buf = Buffer.alloc(HEADER + acl.length * ENTRY);
  buf.writeUInt32LE(POSIX_ACL_XATTR_VERSION, 0);
  acl.forEach((e, i) => {
    const o = HEADER + i * ENTRY;
    buf.writeUInt16LE(e.tag, o);
    buf.writeUInt16LE(e.perm, o + 2);
    buf.writeUInt32LE(e.tag === ACL_USER || e.tag === ACL_GROUP ? e.id : ACL_UNDEFINED_ID, o + 4);
  });
  return buf;
}

/** posix_acl_valid: entries in tag order, one of each *_OBJ, OTHER last, MASK iff named entries,
 * no duplicate named ids, perms within rwx. */
export function validateAcl(acl: Acl): void {
  const bad = (why: string) => fsError(errno.EINVAL, `invalid ACL: ${why}`);
  let state = ACL_USER_OBJ;
  let needsMask = false;
  const users = new Set<number>();
  const groups = new Set<number>();
  for (const e of acl) {
    if (e.perm & ~7) throw bad('perm outside rwx');
    switch (e.tag) {
      case ACL_USER_OBJ:
        if (state !== ACL_USER_OBJ) throw bad('USER_OBJ out of place');
        state = ACL_USER;
        break;
      case ACL_USER:
        if (state !== ACL_USER) throw bad('USER out of place');
        if (users.has(e.id)) throw bad('duplicate USER');
        users.add(e.id);
        needsMask = true;
        break;
      case ACL_GROUP_OBJ:
        if (state !== ACL_USER) throw bad('GROUP_OBJ out of place');
        state = ACL_GROUP;
        break;
      case ACL_GROUP:
        if (state !== ACL_GROUP) throw bad('GROUP out of place');
        if (groups.has(e.id)) throw bad('duplicate GROUP');
        groups.add(e.id);
        needsMask = true;
        break;
      case ACL_MASK:
        if (state !== ACL_GROUP) throw bad('MASK out of place');
        state = ACL_OTHER;
        break;
      case ACL_OTHER:
        if (state === ACL_OTHER || (state === ACL_GROUP && !needsMask)) {
          state = 0;
          break;
        }
        throw bad('OTHER out of place or MASK missing');
      default:
        throw bad(`unknown tag ${e.tag}`);
    }
  }
  if (state !== 0) throw bad('incomplete');
}

/** posix_acl_equiv_mode: the permission bits the ACL implies, and whether the ACL says no more
 * than those bits (then it need not be stored). */
export function aclEquivMode(acl: Acl): { perms: number; equiv: boolean } {
  let perms = 0;
  let equiv = true;
  for (const e of acl) {
    switch (e.tag) {
      case ACL_USER_OBJ:
        perms |= (e.perm & 7) << 6;
        break;
      case ACL_GROUP_OBJ:
        perms |= (e.perm & 7) << 3;
        break;
      case ACL_OTHER:
        perms |= e.perm & 7;
        break;
      case ACL_MASK:
        perms = (perms & ~S_IRWXG) | ((e.perm & 7) << 3);
        break;
      case ACL_USER:
      case ACL_GROUP:
        equiv = false;
        break;
    }
  }
  return { perms, equiv };
}

/** posix_acl_update_mode: the mode after setting access ACL `acl`, and the ACL to store (null when
 * the mode says it all). `keepSgid` is false when the caller is neither in the file's group nor
 * privileged. */
export function aclUpdateMode(mode: number, acl: Acl, keepSgid: boolean): { mode: number; acl: Acl | null } {
  const { perms, equiv } = aclEquivMode(acl);
  let m = (mode & ~0o777) | perms;
  if (!keepSgid) m &= ~S_ISGID;
  return { mode: m, acl: equiv ? null : acl };
}

/** posix_acl_chmod: the access ACL after chmod to `mode` (named entries stay; mask or group_obj,
 * user_obj and other take the new bits). */
export function aclChmod(acl: Acl, mode: number): Acl {
  const out = acl.map((e) => ({ ...e }));
  const mask = out.find((e) => e.tag === ACL_MASK);
  for (const e of out) {
    switch (e.tag) {
      case ACL_USER_OBJ:
        e.perm = (mode & S_IRWXU) >> 6;
        break;
      case ACL_GROUP_OBJ:
        if (!mask) e.perm = (mode & S_IRWXG) >> 3;
        break;
      case ACL_MASK:
        e.perm = (mode & S_IRWXG) >> 3;
        break;
      case ACL_OTHER:
        e.perm = mode & S_IRWXO;
        break;
    }
  }
  return out;
}

/** posix_acl_create with the parent's default ACL: the new inode's mode (masked by the ACL), its
 * access ACL (null when equivalent to the mode), and for directories the default ACL to copy. */
export function aclCreate(
  parentDefault: Acl,
  mode: number,
  isDirectory: boolean,
): { mode: number; access: Acl | null; default: Acl | null } {
  const acl = parentDefault.map((e) => ({ ...e }));
  let m = mode;
  let groupObj: AclEntry | undefined;
  let maskObj: AclEntry | undefined;
  let notEquiv = false;
  for (const e of acl) {
    switch (e.tag) {
      case ACL_USER_OBJ:
        e.perm &= (m >> 6) & 7;
        m &= (e.perm << 6) | ~S_IRWXU;
        break;
      case ACL_USER:
      case ACL_GROUP:
        notEquiv = true;
        break;
      case ACL_GROUP_OBJ:
        groupObj = e;
        break;
      case ACL_OTHER:
        e.perm &= m & 7;
        m &= e.perm | ~S_IRWXO;
        break;
      case ACL_MASK:
        maskObj = e;
        notEquiv = true;
        break;
    }
  }
  if (maskObj) {
    maskObj.perm &= (m >> 3) & 7;
    m &= (maskObj.perm << 3) | ~S_IRWXG;
  } else if (groupObj) {
    groupObj.perm &= (m >> 3) & 7;
    m &= (groupObj.perm << 3) | ~S_IRWXG;
  }
  return { mode: m, access: notEquiv ? acl : null, default: isDirectory ? parentDefault : null };
}
