/**
 * Size limits on a Kubernetes node (containerd 1.7's CRI plugin on the Strata snapshotter):
 * containers get `--default-size-limit` (no label reaches their Prepare), while the pod
 * sandbox, whose Prepare carries the pod's `containerd.io/snapshot/` annotations as labels, gets
 * what `containerd.io/snapshot/max-size` asks for; removing pod and container frees both.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CriNode, FOREVER } from '../helpers/cri-node';
import { eventually } from '../helpers/eventually';
import { needContainerd } from '../helpers/tiers';
import { loopDevicesUnder, unmountAllUnder } from '../helpers/tmp-dir';

const MiB = 1024 * 1024;

/** limits maps each limited snapshot dir to its recorded limit in bytes. */
function limits(root: string): number[] {
  const dir = path.join(root, 'snapshots');
  return readdirSync(dir)
    .filter((id) => existsSync(path.join(dir, id, 'size-limit')))
    .map((id) => Number(readFileSync(path.join(dir, id, 'size-limit'), 'utf8')))
    .sort((a, b) => a - b);
}

describe('size limits on a Kubernetes node (containerd 1.7 CRI)', { skip: needContainerd() }, () => {
  const s = {} as { dir: string; node: CriNode };

  before(async () => {
    s.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-cri-limit-'));
    s.node = await CriNode.start(s.dir, { appRun: { cmd: ['/bin/sh', '-c', FOREVER] }, snapshotterArgs: ['--default-size-limit', '48M'] });
  });

  after(async () => {
    await s.node?.stop();
    if (s.dir) {
      unmountAllUnder(s.dir);
      await rm(s.dir, { recursive: true, force: true });
    }
  });

  it('a container gets the default, the sandbox the max-size its pod annotation asks for', async () => {
    const sandboxConfig = {
      metadata: { name: 'limited-pod', uid: 'limited-pod-uid', namespace: 'default', attempt: 0 },
      hostname: '',
      log_directory: path.join(s.dir, 'pod-logs'),
      annotations: { 'containerd.io/snapshot/max-size': String(96 * MiB) },
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id: sandboxId } = await s.node.cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig });
    await s.node.cri.image('PullImage', { image: { image: s.node.image.ref } });
    const config = {
      metadata: { name: 'app', attempt: 0 },
      image: { image: s.node.image.ref },
      log_path: 'app.log',
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { container_id: containerId } = await s.node.cri.runtime<{ container_id: string }>('CreateContainer', { pod_sandbox_id: sandboxId, config, sandbox_config: sandboxConfig });
    await s.node.cri.runtime('StartContainer', { container_id: containerId });
    assert.deepEqual(limits(s.node.snap.root), [48 * MiB, 96 * MiB], 'the container has the default, the sandbox its label');
    let df = '';
    await eventually(async () => {
      const r = await s.node.cri.execSync(containerId, ['sh', '-c', 'df -k / | tail -1']);
      assert.equal(r.exitCode, 0, r.stderr);
      df = r.stdout;
    }, 20_000);
    const size = Number(df.trim().split(/\s+/)[1]) * 1024;
    assert.ok(size <= 48 * MiB && size > 0.8 * 48 * MiB, `df / in the container shows ${size} bytes`);

    await s.node.cri.runtime('StopContainer', { container_id: containerId, timeout: 10 });
    await s.node.cri.runtime('RemoveContainer', { container_id: containerId });
    await s.node.cri.runtime('StopPodSandbox', { pod_sandbox_id: sandboxId });
    await s.node.cri.runtime('RemovePodSandbox', { pod_sandbox_id: sandboxId });
    await eventually(() => {
      assert.deepEqual(limits(s.node.snap.root), []);
      assert.deepEqual(loopDevicesUnder(s.node.snap.root), []);
    }, 30_000);
  });
});
