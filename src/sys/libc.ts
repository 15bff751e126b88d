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
};
void timespec;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v as number, k]));

/** A path as libc wants it: raw bytes when the caller carries byte paths, else the UTF-8 string. */
type CPath = string | Buffer;

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
