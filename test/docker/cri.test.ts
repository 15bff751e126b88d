/**
 * The Kubernetes node path: containerd 1.7's CRI plugin on `strata snapshotter`, driven through
 * the CRI API (runtime.v1) the way a kubelet drives it, with no network: the pause and test
 * images are pushed to a plain-HTTP docker-registry on 127.0.0.1 and pulled by CRI (the sandbox
 * image on RunPodSandbox, the test image with PullImage). A host-network pod runs a container
 * that writes into its rootfs; ExecSync reads it back, also after containerd restarts under the
 * running pod; the pod's snapshots are Strata's (List, Mounts, the snapshotter's log), and once
 * the pod and the image are removed containerd's GC removes them from Strata too. Everything is
 * stopped by pid, and nothing may stay mounted under the test's temp dirs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CriNode, FOREVER } from '../helpers/cri-node';
import { mountsUnder } from '../helpers/dockerd';
import { smallFileLayer } from '../helpers/image-archive';
import { SnapshotClient } from '../helpers/snapshotter-process';
import { needContainerd } from '../helpers/tiers';

const MARKER = 'strata-cri-image-marker\n';

interface SnapshotInfo {
  name: string;
  parent: string;
  kind: string;
  labels: Record<string, string>;
}

/** chainIds are the layers' chain ids (OCI image spec: sha256 of "parent-chain diff-id"). */
function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : `sha256:${createHash('sha256').update(`${out[out.length - 1]} ${d}`).digest('hex')}`);
  return out;
}

/** keyId is what a containerd snapshot key names after its `<namespace>/<n>/` prefix. */
function keyId(name: string): string {
  return name.replace(/^k8s\.io\/\d+\//, '');
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String((last as Error).message ?? last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('Kubernetes node path: containerd 1.7 CRI on strata snapshotter', { skip: needContainerd() }, () => {
  const s = {} as {
    dir: string;
    node: CriNode;
    snapClient: SnapshotClient;
    sandboxId: string;
    containerId: string;
    sandboxConfig: Record<string, unknown>;
  };

  const list = async (): Promise<SnapshotInfo[]> => (await s.snapClient.list()) as unknown as SnapshotInfo[];
  const logRecords = (): Array<Record<string, unknown>> =>
    readFileSync(s.node.snap.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    s.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-cri-'));
    const marker = await smallFileLayer(path.join(s.dir, 'marker.tar'), 'strata/marker', MARKER);
    s.node = await CriNode.start(s.dir, { appLayers: [marker], appRun: { cmd: ['/bin/sh', '-c', `echo written-by-container > /tmp/hello && ${FOREVER}`] } });
    s.snapClient = new SnapshotClient(s.node.snap.socket);
  });

  after(async () => {
    s.snapClient?.close();
    const leftovers = s.node ? await s.node.stop() : [];
    const under = s.dir ? mountsUnder(s.dir) : [];
    if (s.dir && process.env.STRATA_TEST_KEEP !== '1' && under.length === 0) await rm(s.dir, { recursive: true, force: true });
    assert.deepEqual(leftovers, [], 'mounts left under containerd’s dir');
    assert.deepEqual(under, [], 'mounts left under the test dir');
  });

  it('CRI answers Version and Status (runtime ready, no CNI so network not ready)', async () => {
    const v = await s.node.cri.runtime<{ runtime_name: string; runtime_version: string; runtime_api_version: string }>('Version', { version: 'v1' });
    assert.equal(v.runtime_name, 'containerd');
    assert.match(v.runtime_version, /^1\.7\.24/);
    assert.equal(v.runtime_api_version, 'v1');
    const st = await s.node.cri.runtime<{ status: { conditions: Array<{ type: string; status: boolean }> } }>('Status');
    const cond = Object.fromEntries(st.status.conditions.map((c) => [c.type, c.status]));
    assert.equal(cond.RuntimeReady, true);
    assert.equal(cond.NetworkReady, false);
  });

  it('PullImage pulls the test image from the loopback registry, unpacked into Strata', async () => {
    const pulled = await s.node.cri.image<{ image_ref: string }>('PullImage', { image: { image: s.node.image.ref } });
    assert.match(pulled.image_ref, /^sha256:[0-9a-f]{64}$/);
    const status = await s.node.cri.image<{ image: { id: string; repo_tags: string[]; repo_digests: string[] } | null }>('ImageStatus', { image: { image: s.node.image.ref } });
    assert.equal(status.image?.id, pulled.image_ref);
    assert.deepEqual(status.image?.repo_tags, [s.node.image.ref]);
    assert.deepEqual(status.image?.repo_digests, [`${s.node.image.ref.replace(/:1$/, '')}@${s.node.image.manifestDigest}`]);
    const images = await s.node.cri.image<{ images: Array<{ repo_tags: string[] }> }>('ListImages');
    assert.ok(images.images.some((i) => i.repo_tags.includes(s.node.image.ref)));

    // Both layers are committed snapshots in Strata, named by chain id, the second on the first.
    const [base, top] = chainIds(s.node.image.diffIds);
    const committed = (await list()).filter((i) => i.kind === 'COMMITTED');
    const byId = new Map(committed.map((i) => [keyId(i.name), i]));
    assert.ok(byId.has(base!), JSON.stringify(committed.map((i) => i.name)));
    assert.equal(byId.get(top!)?.parent, byId.get(base!)?.name);
  });

  it('ImageFsInfo reports the snapshotter root (the exported root) as the image filesystem', async () => {
    const fs = await s.node.cri.image<{ image_filesystems: Array<{ fs_id: { mountpoint: string }; used_bytes: { value: string } | null }> }>('ImageFsInfo');
    assert.equal(fs.image_filesystems.length, 1);
    assert.equal(fs.image_filesystems[0]!.fs_id.mountpoint, s.node.snap.root);
    assert.ok(existsSync(s.node.snap.root));
  });

  it('RunPodSandbox runs a host-network pod (pause image pulled on demand) on a Strata Prepare', async () => {
    s.sandboxConfig = {
      metadata: { name: 'strata-pod', uid: 'strata-pod-uid', namespace: 'default', attempt: 0 },
      // Empty: runc refuses a hostname without the pod's own UTS namespace (host network shares the host's).
      hostname: '',
      log_directory: path.join(s.dir, 'pod-logs'),
      labels: { app: 'strata' },
      annotations: { 'containerd.io/snapshot/strata-test': 'sandbox' },
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const r = await s.node.cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config: s.sandboxConfig });
    s.sandboxId = r.pod_sandbox_id;
    assert.match(s.sandboxId, /^[0-9a-f]{64}$/);

    const pods = await s.node.cri.runtime<{ items: Array<{ id: string; state: string }> }>('ListPodSandbox', { filter: { id: s.sandboxId } });
    assert.deepEqual(pods.items.map((p) => [p.id, p.state]), [[s.sandboxId, 'SANDBOX_READY']]);

    const sandbox = (await list()).find((i) => keyId(i.name) === s.sandboxId);
    assert.ok(sandbox, 'the sandbox has a snapshot keyed by its id');
    assert.equal(sandbox.kind, 'ACTIVE');
    assert.equal(keyId(sandbox.parent), chainIds(s.node.pause.diffIds)[0]);
    assert.equal(sandbox.labels['containerd.io/snapshot/strata-test'], 'sandbox', 'a pod annotation prefixed containerd.io/snapshot/ becomes a label');
  });

  it('CreateContainer + StartContainer: the container writes into its Strata rootfs and sees its image', async () => {
    const config = {
      metadata: { name: 'app', attempt: 0 },
      image: { image: s.node.image.ref },
      log_path: 'app.log',
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const created = await s.node.cri.runtime<{ container_id: string }>('CreateContainer', { pod_sandbox_id: s.sandboxId, config, sandbox_config: s.sandboxConfig });
    s.containerId = created.container_id;
    await s.node.cri.runtime('StartContainer', { container_id: s.containerId });

    const running = await eventually('the container runs and has written /tmp/hello', async () => {
      const st = await s.node.cri.runtime<{ status: { state: string } }>('ContainerStatus', { container_id: s.containerId });
      assert.equal(st.status.state, 'CONTAINER_RUNNING');
      const r = await s.node.cri.execSync(s.containerId, ['cat', '/tmp/hello']);
      return r.exitCode === 0 ? r : undefined;
    }, 20_000);
    assert.equal(running.stdout, 'written-by-container\n');
    const marker = await s.node.cri.execSync(s.containerId, ['cat', '/strata/marker']);
    assert.deepEqual([marker.exitCode, marker.stdout], [0, MARKER]);
    const ls = await s.node.cri.execSync(s.containerId, ['sh', '-c', 'ls /bin/busybox && grep " / " /proc/mounts']);
    assert.equal(ls.exitCode, 0, ls.stderr);
    assert.match(ls.stdout, /^\/bin\/busybox\n/);
    // Host network: the container is in the host's network namespace (and its own pid namespace).
    const ns = await s.node.cri.execSync(s.containerId, ['sh', '-c', 'readlink /proc/self/ns/net; readlink /proc/self/ns/pid']);
    const [net, pid] = ns.stdout.trim().split('\n');
    assert.equal(net, (await readlink('/proc/self/ns/net')));
    assert.notEqual(pid, (await readlink('/proc/self/ns/pid')));

    // The container's snapshot is Strata's: active on the image's top layer, and the write is in its upper dir.
    const info = (await list()).find((i) => keyId(i.name) === s.containerId);
    assert.ok(info, 'the container has a snapshot keyed by its id');
    assert.equal(info.kind, 'ACTIVE');
    assert.equal(keyId(info.parent), chainIds(s.node.image.diffIds)[1]);
    const mounts = (await s.snapClient.call('Mounts', { snapshotter: 'strata', key: info.name })) as { mounts: Array<{ type: string; options: string[] }> };
    const upper = mounts.mounts[0]?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    assert.ok(upper && upper.startsWith(`${s.node.snap.root}/`), JSON.stringify(mounts));
    assert.equal(await readFile(path.join(upper, 'tmp', 'hello'), 'utf8'), 'written-by-container\n');
  });

  it('the snapshotter log shows Prepare (never View) for the sandbox and the container, and no unexpected errors', () => {
    const records = logRecords();
    const ops = (id: string) => records.filter((r) => typeof r.key === 'string' && keyId(r.key) === id).map((r) => r.op);
    assert.ok(ops(s.sandboxId).includes('Prepare'), JSON.stringify(ops(s.sandboxId)));
    assert.ok(ops(s.containerId).includes('Prepare'), JSON.stringify(ops(s.containerId)));
    assert.ok(!ops(s.sandboxId).includes('View') && !ops(s.containerId).includes('View'));
    const errors = records.filter((r) => (r.level as number) >= 50);
    assert.deepEqual(errors, []);
  });

  it('containerd restarts under the running pod: the container keeps running and ExecSync still works', async () => {
    const before = s.node.ctrd.pid;
    await s.node.ctrd.restart();
    assert.notEqual(s.node.ctrd.pid, before);
    s.node.reconnect();
    const r = await eventually('ExecSync after the restart', async () => {
      const x = await s.node.cri.execSync(s.containerId, ['cat', '/tmp/hello', '/strata/marker']);
      return x.exitCode === 0 ? x : undefined;
    }, 30_000);
    assert.equal(r.stdout, `written-by-container\n${MARKER}`);
    const st = await s.node.cri.runtime<{ status: { state: string } }>('ContainerStatus', { container_id: s.containerId });
    assert.equal(st.status.state, 'CONTAINER_RUNNING');
  });

  it('stop and remove the container and the pod, RemoveImage: GC removes the pod’s and image’s snapshots from Strata', async () => {
    await s.node.cri.runtime('StopContainer', { container_id: s.containerId, timeout: 10 });
    const stopped = await s.node.cri.runtime<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: s.containerId });
    assert.equal(stopped.status.state, 'CONTAINER_EXITED');
    await s.node.cri.runtime('RemoveContainer', { container_id: s.containerId });
    await s.node.cri.runtime('StopPodSandbox', { pod_sandbox_id: s.sandboxId });
    await s.node.cri.runtime('RemovePodSandbox', { pod_sandbox_id: s.sandboxId });
    assert.deepEqual((await s.node.cri.runtime<{ containers: unknown[] }>('ListContainers')).containers, []);
    assert.deepEqual((await s.node.cri.runtime<{ items: unknown[] }>('ListPodSandbox')).items, []);

    await s.node.cri.image('RemoveImage', { image: { image: s.node.image.ref } });
    const gone = await s.node.cri.image<{ image: unknown }>('ImageStatus', { image: { image: s.node.image.ref } });
    assert.equal(gone.image, null);

    // What stays is the pause image (CRI keeps the sandbox image): its one layer, which the
    // test image shared. The pod's active snapshots and the test image's top layer go.
    const pauseChain = chainIds(s.node.pause.diffIds);
    const remaining = await eventually('Strata holds only the pause image’s layer', async () => {
      const names = (await list()).map((i) => keyId(i.name));
      return names.length === pauseChain.length ? names : undefined;
    }, 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; List: ${JSON.stringify((await list()).map((i) => [i.name, i.kind]))}`);
    });
    assert.deepEqual(remaining, pauseChain);
    // Strata's lines reach its log within a few milliseconds of the call (it writes them in bursts).
    const removed = (id: string) => logRecords().some((r) => r.op === 'Remove' && typeof r.key === 'string' && keyId(r.key) === id);
    await eventually('the Remove lines of the container and sandbox snapshots', async () => (removed(s.containerId) && removed(s.sandboxId)) || undefined, 10_000);
    assert.deepEqual(logRecords().filter((r) => (r.level as number) >= 50), []);
    assert.deepEqual(mountsUnder(s.node.ctrd.base), []);
    assert.deepEqual(mountsUnder(s.dir), []);
  });
});
