// setattr (chmod, chown, truncate, utimes) and the inode-flag ioctls. chmod keeps an access ACL in
// step with the new mode (posix_acl_chmod); chown of a non-directory drops setuid, and setgid when
// group-executable, as Linux does for every caller; truncation frees the chunks past the new end.
import type { MetaOp } from '../backends/types.js';
import { aclChmod, decodeAcl, encodeAcl, XATTR_NAME_POSIX_ACL_ACCESS } from './acl.js';
import { FsCore, MAX_FILE_SIZE } from './core.js';
import { truncateData } from './data.js';
import { errno, fsError } from './errors.js';
import { isAppendOnly, isImmutable } from './inode-flags.js';
import { isDir, isLnk, isReg, S_IALLUGO, S_IFMT, S_ISGID, S_ISUID, S_IXGRP } from './mode.js';
import type { Attr, SetAttr } from './operations.js';

export const FS_IOC_GETFLAGS = 0x80086601;
export const FS_IOC_SETFLAGS = 0x40086602;
export const FS_IOC32_GETFLAGS = 0x80046601;
export const FS_IOC32_SETFLAGS = 0x40046602;

function checkTime(t: bigint | 'now' | undefined, what: string): void {
  if (typeof t === 'bigint' && (t < -(2n ** 63n) || t >= 2n ** 63n)) throw fsError(errno.EINVAL, `${what} out of range`);
}

export async function setattr(core: FsCore, ino: number, req: SetAttr): Promise<Attr> {
  if (req.size !== undefined) {
    if (!Number.isSafeInteger(req.size) || req.size < 0) {
      if (typeof req.size === 'number' && req.size > MAX_FILE_SIZE) throw fsError(errno.EFBIG);
      throw fsError(errno.EINVAL, `bad size ${req.size}`);
    }
  }
  for (const id of [req.uid, req.gid]) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)) throw fsError(errno.EINVAL, `bad id ${id}`);
  }
  checkTime(req.atimeNs, 'atime');
  checkTime(req.mtimeNs, 'mtime');
  checkTime(req.ctimeNs, 'ctime');
  return core.locks.run(ino, async () => {
    const rec = await core.inode(ino);
    // notify_change: nothing changes on an immutable inode; an append-only one keeps its owner,
    // mode, size and explicitly set times (setting them to now is allowed).
    const explicitTime = typeof req.atimeNs === 'bigint' || typeof req.mtimeNs === 'bigint' || req.ctimeNs !== undefined;
    const fixed = req.mode !== undefined || req.uid !== undefined || req.gid !== undefined || req.size !== undefined;
    if (isImmutable(rec) || (isAppendOnly(rec) && (fixed || explicitTime))) throw fsError(errno.EPERM);
    const next = { ...rec };
    const now = core.now();
    const ops: MetaOp[] = [];
    if (req.size !== undefined) {
      if (isDir(rec.mode)) throw fsError(errno.EISDIR);
      if (!isReg(rec.mode)) throw fsError(errno.EINVAL, 'truncate of a special file');
      await truncateData(core, rec, req.size);
      next.size = req.size;
      next.mtimeNs = now;
    }
    if (req.uid !== undefined || req.gid !== undefined) {
      if (req.uid !== undefined) next.uid = req.uid;
      if (req.gid !== undefined) next.gid = req.gid;
      if (!isDir(rec.mode) && req.mode === undefined) {
        next.mode &= ~S_ISUID;
        if (next.mode & S_IXGRP) next.mode &= ~S_ISGID;
      }
    }
    if (req.mode !== undefined && !isLnk(rec.mode)) {
      next.mode = (rec.mode & S_IFMT) | (req.mode & S_IALLUGO);
      const v = await core.meta.getXattr(ino, XATTR_NAME_POSIX_ACL_ACCESS);
      const acl = v ? decodeAcl(v) : null;
      if (acl) ops.push({ op: 'setXattr', ino, name: XATTR_NAME_POSIX_ACL_ACCESS, value: encodeAcl(aclChmod(acl, next.mode)) });
    }
    if (req.atimeNs !== undefined) next.atimeNs = req.atimeNs === 'now' ? now : req.atimeNs;
    if (req.mtimeNs !== undefined) next.mtimeNs = req.mtimeNs === 'now' ? now : req.mtimeNs;
    next.ctimeNs = req.ctimeNs ?? now;
    await core.putInodes([next], ops);
    return core.toAttr(next);
  });
}

export async function ioctl(core: FsCore, ino: number, cmd: number, arg: Buffer): Promise<Buffer> {
  switch (cmd >>> 0) {
    case FS_IOC_GETFLAGS:
    case FS_IOC32_GETFLAGS: {
      const rec = await core.inode(ino);
      const out = Buffer.alloc(4);
      out.writeUInt32LE(rec.flags >>> 0, 0);
      return out;
    }
    case FS_IOC_SETFLAGS:
    case FS_IOC32_SETFLAGS: {
      if (arg.length < 4) throw fsError(errno.EINVAL, 'FS_IOC_SETFLAGS needs a 4-byte argument');
      const flags = arg.readUInt32LE(0);
      await core.locks.run(ino, async () => {
        const rec = await core.inode(ino);
        await core.putInodes([{ ...rec, flags, ctimeNs: core.now() }]);
      });
      return Buffer.alloc(0);
    }
    default:
      throw fsError(errno.ENOTTY);
  }
}
