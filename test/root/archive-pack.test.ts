/**
 * packDirectory (GraphDriver.Diff, native): the tar of an upper dir in Docker's format
 * (protocol.md §2.6 "Producing a diff"), parsed back with Strata's reader and with tar-stream,
 * and a full round trip apply(pack(dir)).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { applyTar } from '../../src/archive/apply';
import { packDirectory } from '../../src/archive/pack';
import { IdMapping } from '../../src/idmap';
import { lsetxattr, lutimesNs, mknod } from '../../src/sys/libc';
import { comparable, snapshotTree } from '../helpers/fs-tree';
import { chunked, extractWithTarStream, readWithOurReader, type ReadBack } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const CAP_V2 = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

function setTime(p: string, sec: number, nsec = 0): void {
  lutimesNs(p, { sec, nsec }, { sec, nsec });
}

/**
 * An upper dir as overlay leaves it: files, a whiteout device, an opaque dir, hardlinks,
 * xattrs of several namespaces, devices, sub-second times. Directory times are set last.
 */
function buildUpper(t: TestContext): string {
  const dir = path.join(makeTmpDir(t, 'strata-pack-'), 'upper');
  fs.mkdirSync(dir);
  const w = (rel: string, content: string, mode = 0o644) => {
    fs.writeFileSync(path.join(dir, rel), content);
    fs.chmodSync(path.join(dir, rel), mode);
  };
  // Names chosen so byte order differs from a depth-first-agnostic sort.
  fs.mkdirSync(path.join(dir, 'a'));
  w('a/x', 'ax');
  w('a-b', 'dash');
  w('a.b', 'dot');
  w('B', 'upper case sorts first');
  fs.mkdirSync(path.join(dir, 'etc'), { mode: 0o755 });
  w('etc/hosts', 'hosts\n');
  mknod(path.join(dir, 'etc/passwd'), S_IFCHR, 0, 0); // whiteout
  fs.lchownSync(path.join(dir, 'etc/passwd'), 7, 8);
  setTime(path.join(dir, 'etc/passwd'), 1_400_000_000);
  fs.mkdirSync(path.join(dir, 'opq'));
  fs.chmodSync(path.join(dir, 'opq'), 0o750);
  fs.lchownSync(path.join(dir, 'opq'), 11, 12);
  lsetxattr(path.join(dir, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
  w('opq/fresh', 'fresh');
  w('bin', 'not a dir', 0o4755);
  fs.rmSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'bin'));
  w('bin/ping', 'PING');
  // chown clears setuid and security.capability, so ownership comes first.
  fs.lchownSync(path.join(dir, 'bin/ping'), 70000, 3_000_000);
  fs.chmodSync(path.join(dir, 'bin/ping'), 0o4755);
  lsetxattr(path.join(dir, 'bin/ping'), 'security.capability', CAP_V2);
  lsetxattr(path.join(dir, 'bin/ping'), 'user.note', Buffer.from('dropped'));
  lsetxattr(path.join(dir, 'bin/ping'), 'trusted.other', Buffer.from('dropped'));
  w('bin/busybox', 'BUSYBOX', 0o755);
  fs.linkSync(path.join(dir, 'bin/busybox'), path.join(dir, 'bin/sh'));
  fs.linkSync(path.join(dir, 'bin/busybox'), path.join(dir, 'a/zz-link'));
  fs.symlinkSync('busybox', path.join(dir, 'bin/ls'));
  fs.mkdirSync(path.join(dir, 'dev'));
  mknod(path.join(dir, 'dev/null'), S_IFCHR | 0o666, 1, 3);
  mknod(path.join(dir, 'dev/sda'), S_IFBLK | 0o660, 8, 0);
  mknod(path.join(dir, 'dev/fifo'), S_IFIFO | 0o600, 0, 0);
  fs.chmodSync(path.join(dir, 'dev/null'), 0o666); // mknod is subject to the umask
  fs.chmodSync(path.join(dir, 'dev/sda'), 0o660);
  w('empty', '', 0o600);
  w('nanos', 'n');
  setTime(path.join(dir, 'nanos'), 1_600_000_000, 987_654_321);
  for (const d of ['a', 'etc', 'opq', 'bin', 'dev', '']) setTime(path.join(dir, d), 1_500_000_000, 123);
  return dir;
}

async function packed(dir: string, idMap = new IdMapping()): Promise<{ tar: Buffer; entries: ReadBack[]; byName: Map<string, ReadBack> }> {
  const tar = await collect(packDirectory(dir, { idMap }));
  const entries = await readWithOurReader(tar);
  return { tar, entries, byName: new Map(entries.map((e) => [e.entry.name, e])) };
}

describe('packDirectory', { skip: needRoot() }, () => {
  it('walks in lexical order, depth first, with directory names ending in /', async (t) => {
    const { entries } = await packed(buildUpper(t));
    assert.deepEqual(
      entries.map((e) => e.entry.name),
      [
        'B',
        'a/',
        'a/x',
        'a/zz-link',
        'a-b',
        'a.b',
        'bin/',
        'bin/busybox',
        'bin/ls',
        'bin/ping',
        'bin/sh',
        'dev/',
        'dev/fifo',
        'dev/null',
        'dev/sda',
        'empty',
        'etc/',
        // Sorted by the on-disk name ("passwd"), renamed on output, as Docker's walk does.
        'etc/hosts',
        'etc/.wh.passwd',
        'nanos',
        'opq/',
        'opq/.wh..wh..opq',
        'opq/fresh',
      ],
    );
  });

  it('writes a whiteout device as an empty .wh.<name> file, mode 0600, with the device owner and mtime', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const wh = byName.get('etc/.wh.passwd')!.entry;
    assert.deepEqual(
      { type: wh.type, mode: wh.mode, size: wh.size, uid: wh.uid, gid: wh.gid, mtimeNs: wh.mtimeNs },
      { type: 'file', mode: 0o600, size: 0, uid: 7, gid: 8, mtimeNs: 1_400_000_000_000_000_000n },
    );
    assert.equal(byName.has('etc/passwd'), false, 'the device itself is not exported');
  });

  it('follows an opaque directory header immediately with .wh..wh..opq (dir perm bits, owner, mtime 0, size 0)', async (t) => {
    const { entries } = await packed(buildUpper(t));
    const i = entries.findIndex((e) => e.entry.name === 'opq/');
    const dirEntry = entries[i]!.entry;
    const marker = entries[i + 1]!.entry;
    assert.equal(marker.name, 'opq/.wh..wh..opq');
    assert.deepEqual(
      { type: marker.type, mode: marker.mode, size: marker.size, uid: marker.uid, gid: marker.gid, mtimeNs: marker.mtimeNs },
      { type: 'file', mode: 0o750, size: 0, uid: 11, gid: 12, mtimeNs: 0n },
    );
    assert.equal(dirEntry.mode, 0o40750);
    assert.equal(dirEntry.xattrs.size, 0, 'the opaque xattr itself is never exported');
  });

  it('writes later paths of an inode as hardlinks to the first path', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const first = byName.get('a/zz-link')!;
    assert.equal(first.entry.type, 'file', 'the first path in walk order carries the data');
    assert.deepEqual(first.data, Buffer.from('BUSYBOX'));
    for (const n of ['bin/busybox', 'bin/sh']) {
      const e = byName.get(n)!.entry;
      assert.deepEqual([e.type, e.linkname, e.size], ['hardlink', 'a/zz-link', 0], n);
    }
  });

  it('exports only security.capability among xattrs, byte-exact', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const ping = byName.get('bin/ping')!.entry;
    assert.deepEqual([...ping.xattrs.keys()], ['security.capability']);
    assert.deepEqual(ping.xattrs.get('security.capability'), CAP_V2);
  });

  it('rewrites a v3 (namespaced) capability to the 20-byte v2 form', async (t) => {
    const dir = path.join(makeTmpDir(t, 'strata-pack-'), 'upper');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const v3 = Buffer.alloc(24);
    v3.writeUInt32LE(0x03000001, 0);
    v3.writeUInt32LE(0x00002000, 4);
    v3.writeUInt32LE(100000, 20); // rootid
    try {
      lsetxattr(path.join(dir, 'f'), 'security.capability', v3);
    } catch (err) {
      return t.skip(`the kernel refused a v3 capability: ${(err as Error).message}`);
    }
    const { byName } = await packed(dir);
    const cap = byName.get('f')!.entry.xattrs.get('security.capability')!;
    assert.equal(cap.length, 20);
    assert.equal(cap.readUInt32LE(0), 0x02000001);
    assert.equal(cap.readUInt32LE(4), 0x00002000);
  });

  it('carries the S_IF* type bits in the mode field', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const mode = (n: string) => byName.get(n)!.entry.mode;
    assert.equal(mode('a.b'), 0o100644);
    assert.equal(mode('bin/ping'), 0o104755);
    assert.equal(mode('bin/'), 0o40755);
    assert.equal(mode('bin/ls'), 0o120777);
    assert.equal(mode('dev/null'), 0o20666);
    assert.equal(mode('dev/sda'), 0o60660);
    assert.equal(mode('dev/fifo'), 0o10600);
    assert.equal(mode('bin/sh'), 0o100755, 'hardlink entries too');
  });

  it('records owners, sizes, link targets and device numbers', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const ping = byName.get('bin/ping')!.entry;
    assert.deepEqual([ping.uid, ping.gid, ping.size], [70000, 3_000_000, 4]);
    assert.equal(byName.get('bin/ls')!.entry.linkname, 'busybox');
    assert.deepEqual([byName.get('dev/null')!.entry.devmajor, byName.get('dev/null')!.entry.devminor], [1, 3]);
    assert.deepEqual([byName.get('dev/sda')!.entry.devmajor, byName.get('dev/sda')!.entry.devminor], [8, 0]);
    assert.equal(byName.get('empty')!.entry.size, 0);
    assert.deepEqual(byName.get('etc/hosts')!.data, Buffer.from('hosts\n'));
  });

  it('truncates mtimes to whole seconds and writes no atime', async (t) => {
    const { byName } = await packed(buildUpper(t));
    const n = byName.get('nanos')!.entry;
    assert.equal(n.mtimeNs, 1_600_000_000_000_000_000n);
    assert.equal(n.atimeNs, undefined);
    assert.equal(byName.get('a/')!.entry.mtimeNs, 1_500_000_000_000_000_000n);
  });

  it('is a valid tar for tar-stream too', async (t) => {
    const { tar, entries } = await packed(buildUpper(t));
    const other = await extractWithTarStream(tar);
    assert.deepEqual(
      other.map((e) => e.header.name),
      entries.map((e) => e.entry.name),
    );
    for (const [i, e] of other.entries()) assert.ok(e.data.equals(entries[i]!.data), e.header.name);
  });

  it('maps owners host → container with an id mapping, but not whiteout devices', async (t) => {
    const dir = path.join(makeTmpDir(t, 'strata-pack-'), 'upper');
    fs.mkdirSync(path.join(dir, 'o'), { recursive: true });
    fs.lchownSync(dir, 100000, 100000);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    fs.lchownSync(path.join(dir, 'f'), 101000, 100005);
    fs.lchownSync(path.join(dir, 'o'), 100001, 100002);
    lsetxattr(path.join(dir, 'o'), 'trusted.overlay.opaque', Buffer.from('y'));
    mknod(path.join(dir, 'gone'), S_IFCHR, 0, 0);
    fs.lchownSync(path.join(dir, 'gone'), 100000, 100000);
    const idMap = new IdMapping([{ containerId: 0, hostId: 100000, size: 65536 }], [{ containerId: 0, hostId: 100000, size: 65536 }]);
    const { byName } = await packed(dir, idMap);
    const ids = (n: string) => [byName.get(n)!.entry.uid, byName.get(n)!.entry.gid];
    assert.deepEqual(ids('f'), [1000, 5]);
    assert.deepEqual(ids('o/'), [1, 2]);
    assert.deepEqual(ids('o/.wh..wh..opq'), [1, 2]);
    assert.deepEqual(ids('.wh.gone'), [100000, 100000], 'whiteouts keep their host owner, as Docker does');
  });

  it('round-trips: applyTar(packDirectory(dir)) reproduces the tree', async (t) => {
    const dir = buildUpper(t);
    const { tar } = await packed(dir);
    const out = path.join(makeTmpDir(t, 'strata-pack-out-'), 'layer');
    fs.mkdirSync(out);
    await applyTar(chunked(tar, 10_000), out, { idMap: new IdMapping() });
    type Facts = { type: string; major?: number; xattrs: Record<string, string>; mtime?: string };
    const want = comparable(snapshotTree(dir), { seconds: true, skipRootTimes: true }) as Record<string, Facts>;
    const got = comparable(snapshotTree(out), { seconds: true, skipRootTimes: true }) as Record<string, Facts>;
    for (const facts of Object.values(want)) {
      // Only security.capability (and the opaque marker) survive a layer tar.
      facts.xattrs = Object.fromEntries(Object.entries(facts.xattrs).filter(([k]) => k === 'security.capability' || k === 'trusted.overlay.opaque'));
    }
    // Docker's ApplyDiff only mknods and chowns a whiteout: its time is not restored.
    for (const [rel, facts] of Object.entries(want)) {
      if (facts.type === 'char' && facts.major === 0) {
        delete facts.mtime;
        delete got[rel]?.mtime;
      }
    }
    assert.deepEqual(got, want);
  });
});
