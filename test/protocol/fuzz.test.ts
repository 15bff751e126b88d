/**
 * Hostile input on the wire, against the real server on a unix socket with a real store: a
 * table of malformed, mistyped, oversized and path-like requests plus a seeded random batch
 * (STRATA_FUZZ_SEED overrides the seed). Every request must get a non-200 reply with a string
 * Err, the server must keep serving, and neither a canary tree beside the home nor the home's
 * existing layers may change.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec } from '../helpers/dockerd';
import { BAD_IDS, BAD_INITS, BAD_LABELS, ID_METHODS, MALFORMED_JSON, WRONG_FIELDS, WRONG_TYPES } from '../helpers/hostile-requests';
import { smallFileLayer, tarDirectory } from '../helpers/image-archive';
import { StrataProcess, request, requestOversized, type Reply } from '../helpers/strata-process';
import { mountPointsUnder, removeTmpDir } from '../helpers/tmp-dir';
import { needRoot } from '../helpers/tiers';
import { treeDigest } from '../helpers/tree-digest';

const SEED = Number(process.env.STRATA_FUZZ_SEED ?? 0x5eed5);
const RANDOM_CASES = 300;

/** mulberry32: a small seeded PRNG, so that a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UNKNOWN_PATHS = ['/GraphDriver.Nope', '/Foo', '/', '/GraphDriver.Create/../GraphDriver.Remove', '/graphdriver.create', '/GraphDriver.Create%00', '/Plugin.Deactivate'];

describe('hostile requests against the real server', { skip: needRoot() }, () => {
  let dir: string;
  let home: string;
  let canary: string;
  let strata: StrataProcess;
  let canaryDigest: string;
  const layerDigests = new Map<string, string>();
  let homeEntries: string[];
  let cases = 0;

  const digestLayers = () => new Map(['keep1', 'keep2', 'victim'].map((id) => [id, treeDigest(path.join(home, id), ['committed', 'merged'])]));

  async function expectRefused(what: string, reply: Promise<Reply>): Promise<void> {
    cases++;
    const r = await reply;
    assert.notEqual(r.status, 200, `${what}: refused (got ${r.status} ${r.text.slice(0, 200)})`);
    assert.equal(typeof r.json?.Err, 'string', `${what}: replied with {"Err"}: ${r.text.slice(0, 200)}`);
    assert.ok((r.json!.Err as string).length > 0, `${what}: a non-empty Err`);
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-fuzz-'));
    home = path.join(dir, 'home');
    canary = path.join(dir, 'canary');
    mkdirSync(path.join(canary, 'etc'), { recursive: true });
    writeFileSync(path.join(canary, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(path.join(canary, 'secret'), 'do not touch\n');
    symlinkSync('etc/passwd', path.join(canary, 'link'));
    strata = new StrataProcess(dir);
    await strata.start();
    assert.equal((await strata.call('GraphDriver.Init', { Home: home, Opts: null, UIDMaps: null, GIDMaps: null })).status, 200);
    const tar1 = await readFile(await smallFileLayer(path.join(dir, 'l1.tar'), 'etc/one.txt', 'one\n'));
    const tar2 = await readFile(await smallFileLayer(path.join(dir, 'l2.tar'), 'etc/two.txt', 'two\n'));
    assert.equal((await strata.call('GraphDriver.Create', { ID: 'keep1' })).status, 200);
    assert.equal((await strata.applyDiff('keep1', '', tar1)).status, 200);
    assert.equal((await strata.call('GraphDriver.Create', { ID: 'keep2', Parent: 'keep1' })).status, 200);
    assert.equal((await strata.applyDiff('keep2', 'keep1', tar2)).status, 200);
    assert.equal((await strata.call('GraphDriver.Create', { ID: 'victim', Parent: 'keep2' })).status, 200);
    canaryDigest = treeDigest(canary);
    for (const [k, v] of digestLayers()) layerDigests.set(k, v);
    homeEntries = readdirSync(home).sort();
  });

  after(async () => {
    await strata?.kill();
    if (dir) removeTmpDir(dir);
  });

  it('refuses malformed JSON, wrong types, unknown methods and oversized bodies', async () => {
    for (const m of ID_METHODS) {
      for (const body of MALFORMED_JSON) await expectRefused(`${m} ${JSON.stringify(body)}`, strata.call(`GraphDriver.${m}`, body));
      for (const body of WRONG_TYPES) await expectRefused(`${m} ${JSON.stringify(body)}`, strata.call(`GraphDriver.${m}`, body));
    }
    for (const [methods, body] of WRONG_FIELDS) for (const m of methods) await expectRefused(`${m} ${JSON.stringify(body)}`, strata.call(`GraphDriver.${m}`, body));
    for (const body of BAD_INITS) await expectRefused(`Init ${JSON.stringify(body)}`, strata.call('GraphDriver.Init', body));
    for (const p of UNKNOWN_PATHS) await expectRefused(`POST ${p}`, request(strata.socket, p, '{}'));
    const huge = Buffer.from(JSON.stringify({ ID: 'keep1', Pad: 'p'.repeat(2 * 1024 * 1024) }));
    for (const m of ['Create', 'Get', 'Init']) await expectRefused(`${m} with a 2 MiB body`, requestOversized(strata.socket, `/GraphDriver.${m}`, huge));
  });

  it('refuses path-like, separator-laden and oversized ids and mount labels everywhere', async () => {
    for (const m of ID_METHODS) {
      for (const id of BAD_IDS) {
        await expectRefused(`${m} ID=${JSON.stringify(id.slice(0, 20))}`, strata.call(`GraphDriver.${m}`, { ID: id }));
        // An empty Parent means "no parent", which is valid.
        if (id !== '' && ['Create', 'CreateReadWrite', 'Changes', 'DiffSize', 'Diff'].includes(m)) {
          await expectRefused(`${m} Parent=${JSON.stringify(id.slice(0, 20))}`, strata.call(`GraphDriver.${m}`, { ID: 'fresh', Parent: id }));
        }
      }
    }
    for (const label of BAD_LABELS) {
      await expectRefused(`Get label ${JSON.stringify(label.slice(0, 30))}`, strata.call('GraphDriver.Get', { ID: 'keep2', MountLabel: label }));
      await expectRefused(`Create label ${JSON.stringify(label.slice(0, 30))}`, strata.call('GraphDriver.Create', { ID: 'fresh', MountLabel: label }));
    }
    for (const id of BAD_IDS) {
      const q = encodeURIComponent(id);
      await expectRefused(`ApplyDiff id=${JSON.stringify(id.slice(0, 20))}`, request(strata.socket, `/GraphDriver.ApplyDiff?id=${q}&parent=`, Buffer.alloc(1024)));
      if (id !== '') await expectRefused(`ApplyDiff parent=${JSON.stringify(id.slice(0, 20))}`, request(strata.socket, `/GraphDriver.ApplyDiff?id=victim&parent=${q}`, Buffer.alloc(1024)));
    }
    await expectRefused('ApplyDiff with raw ../ in the query', request(strata.socket, '/GraphDriver.ApplyDiff?id=../keep1&parent=', Buffer.alloc(1024)));
    await expectRefused('ApplyDiff without an id', request(strata.socket, '/GraphDriver.ApplyDiff', Buffer.alloc(1024)));
  });

  it('refuses ApplyDiff to a missing layer, to a layer with data, with a wrong parent, or with a hostile or random tar', async () => {
    const valid = await readFile(await smallFileLayer(path.join(dir, 'l3.tar'), 'three.txt', 'three\n'));
    await expectRefused('ApplyDiff to a layer that does not exist', strata.applyDiff('nosuchlayer', '', valid));
    await expectRefused('ApplyDiff to a layer that already holds data', strata.applyDiff('keep1', '', valid));
    await expectRefused('ApplyDiff with the wrong parent', strata.applyDiff('victim', 'keep1', valid));
    await expectRefused('ApplyDiff with no parent to a layer that has one', strata.applyDiff('victim', '', valid));
    // A tar that climbs out of the layer, made with GNU tar's own --transform.
    mkdirSync(path.join(dir, 'evil'), { recursive: true });
    writeFileSync(path.join(dir, 'evil', 'secret'), 'overwritten\n');
    const evilTar = path.join(dir, 'evil.tar');
    await exec('tar', ['-C', path.join(dir, 'evil'), '--transform', 's,^secret$,../../canary/secret,', '-P', '-cf', evilTar, 'secret']);
    await expectRefused('ApplyDiff of a tar escaping with ../', strata.applyDiff('victim', 'keep2', await readFile(evilTar)));
    await tarDirectory(path.join(dir, 'evil'), path.join(dir, 'plain.tar'));
    const rand = prng(SEED ^ 0xa5a5);
    const plain = await readFile(path.join(dir, 'plain.tar'));
    for (let i = 0; i < 40; i++) {
      const size = Math.floor(rand() * 64 * 1024);
      const bytes = Buffer.from(Array.from({ length: size }, () => Math.floor(rand() * 256)));
      // Half of the cases start like a real tar, then turn into noise or stop short.
      const body = i % 2 === 0 ? bytes : Buffer.concat([plain.subarray(0, 512 + Math.floor(rand() * 1024)), bytes.subarray(0, size % 700)]);
      await expectRefused(`ApplyDiff of ${body.length} random bytes (case ${i})`, strata.applyDiff('victim', 'keep2', body));
    }
    assert.deepEqual(readdirSync(path.join(home, 'victim', 'diff')), [], 'the layer stays empty after every refused diff');
  });

  it(`refuses ${RANDOM_CASES} seeded random requests (seed ${SEED})`, async () => {
    const rand = prng(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const noise = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(rand() * 0x3000))).join('');
    const badId = () => {
      const base = noise(Math.floor(rand() * 40));
      const at = Math.floor(rand() * (base.length + 1));
      return base.slice(0, at) + pick(['/', ',', ':', '\0', '\n', '..', ' ', '"']) + base.slice(at);
    };
    const badValue = (): unknown => pick<() => unknown>([badId, () => rand() * 1e9, () => null, () => [badId()], () => ({ ID: badId() }), () => rand() < 0.5, () => 'q'.repeat(129 + Math.floor(rand() * 20000))])();
    for (let i = 0; i < RANDOM_CASES; i++) {
      const method = pick([...ID_METHODS, 'Init', 'ApplyDiff']);
      if (method === 'ApplyDiff') {
        const url = `/GraphDriver.ApplyDiff?id=${encodeURIComponent(badId())}&parent=${rand() < 0.5 ? '' : encodeURIComponent(noise(5))}`;
        await expectRefused(`random case ${i}: ApplyDiff`, request(strata.socket, url, Buffer.from(noise(100))));
        continue;
      }
      const body: Record<string, unknown> = method === 'Init' ? { Home: pick([badValue(), `rel/${noise(4)}`, '/']) } : { ID: badValue() };
      if (rand() < 0.5) body.Parent = pick([badValue(), 'keep1']);
      if (rand() < 0.3) body.MountLabel = pick([badValue(), noise(10)]);
      await expectRefused(`random case ${i}: ${method} ${JSON.stringify(body).slice(0, 120)}`, strata.call(`GraphDriver.${method}`, rand() < 0.1 ? JSON.stringify(body).slice(0, -1) : body));
      if (i % 50 === 49) assert.equal((await strata.call('GraphDriver.Status')).status, 200, 'the server keeps serving');
    }
  });

  it('kept serving, and nothing outside the home nor any existing layer changed', async () => {
    assert.ok(strata.pid, 'the server process is alive');
    assert.equal((await strata.call('GraphDriver.Status')).status, 200);
    const got = await strata.call('GraphDriver.Get', { ID: 'keep2' });
    assert.equal(got.status, 200);
    assert.equal((await strata.call('GraphDriver.Put', { ID: 'keep2' })).status, 200);
    // Cleanup ends idle mounts and waits for background deletions, as at a daemon shutdown.
    assert.equal((await strata.call('GraphDriver.Cleanup')).status, 200);
    assert.equal(treeDigest(canary), canaryDigest, 'the canary tree beside the home is unchanged');
    assert.deepEqual(digestLayers(), layerDigests, 'the existing layers are unchanged');
    assert.deepEqual(readdirSync(home).sort(), homeEntries, 'no new entries in the home');
    assert.deepEqual(readdirSync(path.join(home, '.strata', 'staging')), []);
    assert.deepEqual(mountPointsUnder(dir), []);
    console.log(`# fuzz cases: ${cases} (seed ${SEED}), all refused with a non-200 {"Err"}`);
  });
});
