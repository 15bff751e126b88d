/**
 * The tar fuzz targets' seeds: small real layers (a directory tarred by GNU tar in each of its
 * formats, and the corpus helpers' crafted layers), and every malformed and hostile tar the
 * tests build.
 */
import fs from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildLenientLayers, buildWhiteoutLayers, pseudoRandom, treeLayer, type TarFormat, type TreeNode } from '../helpers/corpus';
import { hostileTars, type Aim } from '../helpers/hostile-tars';
import { removeTmpDir } from '../helpers/tmp-dir';
import { MALFORMED } from '../unit/archive/tar/malformed-tars';

/** smallTree has one node of every kind a layer holds, with the names and numbers that take the tar formats' extensions. */
function smallTree(): TreeNode[] {
  return [
    { kind: 'file', path: 'files/small', data: 'hello, layer\n', xattrs: { 'user.note': 'x' } },
    { kind: 'file', path: 'files/one-block', data: pseudoRandom('block', 512) },
    { kind: 'file', path: 'files/empty', mtime: '1600000000.123456789' },
    { kind: 'file', path: `names/${'n'.repeat(120)}/${'m'.repeat(99)}`, data: 'long name\n' },
    { kind: 'file', path: Buffer.from('names/caf\xe9-latin1', 'latin1'), data: 'not UTF-8\n' },
    { kind: 'file', path: 'files/big-ids', data: 'ids\n', uid: 3_000_000, gid: 70_000 },
    { kind: 'file', path: 'sparse/holes', sparse: { size: 96 * 1024, chunks: [{ offset: 0, data: pseudoRandom('a', 600) }, { offset: 64 * 1024, data: pseudoRandom('b', 1500) }] } },
    { kind: 'dir', path: 'dirs/private', mode: 0o700 },
    { kind: 'symlink', path: 'links/relative', target: '../files/small' },
    { kind: 'symlink', path: 'links/long-target', target: `../${'t'.repeat(120)}` },
    // legal in a layer (the chroot case): the extractor guards the write path, not the link text
    { kind: 'symlink', path: 'links/up', target: '../../../../etc' },
    { kind: 'symlink', path: 'links/abs', target: '/etc/shadow' },
    { kind: 'hardlink', path: 'links/hard', target: 'files/small' },
    { kind: 'char', path: 'devs/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'fifo', path: 'devs/fifo', mode: 0o644 },
    { kind: 'file', path: 'whiteout/.wh.gone', data: '' },
    { kind: 'file', path: 'opaque/.wh..wh..opq', data: '' },
  ];
}

const FORMATS: TarFormat[] = ['posix', 'gnu', 'posix-sparse-0.0', 'posix-sparse-0.1', 'posix-sparse-1.0'];

/**
 * SCENE is where the extraction target fuzzes: a fixed path (a fresh tmpfs in the fuzzer's own
 * mount namespace), so that the hostile seeds, and what the fuzzer makes of them, aim at the
 * sibling beside the target on every run.
 */
export const SCENE = '/tmp/strata-fuzz-scene';
const AIM: Aim = { sibling: path.join(SCENE, 'layers', 'sibling'), etcName: 'strata-fuzz-pwned' };

/** tarSeeds builds the seeds and leaves out those longer than `maxLength`. */
export async function tarSeeds(maxLength: number): Promise<Buffer[]> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'strata-fuzz-seeds-'));
  try {
    const layers: string[] = [];
    for (const format of FORMATS) layers.push(await treeLayer(work, `small-${format}`, smallTree(), format));
    layers.push(...(await buildWhiteoutLayers(work)), ...Object.values(await buildLenientLayers(work)));
    const real = layers.map((file) => fs.readFileSync(file));
    const hostile = (await hostileTars(AIM)).map((h) => h.tar);
    return [...real, ...MALFORMED.map((m) => m.tar), ...hostile].filter((tar) => tar.length <= maxLength);
  } finally {
    removeTmpDir(work);
  }
}

/** TAR_DICTIONARY holds the words of the tar formats that byte mutations rarely spell. */
export const TAR_DICTIONARY: readonly Buffer[] = [
  'ustar\0', 'ustar  \0', '00', 'x', 'g', 'L', 'K', 'S', '0', '1', '2', '5', '7', 'V', '././@LongLink', 'PaxHeaders.0/',
  '30 path=', '30 linkpath=', '20 size=', '30 mtime=', '30 atime=', '30 ctime=', '11 uid=', '11 gid=', '20 uname=',
  'GNU.sparse.map=', 'GNU.sparse.major=1', 'GNU.sparse.minor=0', 'GNU.sparse.numblocks=', 'GNU.sparse.offset=',
  'GNU.sparse.numbytes=', 'GNU.sparse.name=', 'GNU.sparse.realsize=', 'GNU.sparse.size=', 'SCHILY.xattr.',
  'security.capability', 'trusted.overlay.opaque', 'user.', '../', '/', '.wh.', '.wh..wh..opq', './', '..', '\n', '=',
  '99999999999', '-1', '1.5', '077777777777', '18446744073709551616', '\x80\0\0\0\0\0\0\0\0\0\0\x01', '\xff\xff\xff\xff',
].map((w) => Buffer.from(w, 'latin1'));
