// Extended attributes: the user., trusted. and security. namespaces stored as given, and the two
// POSIX ACL names of system., whose values are validated and kept consistent with the mode (see
// acl.ts). Other namespaces are EOPNOTSUPP. Limits follow Linux: names of 1..255 bytes (ERANGE),
// values up to 64 KiB (E2BIG).
import type { InodeRecord, MetaOp } from '../backends/types.js';
import { aclUpdateMode, decodeAcl, encodeAcl, XATTR_NAME_POSIX_ACL_ACCESS, XATTR_NAME_POSIX_ACL_DEFAULT } from './acl.js';
import { FsCore } from './core.js';
import { errno, fsError } from './errors.js';
import { checkNotPinned } from './inode-flags.js';
import { isDir, isLnk } from './mode.js';
import type { Caller } from './operations.js';
import { XATTR_CREATE, XATTR_REPLACE } from './operations.js';

export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;
export const XATTR_LIST_MAX = 65536;

const PREFIXES = ['user.', 'trusted.', 'security.'];

function checkXattrName(name: string): 'plain' | 'access' | 'default' {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > XATTR_NAME_MAX) throw fsError(errno.ERANGE, 'xattr name length');
  if (name === XATTR_NAME_POSIX_ACL_ACCESS) return 'access';
  if (name === XATTR_NAME_POSIX_ACL_DEFAULT) return 'default';
  for (const p of PREFIXES) {
    if (name.startsWith(p)) {
      if (name.length === p.length) throw fsError(errno.EINVAL, 'xattr name has an empty suffix');
      return 'plain';
    }
  }
  throw fsError(errno.EOPNOTSUPP, `xattr namespace of ${name} is not supported`);
}

/** The kernel reads it before every write (file_remove_privs); FsCore remembers its absence. */
const XATTR_NAME_CAPS = 'security.capability';

export async function getXattr(core: FsCore, ino: number, name: string): Promise<Buffer> {
  checkXattrName(name);
  const rec = await core.inode(ino);
  const caps = name === XATTR_NAME_CAPS;
  if (caps && core.knownNoCaps(rec)) throw fsError(errno.ENODATA);
  const v = await core.meta.getXattr(ino, name);
  if (v === undefined) {
    if (caps) core.noteNoCaps(rec);
    throw fsError(errno.ENODATA);
  }
  return v;
}

export async function listXattrs(core: FsCore, ino: number): Promise<string[]> {
  await core.inode(ino);
  return core.meta.listXattrs(ino);
}

export async function setXattr(
  core: FsCore,
  caller: Caller,
  ino: number,
  name: string,
  value: Buffer,
  flags: number,
): Promise<void> {
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) throw fsError(errno.EINVAL, 'unknown setxattr flags');
  const kind = checkXattrName(name);
  if (value.length > XATTR_SIZE_MAX) throw fsError(errno.E2BIG);
  await core.locks.run(ino, async () => {
    const rec = await core.inode(ino);
    checkNotPinned(rec);
    if (kind !== 'plain') return setAcl(core, caller, rec, kind, decodeAcl(value));
    if (flags !== 0) {
      const exists = (await core.meta.getXattr(ino, name)) !== undefined;
      if (flags & XATTR_CREATE && exists) throw fsError(errno.EEXIST);
      if (flags & XATTR_REPLACE && !exists) throw fsError(errno.ENODATA);
    }
    await core.putInodes([{ ...rec, ctimeNs: core.now() }], [{ op: 'setXattr', ino, name, value }]);
  });
}

export async function removeXattr(core: FsCore, ino: number, name: string): Promise<void> {
  const kind = checkXattrName(name);
  await core.locks.run(ino, async () => {
    const rec = await core.inode(ino);
    checkNotPinned(rec);
    const exists = (await core.meta.getXattr(ino, name)) !== undefined;
    // Removing an ACL that is not there succeeds, as on ext4 (set_posix_acl(NULL)).
    if (!exists) {
      if (kind === 'plain') throw fsError(errno.ENODATA);
      return;
    }
    await core.putInodes([{ ...rec, ctimeNs: core.now() }], [{ op: 'delXattr', ino, name }]);
    if (kind === 'default') core.setDefaultAclCache(ino, null);
  });
}

/** set_posix_acl: an access ACL updates the mode (and is dropped when the mode says it all); a
 * default ACL is for directories only. The caller holds the inode lock. */
async function setAcl(
  core: FsCore,
  caller: Caller,
  rec: InodeRecord,
  kind: 'access' | 'default',
  acl: ReturnType<typeof decodeAcl>,
): Promise<void> {
  if (isLnk(rec.mode)) throw fsError(errno.EOPNOTSUPP, 'no ACLs on symlinks');
  const ino = rec.ino;
  const now = core.now();
  if (kind === 'default') {
    if (!isDir(rec.mode)) {
      if (acl) throw fsError(errno.EACCES, 'default ACL on a non-directory');
      return;
    }
    const value = acl ? encodeAcl(acl) : null;
    const op: MetaOp = value
      ? { op: 'setXattr', ino, name: XATTR_NAME_POSIX_ACL_DEFAULT, value }
      : { op: 'delXattr', ino, name: XATTR_NAME_POSIX_ACL_DEFAULT };
    await core.putInodes([{ ...rec, ctimeNs: now }], [op]);
    core.setDefaultAclCache(ino, value);
    return;
  }
  let mode = rec.mode;
  let store: Buffer | null = null;
  if (acl) {
    const keepSgid = caller.uid === 0 || caller.gid === rec.gid;
    const r = aclUpdateMode(rec.mode, acl, keepSgid);
    mode = r.mode;
    store = r.acl ? encodeAcl(r.acl) : null;
  }
  const op: MetaOp = store
    ? { op: 'setXattr', ino, name: XATTR_NAME_POSIX_ACL_ACCESS, value: store }
    : { op: 'delXattr', ino, name: XATTR_NAME_POSIX_ACL_ACCESS };
  await core.putInodes([{ ...rec, mode, ctimeNs: now }], [op]);
}
