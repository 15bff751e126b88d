/**
 * applyTar on real files (root: any owner, devices, trusted.* xattrs): every entry type and
 * attribute lands as overlay2's native ApplyDiff leaves it (protocol.md §2.6).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { applyTar } from '../../src/archive/apply';
import { InvalidArgumentError } from '../../src/errors';
import { IdMapping } from '../../src/idmap';
import { lgetxattr } from '../../src/sys/libc';
import { absPath, factsOf } from '../helpers/fs-tree';
import { byteString, chunked, fields, packWithTarStream, tarWithOurWriter } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const CAPABILITY = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const T0 = 1_600_000_000;

async function applyInto(t: { after(fn: () => void): void }, tar: Buffer, idMap = new IdMapping()): Promise<string> {
  const root = path.join(makeTmpDir(t, 'strata-apply-'), 'layer');
  fs.mkdirSync(root);
  fs.chmodSync(root, 0o755);
  await applyTar(chunked(tar, 1000), root, { idMap });
  return root;
}

describe('applyTar: entry types and attributes', { skip: needRoot() }, () => {
  it('writes regular files with content, empty files and directories with their modes', async (t) => {
    const big = Buffer.alloc(200_000, 7);
    const tar = await packWithTarStream([
      { header: { name: 'etc', type: 'directory', mode: 0o750, mtime: new Date(T0 * 1000) } },
      { header: { name: 'etc/hosts', type: 'file', mode: 0o644 }, content: '127.0.0.1 localhost\n' },
      { header: { name: 'etc/empty', type: 'file', mode: 0o600 }, content: '' },
      { header: { name: 'etc/big', type: 'file', mode: 0o640 }, content: big },
      { header: { name: 'private', type: 'directory', mode: 0o700 } },
    ]);
    const root = await applyInto(t, tar);
    assert.equal(fs.readFileSync(path.join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n');
    assert.ok(fs.readFileSync(path.join(root, 'etc/big')).equals(big));
    const empty = factsOf(path.join(root, 'etc/empty'));
    assert.deepEqual([empty.type, empty.size, empty.perm], ['file', 0, 0o600]);
    assert.equal(factsOf(path.join(root, 'etc')).perm, 0o750);
    assert.equal(factsOf(path.join(root, 'etc/big')).perm, 0o640);
    assert.equal(factsOf(path.join(root, 'private')).perm, 0o700);
  });

  it('keeps setuid, setgid and sticky bits (mode applied after chown)', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0 }, content: 'su' },
      { header: { name: 'bin/wall', type: 'file', mode: 0o2755, uid: 0, gid: 5 }, content: 'wall' },
      { header: { name: 'tmp', type: 'directory', mode: 0o1777 } },
      { header: { name: 'shared', type: 'directory', mode: 0o2775, gid: 50 } },
    ]);
    const root = await applyInto(t, tar);
    assert.equal(factsOf(path.join(root, 'bin/su')).perm, 0o4755);
    assert.equal(factsOf(path.join(root, 'bin/wall')).perm, 0o2755);
    assert.equal(factsOf(path.join(root, 'bin/wall')).gid, 5);
    assert.equal(factsOf(path.join(root, 'tmp')).perm, 0o1777);
    assert.equal(factsOf(path.join(root, 'shared')).perm, 0o2775);
  });

  it('gives every entry its own group, whatever group and setgid bit its directory has', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'staff', type: 'directory', mode: 0o755, gid: 50 } },
      { header: { name: 'staff/same', type: 'file', mode: 0o644, gid: 50 }, content: 'a' },
      { header: { name: 'staff/root', type: 'file', mode: 0o644, gid: 0 }, content: 'b' },
      { header: { name: 'staff/sub', type: 'directory', mode: 0o755, gid: 50 } },
      { header: { name: 'staff/link', type: 'symlink', linkname: 'same', gid: 50 } },
      { header: { name: 'shared', type: 'directory', mode: 0o2775, gid: 50 } },
      { header: { name: 'shared/root', type: 'file', mode: 0o644, gid: 0 }, content: 'c' },
      { header: { name: 'shared/same', type: 'file', mode: 0o644, gid: 50 }, content: 'd' },
      { header: { name: 'shared/fifo', type: 'fifo', mode: 0o600, gid: 0 } },
    ]);
    const root = await applyInto(t, tar);
    const gid = (p: string) => fs.lstatSync(path.join(root, p)).gid;
    assert.deepEqual(
      ['staff/same', 'staff/root', 'staff/sub', 'staff/link', 'shared/root', 'shared/same', 'shared/fifo'].map((p) => [p, gid(p)]),
      [['staff/same', 50], ['staff/root', 0], ['staff/sub', 50], ['staff/link', 50], ['shared/root', 0], ['shared/same', 50], ['shared/fifo', 0]],
    );
  });

  it('creates relative, absolute and dangling symlinks with their exact targets', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'etc/passwd', type: 'file', mode: 0o644 }, content: 'root:x:0:0\n' },
      { header: { name: 'rel', type: 'symlink', linkname: 'etc/passwd' } },
      { header: { name: 'abs', type: 'symlink', linkname: '/etc/passwd' } },
      { header: { name: 'dangling', type: 'symlink', linkname: 'does/not/exist' } },
      { header: { name: 'up', type: 'symlink', linkname: '../../../../etc' } },
      { header: { name: 'etc/mtab', type: 'symlink', linkname: '/proc/mounts', uid: 7, gid: 8 } },
    ]);
    const root = await applyInto(t, tar);
    assert.equal(fs.readlinkSync(path.join(root, 'rel')), 'etc/passwd');
    assert.equal(fs.readlinkSync(path.join(root, 'abs')), '/etc/passwd');
    assert.equal(fs.readlinkSync(path.join(root, 'dangling')), 'does/not/exist');
    assert.equal(fs.readlinkSync(path.join(root, 'up')), '../../../../etc');
    assert.equal(fs.readFileSync(path.join(root, 'rel'), 'utf8'), 'root:x:0:0\n');
    const mtab = factsOf(path.join(root, 'etc/mtab'));
    assert.deepEqual([mtab.type, mtab.uid, mtab.gid], ['symlink', 7, 8], 'symlinks are lchown-ed');
  });

  it('creates hardlinks to earlier files and applies the link entry mode to the shared inode', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'bin/busybox', type: 'file', mode: 0o755 }, content: 'BB' },
      { header: { name: 'bin/sh', type: 'link', linkname: 'bin/busybox', mode: 0o700 } },
      { header: { name: 'usr/bin/ls', type: 'link', linkname: 'bin/busybox', mode: 0o700 } },
    ]);
    const root = await applyInto(t, tar);
    const a = factsOf(path.join(root, 'bin/busybox'));
    const b = factsOf(path.join(root, 'bin/sh'));
    const c = factsOf(path.join(root, 'usr/bin/ls'));
    assert.equal(a.ino, b.ino);
    assert.equal(a.ino, c.ino);
    assert.equal(a.nlink, 3);
    assert.equal(a.perm, 0o700, 'mode of the last link entry wins on the shared inode');
  });

  it('creates char and block devices and fifos with their numbers and modes', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'dev/big', type: 'character-device', mode: 0o600, devmajor: 300, devminor: 70000 } },
      { header: { name: 'dev/sda1', type: 'block-device', mode: 0o660, devmajor: 8, devminor: 1, gid: 6 } },
      { header: { name: 'run/fifo', type: 'fifo', mode: 0o620 } },
    ]);
    const root = await applyInto(t, tar);
    assert.deepEqual(pick(factsOf(path.join(root, 'dev/null'))), { type: 'char', perm: 0o666, major: 1, minor: 3 });
    assert.deepEqual(pick(factsOf(path.join(root, 'dev/big'))), { type: 'char', perm: 0o600, major: 300, minor: 70000 });
    assert.deepEqual(pick(factsOf(path.join(root, 'dev/sda1'))), { type: 'block', perm: 0o660, major: 8, minor: 1 });
    assert.equal(factsOf(path.join(root, 'dev/sda1')).gid, 6);
    assert.deepEqual(pick(factsOf(path.join(root, 'run/fifo'))), { type: 'fifo', perm: 0o620, major: undefined, minor: undefined });
  });

  it('sets uid/gid including ids above 65535 and above the octal limit (PAX)', async (t) => {
    const tar = tarWithOurWriter([
      { fields: fields({ name: 'small', type: 'file', uid: 1000, gid: 1000, size: 1 }), data: Buffer.from('a') },
      { fields: fields({ name: 'large', type: 'file', uid: 70000, gid: 80000, size: 1 }), data: Buffer.from('b') },
      { fields: fields({ name: 'pax', type: 'file', uid: 3_000_000, gid: 2_500_000, size: 1 }), data: Buffer.from('c') },
      { fields: fields({ name: 'dir/', type: 'dir', uid: 65536, gid: 65537 }) },
    ]);
    const root = await applyInto(t, tar);
    const ids = (n: string) => [factsOf(path.join(root, n)).uid, factsOf(path.join(root, n)).gid];
    assert.deepEqual(ids('small'), [1000, 1000]);
    assert.deepEqual(ids('large'), [70000, 80000]);
    assert.deepEqual(ids('pax'), [3_000_000, 2_500_000]);
    assert.deepEqual(ids('dir'), [65536, 65537]);
  });

  it('applies security.capability byte-exactly and user.* xattrs', async (t) => {
    const tar = tarWithOurWriter([
      {
        fields: fields({
          name: 'bin/ping',
          type: 'file',
          mode: 0o100755,
          size: 4,
          xattrs: new Map([
            ['security.capability', CAPABILITY],
            ['user.comment', Buffer.from('hello')],
            ['user.binary', Buffer.from([0, 0xff, 0x80, 0x0a])],
          ]),
        }),
        data: Buffer.from('ping'),
      },
      { fields: fields({ name: 'data/', type: 'dir', xattrs: new Map([['user.dir', Buffer.from('d')]]) }) },
    ]);
    const root = await applyInto(t, tar);
    const ping = path.join(root, 'bin/ping');
    assert.deepEqual(lgetxattr(ping, 'security.capability'), CAPABILITY);
    assert.deepEqual(lgetxattr(ping, 'user.comment'), Buffer.from('hello'));
    assert.deepEqual(lgetxattr(ping, 'user.binary'), Buffer.from([0, 0xff, 0x80, 0x0a]));
    assert.deepEqual(lgetxattr(path.join(root, 'data'), 'user.dir'), Buffer.from('d'));
    // The capability survives the chmod that follows (the kernel clears it on chown, not chmod).
    assert.equal(factsOf(ping).perm, 0o755);
  });

  it('sets nanosecond mtimes from PAX records, and atime = max(atime, mtime)', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'f', type: 'file', mode: 0o644, pax: { mtime: '1577934245.123456789', atime: '1577934240.5' } }, content: 'x' },
      { header: { name: 'g', type: 'file', mode: 0o644, pax: { mtime: '1577934245.6', atime: '1700000000.25' } }, content: 'y' },
      { header: { name: 's', type: 'symlink', linkname: 'f', pax: { mtime: '1500000000.000000007' } } },
    ]);
    const root = await applyInto(t, tar);
    const f = fs.lstatSync(path.join(root, 'f'), { bigint: true });
    assert.equal(f.mtimeNs, 1_577_934_245_123_456_789n);
    assert.equal(f.atimeNs, 1_577_934_245_123_456_789n, 'an older atime is raised to the mtime');
    const g = fs.lstatSync(path.join(root, 'g'), { bigint: true });
    assert.equal(g.mtimeNs, 1_577_934_245_600_000_000n);
    assert.equal(g.atimeNs, 1_700_000_000_250_000_000n);
    assert.equal(fs.lstatSync(path.join(root, 's'), { bigint: true }).mtimeNs, 1_500_000_000_000_000_007n, 'symlink times via lutimes');
  });

  it('sets directory times after their children are written', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'd', type: 'directory', mode: 0o755, mtime: new Date(1_000_000_000_000), pax: { mtime: '1000000000.5', atime: '1000000001' } } },
      { header: { name: 'd/a', type: 'file', mode: 0o644, mtime: new Date(T0 * 1000) }, content: 'a' },
      { header: { name: 'd/sub', type: 'directory', mode: 0o755, mtime: new Date(1_100_000_000_000) } },
      { header: { name: 'd/sub/b', type: 'file', mode: 0o644 }, content: 'b' },
      { header: { name: 'd/sub/c', type: 'symlink', linkname: 'b' } },
    ]);
    const root = await applyInto(t, tar);
    const d = fs.lstatSync(path.join(root, 'd'), { bigint: true });
    assert.equal(d.mtimeNs, 1_000_000_000_500_000_000n);
    assert.equal(d.atimeNs, 1_000_000_001_000_000_000n);
    assert.equal(fs.lstatSync(path.join(root, 'd/sub'), { bigint: true }).mtimeNs, 1_100_000_000_000_000_000n);
    assert.equal(fs.lstatSync(path.join(root, 'd/sub'), { bigint: true }).atimeNs, 0n, 'a missing directory atime is the epoch, as in Go');
  });

  it('replaces a directory by a later file entry, and merges a directory entry into an existing one', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'x', type: 'directory', mode: 0o755 } },
      { header: { name: 'x/inner', type: 'file', mode: 0o644 }, content: 'gone' },
      { header: { name: 'x', type: 'file', mode: 0o600 }, content: 'now a file' },
      { header: { name: 'd', type: 'directory', mode: 0o755, uid: 1 } },
      { header: { name: 'd/keep', type: 'file', mode: 0o644 }, content: 'kept' },
      { header: { name: 'd', type: 'directory', mode: 0o710, uid: 2, gid: 3 } },
      { header: { name: 'f', type: 'file', mode: 0o644 }, content: 'first' },
      { header: { name: 'f', type: 'symlink', linkname: 'target' } },
      { header: { name: 'g', type: 'symlink', linkname: 'target' } },
      { header: { name: 'g', type: 'directory', mode: 0o755 } },
      { header: { name: 'g/child', type: 'file', mode: 0o644 }, content: 'c' },
    ]);
    const root = await applyInto(t, tar);
    assert.equal(fs.readFileSync(path.join(root, 'x'), 'utf8'), 'now a file');
    assert.equal(factsOf(path.join(root, 'x')).perm, 0o600);
    assert.equal(fs.readFileSync(path.join(root, 'd/keep'), 'utf8'), 'kept');
    const d = factsOf(path.join(root, 'd'));
    assert.deepEqual([d.perm, d.uid, d.gid], [0o710, 2, 3], 'the second directory entry updates metadata only');
    assert.equal(fs.readlinkSync(path.join(root, 'f')), 'target');
    assert.equal(fs.readFileSync(path.join(root, 'g/child'), 'utf8'), 'c');
  });

  it('turns .wh.<name> into a 0/0 character device owned like the entry, and writes no .wh. file', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'etc', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/.wh.passwd', type: 'file', mode: 0o600, uid: 5, gid: 6 }, content: '' },
      { header: { name: '.wh.gone-dir', type: 'file', mode: 0o600 }, content: '' },
    ]);
    const root = await applyInto(t, tar);
    const w = factsOf(path.join(root, 'etc/passwd'));
    assert.deepEqual([w.type, w.major, w.minor, w.uid, w.gid], ['char', 0, 0, 5, 6]);
    assert.equal(factsOf(path.join(root, 'gone-dir')).type, 'char');
    assert.deepEqual(fs.readdirSync(path.join(root, 'etc')), ['passwd']);
    assert.ok(!fs.readdirSync(root).some((n) => n.startsWith('.wh.')));
  });

  it('turns .wh..wh..opq into trusted.overlay.opaque=y on its directory, and writes no marker file', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: 'opq', type: 'directory', mode: 0o750 } },
      { header: { name: 'opq/.wh..wh..opq', type: 'file', mode: 0o750 }, content: '' },
      { header: { name: 'opq/fresh', type: 'file', mode: 0o644 }, content: 'new' },
      { header: { name: 'implied/.wh..wh..opq', type: 'file', mode: 0o755 }, content: '' },
    ]);
    const root = await applyInto(t, tar);
    assert.deepEqual(lgetxattr(path.join(root, 'opq'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.deepEqual(fs.readdirSync(path.join(root, 'opq')), ['fresh']);
    assert.deepEqual(lgetxattr(path.join(root, 'implied'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(lgetxattr(root, 'trusted.overlay.opaque'), undefined);
  });

  it('creates implied parent directories 0755 owned by root', async (t) => {
    const tar = await packWithTarStream([{ header: { name: 'a/b/c/file', type: 'file', mode: 0o600, uid: 1000, gid: 1000 }, content: 'deep' }]);
    const root = await applyInto(t, tar);
    for (const d of ['a', 'a/b', 'a/b/c']) {
      const f = factsOf(path.join(root, d));
      assert.deepEqual([f.type, f.perm, f.uid, f.gid], ['dir', 0o755, 0, 0], d);
    }
    assert.equal(factsOf(path.join(root, 'a/b/c/file')).uid, 1000);
  });

  it("skips a './' root entry as Docker does (the root keeps its own mode and owner)", async (t) => {
    // moby pkg/archive Unpack: `if fi.IsDir() && hdr.Name == "." { continue }` after Clean.
    const tar = await packWithTarStream([
      { header: { name: './', type: 'directory', mode: 0o700, uid: 3, gid: 4, mtime: new Date(T0 * 1000) } },
      { header: { name: './etc/x', type: 'file', mode: 0o644 }, content: 'x' },
    ]);
    const root = await applyInto(t, tar);
    const r = factsOf(root);
    assert.deepEqual([r.perm, r.uid, r.gid], [0o755, 0, 0]);
    assert.notEqual(r.mtimeNs, BigInt(T0) * 1_000_000_000n);
    assert.equal(fs.readFileSync(path.join(root, 'etc/x'), 'utf8'), 'x');
  });

  it("applies an absolute '/' root entry's mode, owner and times to the layer root", async (t) => {
    const tar = tarWithOurWriter([
      { fields: fields({ name: '/', type: 'dir', mode: 0o40750, uid: 3, gid: 4, mtimeSec: T0 }) },
      { fields: fields({ name: 'etc/x', type: 'file', size: 1 }), data: Buffer.from('x') },
    ]);
    const root = await applyInto(t, tar);
    const r = factsOf(root);
    assert.deepEqual([r.perm, r.uid, r.gid], [0o750, 3, 4]);
    assert.equal(r.mtimeNs, BigInt(T0) * 1_000_000_000n, 'root times are set after its children');
  });

  it('lands absolute names inside the layer, as Docker\'s chroot does', async (t) => {
    const marker = `strata-test-${process.pid}-${Date.now()}`;
    const tar = await packWithTarStream([{ header: { name: `/etc/${marker}`, type: 'file', mode: 0o644 }, content: 'inside' }]);
    const root = await applyInto(t, tar);
    assert.equal(fs.readFileSync(path.join(root, 'etc', marker), 'utf8'), 'inside');
    assert.equal(fs.existsSync(`/etc/${marker}`), false);
  });

  it('writes non-UTF-8 and long names byte-exactly', async (t) => {
    const latin1 = byteString(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    const long = `${'l'.repeat(200)}/${'m'.repeat(200)}`;
    const tar = tarWithOurWriter([
      { fields: fields({ name: latin1, type: 'file', size: 1 }), data: Buffer.from('1') },
      { fields: fields({ name: long, type: 'file', size: 1 }), data: Buffer.from('2') },
    ]);
    const root = await applyInto(t, tar);
    assert.ok(fs.readdirSync(root, { encoding: 'buffer' }).some((b) => b.equals(Buffer.from([0x63, 0x61, 0x66, 0xe9]))));
    assert.equal(fs.readFileSync(absPath(root, long), 'utf8'), '2');
  });

  it('writes GNU sparse files with their holes and real size', async (t) => {
    const src = makeTmpDir(t, 'strata-sparse-');
    const file = path.join(src, 'sparse');
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < 6; i++) fs.writeSync(fd, Buffer.from(`chunk ${i}`), 0, 7, i * 1024 * 1024);
    fs.ftruncateSync(fd, 8 * 1024 * 1024);
    fs.closeSync(fd);
    const original = fs.readFileSync(file);
    for (const format of [['--format=gnu'], ['--format=posix', '--sparse-version=1.0']]) {
      const r = spawnSync('tar', ['-cf', '-', '--sparse', ...format, 'sparse'], { cwd: src, maxBuffer: 64 << 20 });
      assert.equal(r.status, 0, r.stderr.toString());
      const root = await applyInto(t, r.stdout);
      const out = path.join(root, 'sparse');
      assert.ok(fs.readFileSync(out).equals(original), `${format.join(' ')}: content`);
      assert.ok(fs.statSync(out).blocks * 512 < 1024 * 1024, `${format.join(' ')}: holes stay holes`);
    }
  });
});

describe('applyTar with a user-namespace id mapping (container 0 → host 100000)', { skip: needRoot() }, () => {
  const idMap = new IdMapping([{ containerId: 0, hostId: 100000, size: 65536 }], [{ containerId: 0, hostId: 100000, size: 65536 }]);

  it('maps owners of entries, implied parents, whiteouts and the root entry', async (t) => {
    const tar = await packWithTarStream([
      { header: { name: '/', type: 'directory', mode: 0o755, uid: 0, gid: 0 } },
      { header: { name: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0 } },
      { header: { name: 'etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0 }, content: 'r' },
      { header: { name: 'home/user/notes', type: 'file', mode: 0o600, uid: 1000, gid: 1001 }, content: 'n' },
      { header: { name: 'lnk', type: 'symlink', linkname: 'etc/passwd', uid: 2, gid: 2 } },
      { header: { name: 'etc/.wh.shadow', type: 'file', mode: 0o600, uid: 0, gid: 42 }, content: '' },
    ]);
    const root = await applyInto(t, tar, idMap);
    const owner = (rel: string) => {
      const f = factsOf(rel === '' ? root : path.join(root, rel));
      return [f.uid, f.gid];
    };
    assert.deepEqual(owner(''), [100000, 100000]);
    assert.deepEqual(owner('etc'), [100000, 100000]);
    assert.deepEqual(owner('etc/passwd'), [100000, 100000]);
    assert.deepEqual(owner('home'), [100000, 100000], 'implied parent owned by the remapped root');
    assert.deepEqual(owner('home/user'), [100000, 100000]);
    assert.deepEqual(owner('home/user/notes'), [101000, 101001]);
    assert.deepEqual(owner('lnk'), [100002, 100002]);
    assert.deepEqual(owner('etc/shadow'), [100000, 100042], 'whiteout device owned by the mapped entry owner');
  });

  it('refuses an owner outside the mapping', async (t) => {
    const tar = await packWithTarStream([{ header: { name: 'f', type: 'file', mode: 0o644, uid: 70000 }, content: 'x' }]);
    await assert.rejects(applyInto(t, tar, idMap), InvalidArgumentError);
  });
});

function pick(f: ReturnType<typeof factsOf>): Record<string, unknown> {
  return { type: f.type, perm: f.perm, major: f.major, minor: f.minor };
}
