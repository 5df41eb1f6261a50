// Directories and names: lookup, create (all node types), hard links, unlink/rmdir, rename
// (NOREPLACE, EXCHANGE, loop detection), readdir with stable cookies, readlink. Errnos follow
// Linux (fs/namei.c order of checks). No permission checks: the kernel enforces them from mode
// and ACL xattrs (FUSE default_permissions + FUSE_POSIX_ACL; zuf.ko the same).
import type { DentryCheck, InodeRecord, MetaOp } from '../backends/types.js';
import { aclCreate, decodeAcl, encodeAcl, XATTR_NAME_POSIX_ACL_ACCESS, XATTR_NAME_POSIX_ACL_DEFAULT } from './acl.js';
import {
  checkName,
  DIR_SIZE,
  DOTDOT,
  DOTDOT_COOKIE,
  FsCore,
  orphanName,
  PATH_MAX,
  RESERVED_DIR,
  Retry,
  ROOT_INO,
} from './core.js';
import { errno, fsError } from './errors.js';
import { checkDirAdd, checkDirRemove, checkNotPinned, FS_APPEND_FL, FS_IMMUTABLE_FL, isImmutable } from './inode-flags.js';
import {
  isDir,
  isValidType,
  S_IALLUGO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_ISGID,
} from './mode.js';
import type { Attr, Caller, DirentOut, NewInode } from './operations.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from './operations.js';

const RENAME_WHITEOUT = 4;

export async function lookup(core: FsCore, dir: number, name: string): Promise<Attr> {
  const d = await core.dirInode(dir);
  if (name === '.') return core.toAttr(d);
  if (name === DOTDOT) return core.toAttr(await core.inode(await core.parentOf(dir)));
  checkName(name);
  const ino = await core.meta.lookup(dir, name);
  if (ino === undefined) throw fsError(errno.ENOENT);
  const r = await core.findInode(ino);
  if (!r) throw fsError(errno.ENOENT, `entry ${name} points at missing inode ${ino}`);
  return core.toAttr(r);
}

export async function readlink(core: FsCore, ino: number): Promise<string> {
  const r = await core.inode(ino);
  if ((r.mode & S_IFMT) !== S_IFLNK || r.target === undefined) throw fsError(errno.EINVAL);
  return r.target;
}

/** Mode, gid and ACLs of a new inode, from the request, the parent and the caller. */
async function initialOwnership(
  core: FsCore,
  caller: Caller,
  parent: InodeRecord,
  type: number,
  reqMode: number,
): Promise<{ mode: number; gid: number; ops: (ino: number) => MetaOp[]; defaultAcl: Buffer | null }> {
  let perms = reqMode & S_IALLUGO;
  let access: Buffer | null = null;
  let dflt: Buffer | null = null;
  const directory = type === S_IFDIR;
  if (type === S_IFLNK) {
    perms = 0o777;
  } else {
    const pdef = await core.defaultAcl(parent.ino);
    let parsed: ReturnType<typeof decodeAcl> = null;
    try {
      parsed = pdef ? decodeAcl(pdef) : null;
    } catch (err) {
      // A damaged stored ACL must not make the directory unusable: create as if it had none.
      core.log?.warn({ dir: parent.ino, err }, 'ignoring an invalid default ACL');
    }
    if (parsed) {
      const r = aclCreate(parsed, perms, directory);
      perms = r.mode;
      access = r.access ? encodeAcl(r.access) : null;
      dflt = r.default ? encodeAcl(r.default) : null;
    } else {
      // FUSE_POSIX_ACL makes the kernel leave the umask to us (FUSE_DONT_MASK).
      perms &= ~(caller.umask & 0o777);
    }
  }
  let gid = caller.gid;
  // Stripping S_ISGID from a file created by someone outside the group is the kernel's job
  // (vfs_prepare_mode since Linux 6.0): only it knows the caller's supplementary groups.
  if (parent.mode & S_ISGID) {
    gid = parent.gid;
    if (directory) perms |= S_ISGID;
  }
  const ops = (ino: number): MetaOp[] => {
    const out: MetaOp[] = [];
    if (access) out.push({ op: 'setXattr', ino, name: XATTR_NAME_POSIX_ACL_ACCESS, value: access });
    if (dflt) out.push({ op: 'setXattr', ino, name: XATTR_NAME_POSIX_ACL_DEFAULT, value: dflt });
    return out;
  };
  return { mode: type | perms, gid, ops, defaultAcl: dflt };
}

export async function createNode(core: FsCore, caller: Caller, dir: number, name: string, req: NewInode): Promise<Attr> {
  checkName(name);
  if (name === '.' || name === DOTDOT) throw fsError(errno.EEXIST);
  const type = req.mode & S_IFMT || S_IFREG;
  if (!isValidType(type)) throw fsError(errno.EINVAL, `bad file type ${type.toString(8)}`);
  let target: string | undefined;
  if (type === S_IFLNK) {
    if (req.symlink === undefined) throw fsError(errno.EINVAL, 'symlink without target');
    if (req.symlink.length === 0) throw fsError(errno.ENOENT, 'empty symlink target');
    if (Buffer.byteLength(req.symlink) >= PATH_MAX) throw fsError(errno.ENAMETOOLONG);
    target = req.symlink;
  }
  const rdev = type === S_IFCHR || type === S_IFBLK ? (req.rdev ?? 0) : 0;

  return core.locks.run(dir, () =>
    core.retrying<Attr>('create', async (attempt) => {
      const p = await core.dirInode(dir, type === S_IFDIR);
      if (p.nlink === 0) throw fsError(errno.ENOENT, 'directory was removed');
      // A taken name is EEXIST before the immutable directory is EPERM (filename_create first).
      const refused = isImmutable(p);
      if ((attempt > 0 || refused) && (await core.meta.lookup(dir, name)) !== undefined) throw fsError(errno.EEXIST);
      if (refused) checkDirAdd(p);
      const own = await initialOwnership(core, caller, p, type, req.mode);
      const ino = await core.ids.take();
      const cookie = await core.ids.take();
      const now = core.now();
      const directory = type === S_IFDIR;
      const rec: InodeRecord = {
        ino,
        mode: own.mode,
        uid: caller.uid,
        gid: own.gid,
        nlink: directory ? 2 : 1,
        size: directory ? DIR_SIZE : target !== undefined ? Buffer.byteLength(target) : 0,
        rdev,
        atimeNs: now,
        mtimeNs: now,
        ctimeNs: now,
        btimeNs: now,
        flags: 0,
        generation: 0,
      };
      if (target !== undefined) rec.target = target;
      const parent: InodeRecord = { ...p, nlink: p.nlink + (directory ? 1 : 0), mtimeNs: now, ctimeNs: now };
      const ops: MetaOp[] = [{ op: 'putDentry', parent: dir, name, ino, cookie }, ...own.ops(ino)];
      if (directory) ops.push({ op: 'putDentry', parent: ino, name: DOTDOT, ino: dir, cookie: DOTDOT_COOKIE });
      const checks = [{ parent: dir, name, ino: null }, await liveDirCheck(core, dir)];
      const ok = await core.commit(checks, ops, [rec, parent]);
      if (!ok) return Retry.it;
      if (directory) {
        core.cache.setParent(ino, dir);
        core.setDefaultAclCache(ino, own.defaultAcl);
      } else if (type === S_IFREG) {
        core.chunkMap.set(ino, []);
      }
      return core.toAttr(rec);
    }),
  );
}

export async function link(core: FsCore, dir: number, name: string, ino: number): Promise<Attr> {
  checkName(name);
  if (name === '.' || name === DOTDOT) throw fsError(errno.EEXIST);
  return core.locks.runMany([dir, ino], () =>
    core.retrying<Attr>('link', async (attempt) => {
      const p = await core.dirInode(dir);
      if (p.nlink === 0) throw fsError(errno.ENOENT, 'directory was removed');
      const t = core.revalidate ? await core.freshInode(ino) : await core.inode(ino);
      // The kernel finds a taken name before it looks at the source (filename_create, vfs_link).
      let refuse: number | undefined;
      if (isDir(t.mode) || isImmutable(p) || t.flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) refuse = errno.EPERM;
      else if (t.nlink === 0) refuse = errno.ENOENT;
      else if (t.nlink >= 0x7fffffff) refuse = errno.EMLINK;
      if ((refuse !== undefined || attempt > 0) && (await core.meta.lookup(dir, name)) !== undefined) {
        throw fsError(errno.EEXIST);
      }
      if (refuse !== undefined) throw fsError(refuse);
      const cookie = await core.ids.take();
      const now = core.now();
      const target: InodeRecord = { ...t, nlink: t.nlink + 1, ctimeNs: now };
      const parent: InodeRecord = { ...p, mtimeNs: now, ctimeNs: now };
      const ok = await core.commit(
        [{ parent: dir, name, ino: null }, await liveDirCheck(core, dir)],
        [{ op: 'putDentry', parent: dir, name, ino, cookie }],
        [target, parent],
      );
      if (!ok) return Retry.it;
      return core.toAttr(target);
    }),
  );
}

/** A check that `dir` is still linked where this gateway thinks (rmdir and rename change its
 * ".."), so that no entry is ever added to a directory another gateway removed. */
async function liveDirCheck(core: FsCore, dir: number): Promise<DentryCheck> {
  return { parent: dir, name: DOTDOT, ino: await core.parentOf(dir) };
}

async function isEmptyDir(core: FsCore, dir: number): Promise<boolean> {
  return (await core.meta.readdir(dir, 0, 1)).length === 0;
}

/** Ops that record `rec` as unlinked: it stays (readable while open) until evict frees it. */
function orphanOps(rec: InodeRecord): MetaOp[] {
  const ops: MetaOp[] = [
    { op: 'putDentry', parent: RESERVED_DIR, name: orphanName(rec.ino), ino: rec.ino, cookie: rec.ino },
  ];
  if (isDir(rec.mode)) ops.push({ op: 'delDentry', parent: rec.ino, name: DOTDOT });
  return ops;
}

export async function removeEntry(core: FsCore, dir: number, name: string, wantDir: boolean): Promise<void> {
  if (name === '.') throw fsError(wantDir ? errno.EINVAL : errno.EISDIR);
  if (name === DOTDOT) throw fsError(wantDir ? errno.ENOTEMPTY : errno.EISDIR);
  checkName(name);
  await core.retrying<void>('remove', async (attempt) => {
    await core.dirInode(dir);
    const childIno = await core.meta.lookup(dir, name);
    if (childIno === undefined) throw fsError(errno.ENOENT);
    return core.locks.runMany([dir, childIno], async () => {
      let c = attempt > 0 ? await core.meta.getInode(childIno) : await core.findInode(childIno);
      // Dropping what this gateway believes is the last link: make sure no other gateway added
      // one meanwhile, or the inode would be freed under a live name.
      if (c && !isDir(c.mode) && c.nlink <= 1 && core.revalidate) c = await core.meta.getInode(childIno);
      if (!c) {
        core.invalidate(childIno);
        if (attempt === 0) return Retry.it;
        // An entry whose inode is gone (a crash between two stores): let it be removed.
        core.log?.warn({ dir, name, ino: childIno }, 'removing an entry that points at no inode');
        const p = await core.dirInode(dir);
        const ok = await core.commit(
          [{ parent: dir, name, ino: childIno }],
          [{ op: 'delDentry', parent: dir, name }],
          [{ ...p, mtimeNs: core.now(), ctimeNs: core.now() }],
        );
        return ok ? undefined : Retry.it;
      }
      core.cache.set(c);
      const childIsDir = isDir(c.mode);
      const removable = childIsDir === wantDir;
      const [p, empty] = await Promise.all([
        core.dirInode(dir, childIsDir),
        childIsDir && removable ? isEmptyDir(core, childIno) : Promise.resolve(true),
      ]);
      checkDirRemove(p); // may_delete: EPERM before the type checks
      checkNotPinned(c);
      if (wantDir && !childIsDir) throw fsError(errno.ENOTDIR);
      if (!wantDir && childIsDir) throw fsError(errno.EISDIR);
      if (!empty) throw fsError(errno.ENOTEMPTY);
      const now = core.now();
      const child: InodeRecord = { ...c, nlink: childIsDir ? 0 : c.nlink - 1, ctimeNs: now };
      const parent: InodeRecord = { ...p, nlink: p.nlink - (childIsDir ? 1 : 0), mtimeNs: now, ctimeNs: now };
      const ops: MetaOp[] = [{ op: 'delDentry', parent: dir, name }];
      if (child.nlink === 0) ops.push(...orphanOps(child));
      const ok = await core.commit([{ parent: dir, name, ino: childIno }], ops, [child, parent]);
      return ok ? undefined : Retry.it;
    });
  });
}

/** The ".." entries from `dir` up to the root: [directory, parent] pairs. */
async function ancestry(core: FsCore, dir: number): Promise<[number, number][]> {
  const chain: [number, number][] = [];
  let cur = dir;
  for (let depth = 0; depth < 100_000; depth++) {
    if (cur === ROOT_INO) return chain;
    const p = await core.parentOf(cur);
    chain.push([cur, p]);
    cur = p;
  }
  throw fsError(errno.ELOOP, 'directory ancestry does not reach the root');
}

/** True if `dir` is `anc` or lies below it. Walks ".." up to the root. */
async function isInSubtree(core: FsCore, dir: number, anc: number): Promise<boolean> {
  if (dir === anc) return true;
  return (await ancestry(core, dir)).some(([, p]) => p === anc);
}

/** Loop detection for moving directory `moved` into `target`: EINVAL if target lies at or below
 * it; otherwise the checks that keep target's ancestry unchanged until the commit, so that two
 * gateways moving directories into each other cannot both succeed and cut a cycle loose. */
async function moveChecks(core: FsCore, moved: number, target: number): Promise<DentryCheck[]> {
  if (target === moved) throw fsError(errno.EINVAL);
  let chain = await ancestry(core, target);
  if (chain.some(([, p]) => p === moved) && core.revalidate) {
    // Cached parents may be stale (another gateway moved something): be sure before refusing.
    for (const [d] of chain) core.invalidate(d);
    chain = await ancestry(core, target);
  }
  if (chain.some(([, p]) => p === moved)) throw fsError(errno.EINVAL);
  return chain.map(([d, p]) => ({ parent: d, name: DOTDOT, ino: p }));
}

export async function rename(
  core: FsCore,
  oldDir: number,
  oldName: string,
  newDir: number,
  newName: string,
  flags: number,
): Promise<void> {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw fsError(errno.EINVAL, 'unknown rename flags');
  if (flags & RENAME_WHITEOUT) throw fsError(errno.EINVAL, 'RENAME_WHITEOUT is not supported');
  if (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE) throw fsError(errno.EINVAL);
  const exchange = (flags & RENAME_EXCHANGE) !== 0;
  for (const n of [oldName, newName]) {
    if (n === '.' || n === DOTDOT) throw fsError(errno.EBUSY);
    checkName(n);
  }
  await core.renameLock.run(() =>
    core.retrying<void>('rename', async () => {
      await core.dirInode(oldDir);
      await core.dirInode(newDir);
      // Both names in one round trip's time; the source is judged first, as the kernel does.
      const [srcIno, dstIno] = await Promise.all([core.meta.lookup(oldDir, oldName), core.meta.lookup(newDir, newName)]);
      if (srcIno === undefined) throw fsError(errno.ENOENT);
      if (flags & RENAME_NOREPLACE && dstIno !== undefined) throw fsError(errno.EEXIST);
      if (exchange && dstIno === undefined) throw fsError(errno.ENOENT);
      const lockSet = [oldDir, newDir, srcIno];
      if (dstIno !== undefined) lockSet.push(dstIno);
      return core.locks.runMany(lockSet, () => renameLocked(core, oldDir, oldName, newDir, newName, exchange, srcIno, dstIno));
    }),
  );
}

async function renameLocked(
  core: FsCore,
  oldDir: number,
  oldName: string,
  newDir: number,
  newName: string,
  exchange: boolean,
  srcIno: number,
  dstIno: number | undefined,
): Promise<void | Retry> {
  const src0 = await core.findInode(srcIno);
  let dst0 = dstIno === undefined ? undefined : await core.findInode(dstIno);
  if (dst0 && !exchange && !isDir(dst0.mode) && dst0.nlink <= 1 && core.revalidate) {
    dst0 = await core.freshInode(dst0.ino); // see removeEntry: never free under a live name
  }
  if (!src0 || (dstIno !== undefined && !dst0)) {
    core.invalidate(oldDir);
    core.invalidate(newDir);
    return Retry.it;
  }
  const srcIsDir = isDir(src0.mode);
  const dstIsDir = dst0 !== undefined && isDir(dst0.mode);
  const dirsMove = srcIsDir || dstIsDir;
  const newParent = await core.dirInode(newDir, dirsMove);
  const oldParent = oldDir === newDir ? newParent : await core.dirInode(oldDir, dirsMove);
  if (newParent.nlink === 0 || oldParent.nlink === 0) throw fsError(errno.ENOENT, 'directory was removed');

  // Moving a directory below itself; for an exchange the other side too.
  const ancestryChecks: DentryCheck[] = [];
  if (srcIsDir && oldDir !== newDir) ancestryChecks.push(...(await moveChecks(core, srcIno, newDir)));
  if (exchange && dstIsDir && oldDir !== newDir) ancestryChecks.push(...(await moveChecks(core, dstIno!, oldDir)));
  // The target is an ancestor of the source: it cannot be empty.
  if (!exchange && dstIsDir && dstIno !== srcIno && (await isInSubtree(core, oldDir, dstIno!))) {
    throw fsError(errno.ENOTEMPTY);
  }
  // Two names of one inode (or one name onto itself): POSIX says do nothing.
  if (dstIno === srcIno) return;
  checkDirRemove(oldParent);
  checkDirAdd(newParent);
  checkNotPinned(src0);
  if (dst0) {
    checkDirRemove(newParent);
    checkNotPinned(dst0);
  }
  if (exchange) checkDirAdd(oldParent);
  if (!exchange && dst0) {
    if (dstIsDir && !srcIsDir) throw fsError(errno.EISDIR);
    if (!dstIsDir && srcIsDir) throw fsError(errno.ENOTDIR);
    if (dstIsDir && !(await isEmptyDir(core, dstIno!))) throw fsError(errno.ENOTEMPTY);
  }

  const now = core.now();
  const recs = new Map<number, InodeRecord>();
  const get = (r: InodeRecord): InodeRecord => {
    let c = recs.get(r.ino);
    if (!c) {
      c = { ...r };
      recs.set(r.ino, c);
    }
    return c;
  };
  const ops: MetaOp[] = [];
  const checks: DentryCheck[] = [
    { parent: oldDir, name: oldName, ino: srcIno },
    { parent: newDir, name: newName, ino: dstIno ?? null },
    ...ancestryChecks,
  ];
  if (oldDir !== newDir && ancestryChecks.length === 0) checks.push(await liveDirCheck(core, newDir));
  const op = get(oldParent);
  op.mtimeNs = now;
  op.ctimeNs = now;
  const np = get(newParent);
  np.mtimeNs = now;
  np.ctimeNs = now;
  get(src0).ctimeNs = now;

  if (exchange) {
    const dst = get(dst0!);
    dst.ctimeNs = now;
    ops.push({ op: 'putDentry', parent: newDir, name: newName, ino: srcIno, cookie: await core.ids.take() });
    ops.push({ op: 'putDentry', parent: oldDir, name: oldName, ino: dstIno!, cookie: await core.ids.take() });
    if (oldDir !== newDir) {
      const delta = (srcIsDir ? 1 : 0) - (dstIsDir ? 1 : 0);
      get(oldParent).nlink -= delta;
      get(newParent).nlink += delta;
      if (srcIsDir) ops.push({ op: 'putDentry', parent: srcIno, name: DOTDOT, ino: newDir, cookie: DOTDOT_COOKIE });
      if (dstIsDir) ops.push({ op: 'putDentry', parent: dstIno!, name: DOTDOT, ino: oldDir, cookie: DOTDOT_COOKIE });
    }
  } else {
    ops.push({ op: 'delDentry', parent: oldDir, name: oldName });
    ops.push({ op: 'putDentry', parent: newDir, name: newName, ino: srcIno, cookie: await core.ids.take() });
    if (dst0) {
      const dst = get(dst0);
      dst.ctimeNs = now;
      dst.nlink = dstIsDir ? 0 : dst.nlink - 1;
      if (dstIsDir) get(newParent).nlink -= 1;
      if (dst.nlink === 0) ops.push(...orphanOps(dst));
    }
    if (srcIsDir && oldDir !== newDir) {
      get(oldParent).nlink -= 1;
      get(newParent).nlink += 1;
      ops.push({ op: 'putDentry', parent: srcIno, name: DOTDOT, ino: newDir, cookie: DOTDOT_COOKIE });
    }
  }
  const ok = await core.commit(checks, ops, [...recs.values()]);
  if (!ok) return Retry.it;
  if (oldDir !== newDir) {
    if (srcIsDir) core.cache.setParent(srcIno, newDir);
    if (exchange && dstIsDir) core.cache.setParent(dstIno!, oldDir);
  }
}

export async function readdir(
  core: FsCore,
  dir: number,
  cookie: number,
  maxEntries: number,
  plus: boolean,
): Promise<DirentOut[]> {
  if (!Number.isSafeInteger(cookie) || cookie < 0) throw fsError(errno.EINVAL, `bad readdir cookie ${cookie}`);
  const d = await core.dirInode(dir);
  const out: DirentOut[] = [];
  if (maxEntries <= 0) return out;
  if (cookie === 0) out.push({ name: '.', ino: dir, type: S_IFDIR, next: 1, ...(plus ? { attr: core.toAttr(d) } : {}) });
  if (cookie <= 1 && out.length < maxEntries) {
    const pino = d.nlink === 0 ? dir : await core.parentOf(dir);
    const e: DirentOut = { name: DOTDOT, ino: pino, type: S_IFDIR, next: 2 };
    if (plus) {
      const pr = await core.findInode(pino);
      if (pr) e.attr = core.toAttr(pr);
    }
    out.push(e);
  }
  if (out.length >= maxEntries) return out;
  // Entry cookies are shifted by 2 so they never collide with those of "." and "..".
  const after = cookie <= 2 ? 0 : cookie - 2;
  const entries = await core.meta.readdir(dir, after, maxEntries - out.length);
  const recs = await Promise.all(entries.map((e) => core.findInode(e.ino)));
  entries.forEach((e, i) => {
    // An inode removed meanwhile still gets its entry (type unknown, no attr): skipping it could
    // make a page look empty, which a reader takes for the end of the directory.
    const r = recs[i];
    const de: DirentOut = { name: e.name, ino: e.ino, type: r ? r.mode & S_IFMT : 0, next: e.cookie + 2 };
    if (plus && r) de.attr = core.toAttr(r);
    out.push(de);
  });
  return out;
}
