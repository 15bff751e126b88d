/**
 * The diff service of `strata snapshotter` over its socket, without containerd: every request
 * whose mounts are not this store's snapshots (another snapshotter's, a host directory, a
 * lookalike path, a snapshot of the wrong kind or with the wrong parents) is answered
 * Unimplemented, so containerd passes it on to its next differ, and touches nothing; malformed
 * requests are InvalidArgument. Layers that are ours reach the content store, which here is
 * absent: that is Unavailable, and the snapshot stays empty.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { GrpcClient } from '../helpers/grpc-client';
import { SnapshotClient, SnapshotterProcess } from '../helpers/snapshotter-process';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const CODE = { INVALID_ARGUMENT: 3, UNIMPLEMENTED: 12, UNAVAILABLE: 14 } as const;
const DIGEST = `sha256:${'a'.repeat(64)}`;
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

type Mounts = Array<{ type: string; source: string; options: string[] }>;

async function started(t: TestContext) {
  const dir = makeTmpDir(t, 'strata-diffproto-');
  // containerd's socket does not exist: nothing the differ does may need it unless the layer is ours.
  const proc = new SnapshotterProcess(dir, { containerdAddress: path.join(dir, 'no-containerd.sock') });
  await proc.start();
  const snapshots = new SnapshotClient(proc.socket);
  const diffs = new GrpcClient(proc.socket, 'diff', 'default');
  t.after(async () => {
    snapshots.close();
    diffs.close();
    await proc.kill('SIGTERM');
  });
  const prepare = async (key: string, parent = '') => (await snapshots.call('Prepare', { key, parent })).mounts as Mounts;
  const view = async (key: string, parent: string) => (await snapshots.call('View', { key, parent })).mounts as Mounts;
  return { dir, proc, snapshots, diffs, prepare, view };
}

describe('strata snapshotter: the diff service over its socket', { skip: needRoot() }, () => {
  it('passes on mounts that are not its snapshots, and touches nothing', async (t) => {
    const { proc, snapshots, diffs, prepare, view } = await started(t);
    await prepare('default/1/base');
    await snapshots.call('Commit', { name: 'default/2/base', key: 'default/1/base' });
    const active = await prepare('default/3/c', 'default/2/base');
    const parentView = await view('default/4/v', 'default/2/base');
    const root = proc.root;
    const foreign: Array<[string, Mounts, Mounts]> = [
      ['a host directory', [], [{ type: 'bind', source: '/etc', options: ['rbind', 'rw'] }]],
      ['an overlay of host directories', [], [{ type: 'overlay', source: 'overlay', options: ['upperdir=/tmp/u', 'workdir=/tmp/w', 'lowerdir=/usr'] }]],
      ['a lookalike path', [], [{ type: 'bind', source: `${root}/snapshots/1/../1/fs`, options: ['rw'] }]],
      ['an unknown snapshot id', [], [{ type: 'bind', source: `${root}/snapshots/999/fs`, options: ['rw'] }]],
      ["lower mounts that are not the upper's parents", [], active],
      ['a committed snapshot mounted read-write', [], [{ type: 'bind', source: `${root}/snapshots/1/fs`, options: ['rw', 'rbind'] }]],
      ['a tmpfs', [], [{ type: 'tmpfs', source: 'tmpfs', options: [] }]],
    ];
    for (const [what, left, right] of foreign) {
      const err = await diffs.failure('Diff', { left, right, media_type: GZIP });
      assert.equal(err.code, CODE.UNIMPLEMENTED, `${what}: ${err.details}`);
      assert.doesNotMatch(err.details, /\/tmp\/|\/etc/, 'no host path in the message');
    }
    for (const [what, mounts] of [['a host directory', foreign[0]![2]], ['a view', parentView], ['two mounts', [...active, ...active]]] as const) {
      const err = await diffs.failure('Apply', { diff: { media_type: GZIP, digest: DIGEST, size: '1' }, mounts });
      assert.equal(err.code, CODE.UNIMPLEMENTED, `${what}: ${err.details}`);
    }
    const types = ['application/vnd.oci.image.layer.v1.tar+encrypted', 'application/octet-stream'];
    for (const media_type of types) {
      assert.equal((await diffs.failure('Apply', { diff: { media_type, digest: DIGEST, size: '1' }, mounts: active })).code, CODE.UNIMPLEMENTED, media_type);
    }
    assert.equal((await diffs.failure('Diff', { left: parentView, right: active, media_type: 'application/vnd.oci.image.layer.v1.tar+zstd' })).code, CODE.UNIMPLEMENTED);
    // A layer with stream processor payloads (an encrypted one) is the walking differ's.
    const payloads = { 'io.containerd.processor.v1.pigz': { type_url: 'x', value: Buffer.alloc(0) } };
    assert.equal((await diffs.failure('Apply', { diff: { media_type: GZIP, digest: DIGEST, size: '1' }, mounts: active, payloads })).code, CODE.UNIMPLEMENTED);
    assert.deepEqual(fs.readdirSync(`${root}/snapshots/3/fs`), []);
  });

  it('refuses malformed requests with InvalidArgument', async (t) => {
    const { diffs, prepare } = await started(t);
    const mounts = await prepare('default/1/c');
    const bad: Array<[string, string, Record<string, unknown>]> = [
      ['no descriptor', 'Apply', { mounts }],
      ['not a digest', 'Apply', { diff: { media_type: GZIP, digest: 'sha256:../../etc', size: '1' }, mounts }],
      ['a ref with a newline', 'Diff', { left: [], right: mounts, ref: 'a\nb' }],
      ['too many mounts', 'Diff', { left: [], right: Array.from({ length: 17 }, () => mounts[0]) }],
    ];
    for (const [what, method, request] of bad) assert.equal((await diffs.failure(method, request)).code, CODE.INVALID_ARGUMENT, what);
  });

  it('says Unavailable for its own snapshot when containerd cannot be reached, and leaves it empty', async (t) => {
    const { proc, diffs, prepare, view } = await started(t);
    const base = await prepare('default/1/base');
    const applied = await diffs.failure('Apply', { diff: { media_type: GZIP, digest: DIGEST, size: '1' }, mounts: base });
    assert.equal(applied.code, CODE.UNAVAILABLE, applied.details);
    assert.deepEqual(fs.readdirSync(`${proc.root}/snapshots/1/fs`), []);
    fs.writeFileSync(`${proc.root}/snapshots/1/fs/new`, 'x');
    const compared = await diffs.failure('Diff', { left: await view('default/2/empty', ''), right: base, media_type: GZIP });
    assert.equal(compared.code, CODE.UNAVAILABLE, compared.details);
  });
});
