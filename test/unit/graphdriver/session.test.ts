/**
 * DriverSession: what GraphDriver.Init takes into use and remembers. The OpenStore here is a
 * stub that records its calls (no kernel is involved at this level).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError, NotInitialisedError } from '../../../src/errors';
import type { IdMapping } from '../../../src/idmap';
import type { LayerStore } from '../../../src/store/layer-store';
import { DriverSession, InitParamsSchema, type InitParams } from '../../../src/graphdriver/session';
import { createLogger } from '../../../src/sys/log';
import { makeTmpDir } from '../../helpers/tmp-dir';

const log = createLogger({ level: 'silent' });

function recordingOpen() {
  const calls: Array<{ params: InitParams; idMap: IdMapping }> = [];
  const fakeStore = { fake: true } as unknown as LayerStore;
  const open = async (params: InitParams, idMap: IdMapping) => {
    calls.push({ params, idMap });
    return fakeStore;
  };
  return { calls, open, fakeStore };
}

const params = (home: string, extra: Partial<InitParams> = {}): InitParams => ({ home, options: [], uidMaps: [], gidMaps: [], ...extra });

describe('DriverSession', () => {
  it('refuses store() before Init with NotInitialisedError', (t) => {
    const s = new DriverSession(makeTmpDir(t), recordingOpen().open, log);
    assert.throws(() => s.store(), NotInitialisedError);
  });

  it('opens the store on Init, with the id mapping, and remembers the parameters (0600)', async (t) => {
    const dir = makeTmpDir(t);
    const rec = recordingOpen();
    const s = new DriverSession(path.join(dir, 'state'), rec.open, log);
    const p = params('/var/lib/docker/strata', { uidMaps: [{ containerId: 0, hostId: 100000, size: 65536 }] });
    await s.init(p);
    assert.equal(s.store(), rec.fakeStore);
    assert.equal(rec.calls.length, 1);
    assert.equal(rec.calls[0]!.idMap.toHostUid(0), 100000);
    const file = path.join(dir, 'state', 'init.json');
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), p);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('resumes from the remembered Init (dockerd does not resend it to a restarted plugin)', async (t) => {
    const dir = makeTmpDir(t);
    const first = recordingOpen();
    await new DriverSession(dir, first.open, log).init(params('/data/me/gd:latest'));
    const second = recordingOpen();
    const restarted = new DriverSession(dir, second.open, log);
    assert.equal(await restarted.resume(), true);
    assert.equal(second.calls[0]!.params.home, '/data/me/gd:latest');
    assert.equal(restarted.store(), second.fakeStore);
  });

  it('resume without a remembered Init reports false and stays uninitialised', async (t) => {
    const s = new DriverSession(makeTmpDir(t), recordingOpen().open, log);
    assert.equal(await s.resume(), false);
    assert.throws(() => s.store(), NotInitialisedError);
  });

  it('takes strata.size as the default size limit and keeps it through a resume', async (t) => {
    const dir = makeTmpDir(t);
    const s = new DriverSession(dir, recordingOpen().open, log);
    await s.init(params('/var/lib/docker/strata', { options: ['strata.size=64M'] }));
    assert.deepEqual(s.options, { defaultSizeLimit: { bytes: 64 * 1024 * 1024, option: 'strata.size' } });
    const resumed = new DriverSession(dir, recordingOpen().open, log);
    assert.equal(await resumed.resume(), true);
    assert.deepEqual(resumed.options, s.options);
  });

  it('refuses unknown storage options', async (t) => {
    const rec = recordingOpen();
    const s = new DriverSession(makeTmpDir(t), rec.open, log);
    await assert.rejects(s.init(params('/var/lib/docker/strata', { options: ['overlay2.size=10G'] })), InvalidArgumentError);
    assert.equal(rec.calls.length, 0);
  });

  for (const home of ['relative/home', '', '/', '/var/lib/../lib/docker', '/var//lib/docker', '/var/lib/./docker']) {
    it(`refuses Home ${JSON.stringify(home)} before touching the filesystem`, async (t) => {
      const rec = recordingOpen();
      const dir = makeTmpDir(t);
      const s = new DriverSession(dir, rec.open, log);
      await assert.rejects(s.init(params(home)), InvalidArgumentError);
      assert.equal(rec.calls.length, 0, 'the store was not opened');
      assert.equal(fs.existsSync(path.join(dir, 'init.json')), false, 'nothing was remembered');
    });
  }

  it('InitParamsSchema accepts the homes dockerd sends', () => {
    for (const home of ['/var/lib/docker/strata', '/data/me/gd:latest', '/var/lib/docker/100000.100000/strata']) {
      assert.ok(InitParamsSchema.safeParse(params(home)).success, home);
    }
  });
});
