/**
 * docker build on Strata, offline, with the classic builder and with BuildKit (DOCKER_BUILDKIT=1
 * in the client's environment; BuildKit drives the driver directly with its own snapshot keys).
 * The same context is built on overlay2 and on Strata: a multi-stage Dockerfile with RUN, COPY
 * (with --from and --chown), ADD of a local tar and of a file, deletions and an opaque
 * directory. The resulting images must match: layer directories, layer tars from
 * `docker save`, and the root filesystem a container sees.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBusyboxLayer, materializeTree, tarDirectory, writeImageArchive } from '../helpers/corpus';
import type { TestDaemon } from '../helpers/dockerd';
import {
  compareTars,
  differences,
  imageLayerDirs,
  mergedDir,
  onBoth,
  savedLayers,
  startPair,
  stopPair,
  viewTree,
  type Pair,
} from '../helpers/oracle';
import { needDocker } from '../helpers/tiers';

const BASE = 'busybox:strata';

const DOCKERFILE = `
FROM ${BASE} AS builder
RUN mkdir -p /out && echo built > /out/artifact && chmod 4755 /out/artifact
COPY src/ /src/
RUN cat /src/a.txt /src/sub/b.txt > /out/from-copy

FROM ${BASE}
COPY --from=builder /out /opt/out
ADD archive.tar /opt/extracted/
ADD plain.txt /opt/plain.txt
COPY --chown=1000:1000 src/a.txt /home/user/a.txt
RUN rm /bin/vi && mkdir -p /var/data && echo x > /var/data/x && rm -rf /tmp && mkdir -m 1777 /tmp
RUN ln -s /opt/out/artifact /bin/artifact && chown -h 1000:1000 /bin/artifact
WORKDIR /work
`;

/** buildContext writes the build context: the Dockerfile, sources with set modes, a tar for ADD. */
async function buildContext(dir: string, work: string): Promise<void> {
  await materializeTree(dir, [
    { kind: 'file', path: 'src/a.txt', data: 'a\n', mode: 0o640 },
    { kind: 'file', path: 'src/sub/b.txt', data: 'b\n', mode: 0o755, mtime: '1500000000.25' },
    { kind: 'file', path: 'plain.txt', data: 'plain\n', mode: 0o600 },
  ]);
  const archived = path.join(work, 'to-add');
  await materializeTree(archived, [
    { kind: 'file', path: 'x/setuid', data: 'x\n', mode: 0o4755, uid: 1000, gid: 1000, xattrs: { 'user.added': 'by ADD' } },
    { kind: 'symlink', path: 'x/link', target: 'setuid' },
    { kind: 'dir', path: 'x/empty', mode: 0o700 },
  ]);
  await tarDirectory(archived, path.join(dir, 'archive.tar'));
  await writeFile(path.join(dir, 'Dockerfile'), DOCKERFILE);
}

describe('docker build on strata matches overlay2, with the classic builder and with BuildKit', { skip: needDocker() }, () => {
  let pair: Pair<TestDaemon>;
  let work = '';
  let context = '';
  let freshSince = 0n;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-build-'));
    context = path.join(work, 'context');
    await buildContext(context, work);
    const base = await writeImageArchive(path.join(work, 'base.tar'), [{ tag: BASE, layers: [await buildBusyboxLayer(work)] }]);
    freshSince = BigInt(Date.now() - 1000) * 1_000_000n;
    pair = await startPair();
    await onBoth(pair, (d) => d.docker(['load', '-i', base]));
  });

  after(async () => {
    await stopPair(pair);
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const [builder, buildkit] of [['classic', '0'], ['buildkit', '1']] as const) {
    const tag = `built/${builder}:1`;

    it(`${builder}: builds offline on both`, async () => {
      const env = { ...process.env, DOCKER_BUILDKIT: buildkit };
      await onBoth(pair, (d) => d.docker(['build', '--network', 'none', '-t', tag, context], { env, timeoutMs: 600_000 }));
      const out = await pair.strata.docker(['run', '--rm', '--network', 'none', tag, 'sh', '-c', 'cat /opt/out/artifact /opt/out/from-copy /opt/plain.txt; pwd; ls /bin/vi 2>&1; ls -A /tmp']);
      assert.equal(out.stdout, 'built\na\nb\nplain\n/work\nls: /bin/vi: No such file or directory\n');
    });

    it(`${builder}: the image layers are the same directories and the same tars`, async () => {
      const dirs = await onBoth(pair, (d) => imageLayerDirs(d, tag));
      assert.equal(dirs.strata.length, dirs.overlay2.length, 'as many layers');
      for (let i = 0; i < dirs.strata.length; i++) {
        const diff = differences(viewTree(dirs.overlay2[i]!, freshSince), viewTree(dirs.strata[i]!, freshSince));
        assert.deepEqual(diff, [], `layer ${i} differs:\n${diff.join('\n')}`);
      }
      for (let i = 1; i < dirs.strata.length; i++) {
        await compareTars(pair, freshSince, async (d, dir) => (await savedLayers(d, tag, dir))[i]!, `layer ${i} tar`);
      }
    });

    it(`${builder}: a container of the image sees the same root filesystem`, async () => {
      const c = `${builder}-view`;
      await onBoth(pair, (d) => d.docker(['run', '-d', '--network', 'none', '--name', c, tag, 'sleep', '3600']));
      try {
        const trees = await onBoth(pair, async (d) => viewTree(await mergedDir(d, c), freshSince));
        assert.deepEqual(differences(trees.overlay2, trees.strata), []);
        const setuid = JSON.parse(trees.strata.get('opt/extracted/x/setuid')!) as { perm: number; uid: number; xattrs: Record<string, string> };
        // The classic builder commits each step with the driver's Diff, which (like overlay2's)
        // exports only security.capability; BuildKit makes its layers with its own differ.
        const userXattr = builder === 'classic' ? undefined : Buffer.from('by ADD').toString('hex');
        assert.deepEqual([setuid.perm, setuid.uid, setuid.xattrs['user.added']], [0o4755, 1000, userXattr]);
      } finally {
        await onBoth(pair, (d) => d.docker(['rm', '-f', c]));
      }
    });
  }

  it('BuildKit drove Strata with its own snapshot keys', async () => {
    const log = await readFile(path.join(pair.strata.base, 'strata.log'), 'utf8');
    const created = [...log.matchAll(/"op":"Create","id":"([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(created.some((id) => !/^[0-9a-f]{64}(-init)?$/.test(id)), `a non-Docker id among ${created.join(', ')}`);
  });
});
