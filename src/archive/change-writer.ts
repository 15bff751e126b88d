/**
 * Writing a list of changes as a layer tar byte for byte as containerd's walking differ writes
 * it (its archive.ChangeWriter over Go's archive/tar), so that a diff made here has the diff id
 * the walking differ would give the same container:
 * - headers as Go's FileInfoHeader without name lookups: permission and set-id bits only in the
 *   mode, numeric owners, no user or group names, mtime cut to the second (and capped at the
 *   source date epoch when one is given), format PAX; security.capability is the only xattr;
 * - a deletion is an empty regular file `.wh.<name>`, mode 0, owned by 0:0, with the moment the
 *   diff started (or the source date epoch) as its mtime, rounded to the second: Go's writer
 *   rounds, and drops atime and ctime, for a header that names no format;
 * - before any entry, its parent directories that are not in the tar yet (never the root);
 * - the first path of a multiply linked inode carries the data, later ones are hardlinks to it,
 *   and unmodified paths of that inode become hardlinks once a changed path brings it in.
 */
import fs from 'node:fs';
import { AT_FDCWD, lgetxattr, lstatAt, type LinkStat, type NsTime } from '../sys/libc';
import { CAPABILITY_XATTR } from './capability';
import { ByteRoot, baseOf, joinRel, parentOf } from './entry-path';
import { fileData } from './file-data';
import { entryTypeOf } from './file-type';
import type { HeaderFields } from './tar/entry';
import { TarWriter } from './tar/writer';
import type { UpperChange } from './upper-changes';
import { WHITEOUT_PREFIX } from './whiteout';

const S_IFMT = 0o170000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;

export interface ChangeWriterOptions {
  /** the time deletions get: when the diff started, or the source date epoch */
  whiteoutTime: NsTime;
  /** with a source date epoch, no mtime is written later than it */
  mtimeBound?: NsTime;
}

const later = (a: NsTime, b: NsTime) => a.sec > b.sec || (a.sec === b.sec && a.nsec > b.nsec);

export class ChangeWriter {
  readonly writer = new TarWriter();
  readonly #root: ByteRoot;
  readonly #opts: ChangeWriterOptions;
  /** directories already in the tar, without their trailing slash */
  readonly #dirs = new Set<string>();
  /** the tar name holding each multiply linked inode's data */
  readonly #inodeSource = new Map<bigint, string>();
  /** unmodified names of an inode not in the tar yet, to link once it comes */
  readonly #inodeWaiting = new Map<bigint, string[]>();

  /** `upperDir` is where the changed files are read from. */
  constructor(upperDir: string, opts: ChangeWriterOptions) {
    this.#root = new ByteRoot(upperDir);
    this.#opts = opts;
  }

  /** change writes one change, yielding output buffers as they fill. */
  *change(c: UpperChange): Generator<Buffer> {
    if (c.kind === 'delete') {
      const t = this.#opts.whiteoutTime;
      const mtimeSec = t.sec + (t.nsec >= 500_000_000 ? 1 : 0);
      const h: HeaderFields = { name: joinRel(parentOf(c.rel), WHITEOUT_PREFIX + baseOf(c.rel)), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeSec };
      yield* this.#withParents(h);
      this.writer.header(h);
      return;
    }
    yield* this.#present(c.kind === 'unmodified', c.rel, c.abs!, c.stat!);
  }

  /** finish ends the archive and yields what is left. */
  *finish(): Generator<Buffer> {
    this.writer.finish();
    yield* this.writer.takeFilled();
    if (this.writer.pendingBytes > 0) yield this.writer.take();
  }

  *#present(unmodified: boolean, rel: string, abs: Buffer, st: LinkStat): Generator<Buffer> {
    const type = entryTypeOf(st.mode);
    if (!type) return; // sockets are not archived
    let mtime: NsTime = { sec: st.mtimeSec, nsec: st.mtimeNsec };
    if (this.#opts.mtimeBound && later(mtime, this.#opts.mtimeBound)) mtime = this.#opts.mtimeBound;
    const h: HeaderFields = {
      name: type === 'dir' ? `${rel}/` : rel,
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === 'file' ? st.size : 0,
      mtimeSec: mtime.sec,
    };
    if (type === 'symlink') h.linkname = fs.readlinkSync(abs, 'latin1');
    // Go fills the device numbers whenever the mode shares a bit with S_IFBLK or S_IFCHR.
    if ((st.mode & S_IFMT & (S_IFBLK | S_IFCHR)) !== 0) {
      h.devmajor = st.rdevMajor;
      h.devminor = st.rdevMinor;
    }
    let waiting: string[] | undefined;
    if (type !== 'dir' && st.nlink > 1) {
      const source = this.#inodeSource.get(st.ino);
      if (source !== undefined) {
        Object.assign(h, { type: 'hardlink', linkname: source, size: 0 });
      } else if (unmodified) {
        this.#inodeWaiting.set(st.ino, [...(this.#inodeWaiting.get(st.ino) ?? []), h.name]);
        return;
      } else {
        this.#inodeSource.set(st.ino, h.name);
        waiting = this.#inodeWaiting.get(st.ino);
        this.#inodeWaiting.delete(st.ino);
      }
    } else if (unmodified) return;
    const cap = lgetxattr(abs, CAPABILITY_XATTR);
    if (cap && cap.length > 0) h.xattrs = new Map([[CAPABILITY_XATTR, cap]]);
    yield* this.#withParents(h);
    this.writer.header(h);
    if (h.type === 'file' && h.size > 0) {
      const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        yield* fileData(this.writer, fd, h.size);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const name of waiting ?? []) {
      const link: HeaderFields = { ...h, name, type: 'hardlink', linkname: h.name, size: 0 };
      yield* this.#withParents(link);
      this.writer.header(link);
    }
    yield* this.writer.takeFilled();
  }

  /** withParents writes the parent directories of `h` that the tar does not hold yet, then records `h` if it is one. */
  *#withParents(h: HeaderFields): Generator<Buffer> {
    const name = h.name.replace(/\/+$/, '');
    const parent = parentOf(name);
    if (parent !== '' && !this.#dirs.has(parent)) {
      this.#dirs.add(parent);
      const abs = this.#root.path(parent);
      yield* this.#present(false, parent, abs, lstatAt(AT_FDCWD, abs));
    }
    if (h.type === 'dir') this.#dirs.add(name);
  }
}
