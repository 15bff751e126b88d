/**
 * The few syscalls Node's fs lacks, reached through koffi (a maintained FFI with prebuilt
 * binaries): extended attributes on links, mknod, nanosecond timestamps and raw directory types.
 * Every function here throws an ErrnoException-shaped error (with `code`) like Node's fs does.
 */
import koffi from 'koffi';
import os from 'node:os';

const libc = koffi.load('libc.so.6');

const timespec = koffi.struct('strata_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });

const c = {
  lsetxattr: libc.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
  lgetxattr: libc.func('int64_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
  llistxattr: libc.func('int64_t llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
  lremovexattr: libc.func('int lremovexattr(const char *path, const char *name)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
  utimensat: libc.func('int utimensat(int dirfd, const char *path, const strata_timespec *times, int flags)'),
  opendir: libc.func('void *opendir(const char *name)'),
  readdir64: libc.func('void *readdir64(void *dirp)'),
  closedir: libc.func('int closedir(void *dirp)'),
  statx: libc.func('int statx(int dirfd, const char *path, int flags, uint32_t mask, uint8_t *buf)'),
  openat: libc.func('int openat(int dirfd, const char *path, int flags)'),
  fgetxattr: libc.func('int64_t fgetxattr(int fd, const char *name, uint8_t *value, size_t size)'),
};
void timespec;

/** AT_FDCWD as the `dirfd` of the *At functions makes them take `path` as given (absolute or from the cwd). */
export const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v as number, k]));

/** A path as libc wants it: raw bytes when the caller carries byte paths, else the UTF-8 string. */
export type CPath = string | Buffer;

function cstr(p: CPath): string | Buffer {
  return typeof p === 'string' ? p : Buffer.concat([p, Buffer.from([0])]);
}

function fail(syscall: string, path: CPath): never {
  const errno = koffi.errno();
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const shown = typeof path === 'string' ? path : path.toString('utf8');
  const err = new Error(`${code}: ${syscall} '${shown}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  err.path = shown;
  throw err;
}

/** lsetxattr sets one extended attribute on `path` without following a final symlink. */
export function lsetxattr(path: CPath, name: string, value: Buffer): void {
  if (c.lsetxattr(cstr(path), name, value, value.length, 0) !== 0) fail('lsetxattr', path);
}

/** lgetxattr returns the attribute's bytes, or undefined when it is absent (ENODATA). */
export function lgetxattr(path: CPath, name: string): Buffer | undefined {
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(c.lgetxattr(cstr(path), name, buf, size));
    if (n >= 0) return buf.subarray(0, n);
    const errno = koffi.errno();
    if (errno === os.constants.errno.ENODATA) return undefined;
    if (errno === os.constants.errno.ENOTSUP) return undefined;
    if (errno !== os.constants.errno.ERANGE || size >= 1 << 20) fail('lgetxattr', path);
    size *= 16;
  }
}

/** llistxattr returns the names of all extended attributes of `path` (not following links). */
export function llistxattr(path: CPath): string[] {
  let size = 1024;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = Number(c.llistxattr(cstr(path), buf, size));
    if (n >= 0) return buf.subarray(0, n).toString('latin1').split('\0').filter((s) => s.length > 0);
    const errno = koffi.errno();
    if (errno === os.constants.errno.ENOTSUP) return [];
    if (errno !== os.constants.errno.ERANGE || size >= 1 << 20) fail('llistxattr', path);
    size *= 16;
  }
}

/** lremovexattr removes an attribute; a missing one is not an error. */
export function lremovexattr(path: CPath, name: string): void {
  if (c.lremovexattr(cstr(path), name) !== 0 && koffi.errno() !== os.constants.errno.ENODATA) fail('lremovexattr', path);
}

/** mknod creates a device node or fifo; `mode` includes the S_IF* type bits. */
export function mknod(path: CPath, mode: number, major: number, minor: number): void {
  if (c.mknod(cstr(path), mode >>> 0, makedev(major, minor)) !== 0) fail('mknod', path);
}

/** makedev encodes a device number the way glibc does. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** Time with nanosecond precision: whole seconds plus nanoseconds. */
export interface NsTime {
  sec: number;
  nsec: number;
}

/** lutimesNs sets atime and mtime of `path` (not following a final symlink) to the nanosecond. */
export function lutimesNs(path: CPath, atime: NsTime, mtime: NsTime): void {
  const times = [
    { tv_sec: atime.sec, tv_nsec: atime.nsec },
    { tv_sec: mtime.sec, tv_nsec: mtime.nsec },
  ];
  if (c.utimensat(AT_FDCWD, cstr(path), times, AT_SYMLINK_NOFOLLOW) !== 0) fail('utimensat', path);
}

// glibc's struct dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
const DIRENT_TYPE_OFFSET = 18;
const DT_UNKNOWN = 0;

/** dirTypesKnown reports whether readdir on `dir` fills in d_type for every entry (overlay needs it). */
export function dirTypesKnown(dir: string): boolean {
  const handle = c.opendir(dir);
  if (handle === null) fail('opendir', dir);
  try {
    for (;;) {
      const ent = c.readdir64(handle);
      if (ent === null) return true;
      const type = koffi.decode(ent, DIRENT_TYPE_OFFSET, 'uint8_t') as number;
      if (type === DT_UNKNOWN) return false;
    }
  } finally {
    c.closedir(handle);
  }
}

const STATX_BASIC_STATS = 0x7ff;
const O_CLOEXEC = 0o2000000;
// Filled by every statx call and decoded at once; struct statx is 256 bytes.
const statxBuf = Buffer.alloc(256);
// Scratch for fgetxattr: most attributes are absent or small, so one buffer serves every call.
let xattrScratch = Buffer.alloc(256);

/** LinkStat is what lstatAt reports: the fields a tar header needs, exact (no bigint except the inode). */
export interface LinkStat {
  /** st_mode with the S_IF* type bits */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  /** the inode number: bigint because some filesystems use all 64 bits */
  ino: bigint;
  /** mtime in whole seconds, rounded down (also before 1970) */
  mtimeSec: number;
  /** the nanoseconds of the mtime */
  mtimeNsec: number;
  rdevMajor: number;
  rdevMinor: number;
}

/**
 * lstatAt is lstat of `path` relative to the directory open as `dirfd` (statx, not following a
 * final symlink): relative lookups skip the walk from the root that lstat of a full path repeats.
 */
export function lstatAt(dirfd: number, path: CPath): LinkStat {
  if (c.statx(dirfd, cstr(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statxBuf) !== 0) fail('statx', path);
  const b = statxBuf;
  // 64-bit fields as high * 2^32 + low: exact below 2^53, and beyond rounded once, as Number(bigint) is.
  return {
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    mode: b.readUInt16LE(28),
    ino: b.readBigUInt64LE(32),
    size: statxSize(),
    // stx_mtime.tv_sec; tv_nsec is never negative, so tv_sec is already rounded down
    mtimeSec: b.readInt32LE(116) * 2 ** 32 + b.readUInt32LE(112),
    mtimeNsec: b.readUInt32LE(120),
    rdevMajor: b.readUInt32LE(128),
    rdevMinor: b.readUInt32LE(132),
  };
}

// stx_size of the last statx, as a number (exact up to 2^53 bytes)
function statxSize(): number {
  return statxBuf.readUInt32LE(44) * 2 ** 32 + statxBuf.readUInt32LE(40);
}

// One name at a time for sizeAt: NAME_MAX is 255 bytes, plus the NUL.
const nameScratch = Buffer.alloc(256);
const STATX_NLINK = 0x4;
const STATX_INO = 0x100;
const STATX_SIZE = 0x200;

/** EntrySize is what counting a directory's size needs of one entry. */
export interface EntrySize {
  size: number;
  /** the inode number, only for a file with more than one link (hardlinks count once) */
  sharedIno?: bigint;
}

/**
 * sizeAt is the lean lstatAt that docker ps -s pays for on every file of a container: the name
 * (one latin1 component) goes through a reused buffer and only size, links and inode are read.
 */
export function sizeAt(dirfd: number, name: string): EntrySize {
  if (name.length >= nameScratch.length || name.includes('\0') || name.includes('/')) throw new TypeError(`not a directory entry name: ${JSON.stringify(name)}`);
  nameScratch[nameScratch.write(name, 0, 'latin1')] = 0;
  if (c.statx(dirfd, nameScratch, AT_SYMLINK_NOFOLLOW, STATX_NLINK | STATX_INO | STATX_SIZE, statxBuf) !== 0) fail('statx', name);
  const size = statxSize();
  return statxBuf.readUInt32LE(16) > 1 ? { size, sharedIno: statxBuf.readBigUInt64LE(32) } : { size };
}

/** openAt opens `path` relative to the directory open as `dirfd`; the fd is close-on-exec, as Node's are. */
export function openAt(dirfd: number, path: CPath, flags: number): number {
  const fd: number = c.openat(dirfd, cstr(path), flags | O_CLOEXEC);
  if (fd < 0) fail('openat', path);
  return fd;
}

/** fgetxattr returns an attribute of the open file `fd`, or undefined when it is absent (ENODATA). */
export function fgetxattr(fd: number, name: string): Buffer | undefined {
  for (;;) {
    const n = Number(c.fgetxattr(fd, name, xattrScratch, xattrScratch.length));
    if (n >= 0) return Buffer.from(xattrScratch.subarray(0, n));
    const errno = koffi.errno();
    if (errno === os.constants.errno.ENODATA) return undefined;
    if (errno === os.constants.errno.ENOTSUP) return undefined;
    if (errno !== os.constants.errno.ERANGE || xattrScratch.length >= 1 << 20) fail('fgetxattr', `fd ${fd}`);
    xattrScratch = Buffer.alloc(xattrScratch.length * 16);
  }
}

// The *At and f* calls below serve extraction, which creates and fills entries relative to an
// open directory or through the file's own fd: no repeated walks from the root, no path copies.
const cAt = {
  openat: libc.func('int openat(int dirfd, const char *path, int flags, ...)'),
  mkdirat: libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
  symlinkat: libc.func('int symlinkat(const char *target, int dirfd, const char *path)'),
  mknodat: libc.func('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
  fchownat: libc.func('int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)'),
  fchmodat: libc.func('int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)'),
  utimensat: libc.func('int utimensat(int dirfd, const char *path, const uint8_t *times, int flags)'),
  futimens: libc.func('int futimens(int fd, const uint8_t *times)'),
  fsetxattr: libc.func('int fsetxattr(int fd, const char *name, const uint8_t *value, size_t size, int flags)'),
};
// Two struct timespec, filled right before each call.
const timesBuf = Buffer.alloc(32);
// Linux's values on x86-64 and arm64 (Node's fs.constants lacks O_PATH).
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;
const O_PATH = 0o10000000;

/** CName is a NUL-terminated byte string, built once per entry and passed to libc as is. */
export type CName = Buffer & { readonly nulTerminated: true };

/** cName encodes a byte-string (latin1) name for the *At functions; like Node's fs, it refuses a NUL inside. */
export function cName(bytes: string): CName {
  if (bytes.includes('\0')) throw new TypeError(`a path or link target contains a NUL byte: ${JSON.stringify(bytes)}`);
  const buf = Buffer.allocUnsafe(bytes.length + 1);
  buf.write(bytes, 0, 'latin1');
  buf[bytes.length] = 0;
  return buf as CName;
}

/** openDirAt opens a directory only as a place to work relative to (O_PATH); a symlink there is refused. */
export function openDirAt(dirfd: number, path: CPath): number {
  return openAt(dirfd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW);
}

// A CName without its NUL, for error messages.
function shown(name: CName): Buffer {
  return name.subarray(0, name.length - 1);
}

/** createAt creates a new regular file (O_CREAT|O_EXCL: EEXIST if anything is there, even a symlink) and returns its fd. */
export function createAt(dirfd: number, name: CName, flags: number, mode: number): number {
  const fd: number = cAt.openat(dirfd, name, flags | O_CREAT | O_EXCL | O_CLOEXEC, 'uint32_t', mode);
  if (fd < 0) fail('openat', shown(name));
  return fd;
}

export function mkdirAt(dirfd: number, name: CName, mode: number): void {
  if (cAt.mkdirat(dirfd, name, mode) !== 0) fail('mkdirat', shown(name));
}

export function symlinkAt(target: CName, dirfd: number, name: CName): void {
  if (cAt.symlinkat(target, dirfd, name) !== 0) fail('symlinkat', shown(name));
}

/** mknodAt creates a device node or fifo; `mode` includes the S_IF* type bits. */
export function mknodAt(dirfd: number, name: CName, mode: number, major: number, minor: number): void {
  if (cAt.mknodat(dirfd, name, mode >>> 0, makedev(major, minor)) !== 0) fail('mknodat', shown(name));
}

/** lchownAt changes the owner of `name` without following a final symlink. */
export function lchownAt(dirfd: number, name: CName, uid: number, gid: number): void {
  if (cAt.fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) !== 0) fail('fchownat', shown(name));
}

/** chmodAt changes the mode of `name`; Linux cannot change a symlink's mode, so never pass one. */
export function chmodAt(dirfd: number, name: CName, mode: number): void {
  if (cAt.fchmodat(dirfd, name, mode, 0) !== 0) fail('fchmodat', shown(name));
}

function fillTimes(atime: NsTime, mtime: NsTime): Buffer {
  writeInt64(timesBuf, 0, atime.sec);
  writeInt64(timesBuf, 8, atime.nsec);
  writeInt64(timesBuf, 16, mtime.sec);
  writeInt64(timesBuf, 24, mtime.nsec);
  return timesBuf;
}

// Exact for every safe integer, negative ones included, without a bigint.
function writeInt64(buf: Buffer, offset: number, value: number): void {
  const high = Math.floor(value / 2 ** 32);
  buf.writeUInt32LE(value - high * 2 ** 32, offset);
  buf.writeInt32LE(high, offset + 4);
}

/** lutimesNsAt is lutimesNs of `name` relative to the directory open as `dirfd`. */
export function lutimesNsAt(dirfd: number, name: CName, atime: NsTime, mtime: NsTime): void {
  if (cAt.utimensat(dirfd, name, fillTimes(atime, mtime), AT_SYMLINK_NOFOLLOW) !== 0) fail('utimensat', shown(name));
}

/** futimesNs sets atime and mtime of the open file `fd` to the nanosecond. */
export function futimesNs(fd: number, atime: NsTime, mtime: NsTime): void {
  if (cAt.futimens(fd, fillTimes(atime, mtime)) !== 0) fail('futimens', `fd ${fd}`);
}

/** fsetxattr sets one extended attribute of the open file `fd`. */
export function fsetxattr(fd: number, name: string, value: Buffer): void {
  if (cAt.fsetxattr(fd, name, value, value.length, 0) !== 0) fail('fsetxattr', `fd ${fd}`);
}

// mount(2) and umount2(2), for the long-lived mount helper (sys/mount-helper.ts) only: the
// server never calls them itself, so a mount that hangs in the kernel cannot stall its event loop.
const cMount = {
  mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
  umount2: libc.func('int umount2(const char *target, int flags)'),
};
/** MNT_DETACH makes umount2 lazy: the mount leaves the tree now and goes once nothing uses it. */
export const MNT_DETACH = 2;

/** mount attaches a filesystem of `fstype` at `target` with the option string `data` (no mount flags). */
export function mount(source: string, target: string, fstype: string, data: string): void {
  if (cMount.mount(source, target, fstype, 0, data) !== 0) fail('mount', target);
}

/** umount2 detaches the filesystem mounted at `target`; `flags` is 0 or MNT_DETACH. */
export function umount2(target: string, flags: number): void {
  if (cMount.umount2(target, flags) !== 0) fail('umount2', target);
}
