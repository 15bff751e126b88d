/**
 * Hostile layer tars that applyTar must refuse, one per way out of the target (GHSA style):
 * `..` names, writes through symlinks planted to the outside, hardlinks out, the layer root
 * replaced, and streams cut short. The extraction tests (root) run each against a scene with a
 * sibling directory beside the target, and the fuzzer starts from them.
 */
import path from 'node:path';
import { InvalidArchiveError, UnsafeArchiveError } from '../../src/errors';
import { fields, packWithTarStream, tarWithOurWriter, type StreamEntry } from './tar-build';

/** Aim is where a hostile tar aims: the sibling beside the target, and a file name to plant in /etc. */
export interface Aim {
  sibling: string;
  etcName: string;
}

export interface HostileTar {
  what: string;
  build(aim: Aim): Promise<Buffer>;
  refusal: typeof UnsafeArchiveError | typeof InvalidArchiveError;
  /** paths outside the target the tar tries to create */
  plants?(aim: Aim): string[];
}

const file = (name: string, content = 'pwned'): StreamEntry => ({ header: { name, type: 'file', mode: 0o644 }, content });
const symlink = (name: string, linkname: string): StreamEntry => ({ header: { name, type: 'symlink', linkname } });
const hardlink = (name: string, linkname: string): StreamEntry => ({ header: { name, type: 'link', linkname } });
const dir = (name: string): StreamEntry => ({ header: { name, type: 'directory', mode: 0o777 } });
const beside = (a: Aim, name: string) => path.join(a.sibling, '..', name);

/** withChecksum rewrites the checksum of a tar's first header block after a byte of it was changed. */
function withChecksum(tar: Buffer): Buffer {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[i]!;
  tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return tar;
}

export const HOSTILE_TARS: HostileTar[] = [
  { what: "'../evil'", build: () => packWithTarStream([file('ok'), file('../evil')]), refusal: UnsafeArchiveError, plants: (a) => [beside(a, 'evil')] },
  { what: "'a/../../evil'", build: () => packWithTarStream([file('a/../../evil')]), refusal: UnsafeArchiveError },
  { what: "'../sibling/sub/file' (overwrite of a neighbour)", build: () => packWithTarStream([file('../sibling/sub/file')]), refusal: UnsafeArchiveError },
  {
    what: 'a write through a symlink to a directory outside (lnk -> sibling, then lnk/pwned)',
    build: (a) => packWithTarStream([symlink('lnk', a.sibling), file('lnk/pwned')]),
    refusal: UnsafeArchiveError,
    plants: (a) => [path.join(a.sibling, 'pwned')],
  },
  {
    what: 'a write through a symlink to /etc (lnk -> /etc, then lnk/<name>)',
    build: (a) => packWithTarStream([symlink('lnk', '/etc'), file(`lnk/${a.etcName}`)]),
    refusal: UnsafeArchiveError,
    plants: (a) => [`/etc/${a.etcName}`],
  },
  {
    what: 'overwriting a file outside through a symlinked parent (lnk -> sibling/sub, then lnk/file)',
    build: (a) => packWithTarStream([symlink('lnk', path.join(a.sibling, 'sub')), file('lnk/file', 'overwritten')]),
    refusal: UnsafeArchiveError,
  },
  { what: 'a write through a chain of two symlinks', build: (a) => packWithTarStream([symlink('b', a.sibling), symlink('a', 'b'), file('a/pwned')]), refusal: UnsafeArchiveError },
  {
    what: 'a write through a symlink to a directory inside that points out (d/up -> ../.., then d/up/x)',
    build: () => packWithTarStream([{ header: { name: 'd', type: 'directory', mode: 0o755 } }, symlink('d/up', '../..'), file('d/up/sibling/pwned')]),
    refusal: UnsafeArchiveError,
  },
  { what: "a write through a symlink to '..'", build: () => packWithTarStream([symlink('up', '..'), file('up/pwned')]), refusal: UnsafeArchiveError, plants: (a) => [beside(a, 'pwned')] },
  { what: 'a directory entry through a symlink (mkdir outside)', build: (a) => packWithTarStream([symlink('lnk', a.sibling), dir('lnk/newdir')]), refusal: UnsafeArchiveError },
  {
    what: 'a whiteout planted through a symlink',
    build: (a) => packWithTarStream([symlink('lnk', path.join(a.sibling, 'sub')), file('lnk/.wh.file', '')]),
    refusal: UnsafeArchiveError,
  },
  { what: 'an opaque marker planted through a symlink', build: (a) => packWithTarStream([symlink('lnk', a.sibling), file('lnk/.wh..wh..opq', '')]), refusal: UnsafeArchiveError },
  { what: "a hardlink with linkname '../outside'", build: () => packWithTarStream([hardlink('h', '../sibling/sub/file')]), refusal: UnsafeArchiveError },
  {
    what: 'a hardlink through a symlinked parent (lnk -> sibling/sub, then h => lnk/file)',
    build: (a) => packWithTarStream([symlink('lnk', path.join(a.sibling, 'sub')), hardlink('h', 'lnk/file'), file('h', 'overwritten')]),
    refusal: UnsafeArchiveError,
  },
  { what: 'a hardlink through a symlink to ..', build: () => packWithTarStream([symlink('up', '..'), hardlink('h', 'up/sibling/sub/file')]), refusal: UnsafeArchiveError },
  { what: 'a write through a hardlink of a symlink', build: (a) => packWithTarStream([symlink('lnk', a.sibling), hardlink('lnk2', 'lnk'), file('lnk2/pwned')]), refusal: UnsafeArchiveError },
  ...(
    [
      ['a regular file', file('./', 'x')],
      ['a symlink', symlink('.', '/')],
      ['a symlink named /', symlink('/', '/etc')],
      ['a hardlink', hardlink('./', 'x')],
    ] as Array<[string, StreamEntry]>
  ).map(([what, entry]): HostileTar => ({ what: `replacing the layer root with ${what}`, build: () => packWithTarStream([file('x', 'x'), entry]), refusal: UnsafeArchiveError })),
  {
    what: 'a stream truncated in the middle of a file',
    build: async () => (await packWithTarStream([file('a', 'x'.repeat(5000))])).subarray(0, 512 + 2000),
    refusal: InvalidArchiveError,
  },
  {
    what: 'a stream without the end-of-archive marker',
    build: async () => tarWithOurWriter([{ fields: fields({ name: 'a', type: 'file', size: 1 }), data: Buffer.from('a') }], { end: false }),
    refusal: InvalidArchiveError,
  },
  {
    what: 'an unsupported entry type',
    build: async () => {
      const tar = tarWithOurWriter([{ fields: fields({ name: 'a', type: 'file', size: 0 }) }]);
      tar[156] = 'V'.charCodeAt(0); // a GNU volume header
      return withChecksum(tar);
    },
    refusal: InvalidArchiveError,
  },
];

/** hostileTars builds every hostile tar, aimed at `aim`. */
export async function hostileTars(aim: Aim): Promise<Array<{ what: string; tar: Buffer }>> {
  return Promise.all(HOSTILE_TARS.map(async (h) => ({ what: h.what, tar: await h.build(aim) })));
}
