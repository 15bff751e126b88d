/**
 * userns-remap: both daemons run with `--userns-remap=default`, so dockerd sends Init the
 * dockremap ranges (/etc/subuid, /etc/subgid; dockerd creates the user when it is missing).
 * The same layers are loaded into overlay2 and Strata: the layer directories must hold the
 * same host-side owners, containers must run and see the same trees, a layer's new
 * directories and the work dir must belong to the remapped root, and diff, export and commit
 * must map owners back (a capability set inside the container, written by the kernel as a v3
 * capability with the remapped root, must come back as Docker's v2) exactly as overlay2 does.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_CACHE_DIR,
  buildBusyboxLayer,
  buildDebianLayer,
  buildWhiteoutLayers,
  kindsNodes,
  treeLayer,
  writeImageArchive,
  type ImageSpec,
} from '../helpers/corpus';
import type { TestDaemon } from '../helpers/dockerd';
import { compareMutation, differences, imageLayerDirs, mergedDir, onBoth, startPair, stopPair, viewTree, type Mutation, type Pair } from '../helpers/oracle';
import { needDocker } from '../helpers/tiers';

const REMAP = ['--userns-remap=default'];
const SUBORDINATE_RANGE = 65536;

// Inside a remapped container: a user, owners, a capability (the kernel stores it as v3 with
// the host id of the container's root), an opaque directory, a package removal.
const USERNS_MUTATION: Mutation = {
  script: [
    'set -e',
    'useradd -u 1234 alice 2> /dev/null',
    'cp /usr/sbin/getcap /usr/local/bin/capped && setcap cap_net_raw+ep /usr/local/bin/capped',
    'chown 1234:1234 /etc/motd',
    'mkdir -p /srv/data && chown 65534:65534 /srv/data',
    'rm -rf /usr/share/doc && mkdir /usr/share/doc && echo only > /usr/share/doc/README',
    'dpkg --log=/dev/null -r iputils-ping > /dev/null',
    'echo done',
  ].join('\n'),
  committed: ['usr/local/bin/capped', 'usr/share/doc/.wh..wh..opq', 'srv/data/', 'usr/bin/.wh.ping'],
};

/** subordinateStart reads where dockremap's range starts in /etc/subuid or /etc/subgid. */
async function subordinateStart(file: string): Promise<number> {
  const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith('dockremap:'));
  assert.ok(line, `${file} has a dockremap range`);
  return Number(line.split(':')[1]);
}

async function ownerAndMode(p: string): Promise<string> {
  const st = await lstat(p);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
}

describe('userns-remap: Strata maps ids as overlay2 does', { skip: needDocker() }, () => {
  let pair: Pair<TestDaemon>;
  let work = '';
  let freshSince = 0n;
  let root = { uid: 0, gid: 0 };
  const images: Record<'small' | 'debian' | 'outOfRange', ImageSpec> = {} as never;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-userns-'));
    const base = await buildBusyboxLayer(work);
    // The kinds layer minus the owners beyond the 65536 ids a remapped daemon can map.
    const inRange = kindsNodes().filter((n) => (n.uid ?? 0) < SUBORDINATE_RANGE && (n.gid ?? 0) < SUBORDINATE_RANGE);
    images.small = { tag: 'userns/small:1', layers: [base, await treeLayer(work, 'kinds-in-range', inRange), ...(await buildWhiteoutLayers(work))] };
    images.outOfRange = { tag: 'userns/out-of-range:1', layers: [base, await treeLayer(work, 'kinds-all', kindsNodes())] };
    images.debian = { tag: 'userns/debian:1', layers: [await buildDebianLayer(DEFAULT_CACHE_DIR)] };
    freshSince = BigInt(Date.now() - 1000) * 1_000_000n;
    pair = await startPair({ dockerdArgs: REMAP }, true);
    root = { uid: await subordinateStart('/etc/subuid'), gid: await subordinateStart('/etc/subgid') };
    const archive = await writeImageArchive(path.join(work, 'images.tar'), [images.small, images.debian]);
    await onBoth(pair, (d) => d.docker(['load', '-i', archive], { timeoutMs: 600_000 }));
  });

  after(async () => {
    await stopPair(pair);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('dockerd passed the remap to both drivers: their homes live under <data-root>/<uid>.<gid>', () => {
    for (const d of [pair.overlay2, pair.strata]) assert.equal(path.basename(path.dirname(d.home)), `${root.uid}.${root.gid}`);
  });

  for (const name of ['small', 'debian'] as const) {
    it(`${name}: image layer directories hold the same remapped owners`, async () => {
      const dirs = await onBoth(pair, (d) => imageLayerDirs(d, images[name].tag));
      for (let i = 0; i < dirs.strata.length; i++) {
        const diff = differences(viewTree(dirs.overlay2[i]!, freshSince), viewTree(dirs.strata[i]!, freshSince));
        assert.deepEqual(diff, [], `layer ${i} differs:\n${diff.join('\n')}`);
      }
      const top = viewTree(dirs.strata.at(-1)!, freshSince);
      const rootDir = JSON.parse(top.get('')!) as { uid: number; gid: number };
      assert.deepEqual([rootDir.uid, rootDir.gid], [root.uid, root.gid], 'the layer root belongs to the remapped root');
      if (name === 'small') {
        const kinds = viewTree(dirs.strata[1]!, freshSince);
        const user = JSON.parse(kinds.get('owners/user')!) as { uid: number; gid: number };
        assert.deepEqual([user.uid, user.gid], [root.uid + 1000, root.gid + 1000], 'container 1000 is stored as host root+1000');
        const implied = JSON.parse(viewTree(dirs.strata[2]!, freshSince).get('implied/a')!) as { uid: number; gid: number };
        assert.deepEqual([implied.uid, implied.gid], [root.uid, root.gid], 'an implied directory belongs to the remapped root');
      }
    });
  }

  it('a container runs on both; its layer dirs and work dir belong to the remapped root on both', async () => {
    const c = 'userns-run';
    const run = await onBoth(pair, (d) => d.docker(['run', '-d', '--network', 'none', '--name', c, images.small.tag, 'sleep', '3600']));
    try {
      assert.ok(run.strata.stdout.trim().length > 0);
      const ids = await onBoth(pair, (d) => d.docker(['exec', c, 'id', '-u']));
      assert.equal(ids.strata.stdout, '0\n', 'root inside');
      const owners = await onBoth(pair, async (d) => {
        const layer = path.dirname(await mergedDir(d, c));
        return Promise.all(['diff', 'work', 'work/work', 'merged'].map((p) => ownerAndMode(path.join(layer, p))));
      });
      assert.deepEqual(owners.strata, owners.overlay2);
      assert.ok(owners.strata.slice(0, 3).every((o) => o.startsWith(`${root.uid}:${root.gid} `)), owners.strata.join(', '));
      const trees = await onBoth(pair, async (d) => viewTree(await mergedDir(d, c), freshSince));
      assert.deepEqual(differences(trees.overlay2, trees.strata), []);
    } finally {
      await onBoth(pair, (d) => d.docker(['rm', '-f', c]));
    }
  });

  it('run, diff, export and commit of a changing Debian container match overlay2; the capability comes back as v2', async () => {
    const committed = await compareMutation(pair, images.debian.tag, 'userns-mutated', USERNS_MUTATION, freshSince);
    const capped = [...committed].find(([k]) => k.endsWith(' usr/local/bin/capped'))![1];
    const cap = (JSON.parse(capped) as { xattrs: Record<string, string> }).xattrs['security.capability']!;
    assert.equal(cap.length, 40, 'a 20-byte v2 capability');
    assert.equal(cap.slice(0, 8), '01000002', 'VFS_CAP_REVISION_2 with the effective bit');
  });

  it('both refuse a layer whose owners lie outside the remapped range', async () => {
    const archive = await writeImageArchive(path.join(work, 'out-of-range.tar'), [images.outOfRange]);
    const loaded = await onBoth(pair, (d) => d.docker(['load', '-i', archive], { allowFail: true }));
    assert.notEqual(loaded.overlay2.code, 0);
    assert.notEqual(loaded.strata.code, 0);
    assert.match(loaded.strata.stderr, /outside the configured id mapping/);
  });
});
