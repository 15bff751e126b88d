/**
 * Request logging: one JSON line per request with op, id, status and ms (pino's sink pattern),
 * and never any file contents.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/sys/log';
import { dockerActivate, dockerApplyDiff, dockerCall } from '../helpers/raw-client';
import { initBody, startServer, type TestServer } from '../helpers/protocol-server';
import { packWithTarStream } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';

const SECRET = 'TOP-SECRET-FILE-CONTENT-7f3a9c';
const LAYER = '9a'.repeat(32);

describe('request logging', { skip: needRoot() }, () => {
  let srv: TestServer;
  const rawLines: string[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        rawLines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    srv = await startServer({ log: createLogger({ level: 'info', destination: sink }) });
  });
  after(async () => {
    await srv?.close();
  });

  it('writes one JSON line per request with op, id, status and ms, and no file contents', async () => {
    const sent: Array<{ op: string; id?: string; status: number }> = [];
    const record = async (op: string, id: string | undefined, p: Promise<{ status: number }>) => {
      const res = await p;
      sent.push({ op, id, status: res.status });
    };
    await record('Plugin.Activate', undefined, dockerActivate(srv.socket));
    await record('Init', undefined, dockerCall(srv.socket, 'GraphDriver.Init', initBody(srv.home)));
    await record('Create', LAYER, dockerCall(srv.socket, 'GraphDriver.Create', { ID: LAYER }));
    const tar = await packWithTarStream([{ header: { name: 'secret.txt', type: 'file', mode: 0o600 }, content: `${SECRET}\n`.repeat(50) }]);
    await record('ApplyDiff', LAYER, dockerApplyDiff(srv.socket, LAYER, '', tar));
    await record('Diff', LAYER, dockerCall(srv.socket, 'GraphDriver.Diff', { ID: LAYER }));
    await record('Get', LAYER, dockerCall(srv.socket, 'GraphDriver.Get', { ID: LAYER }));
    await record('Get', 'missing', dockerCall(srv.socket, 'GraphDriver.Get', { ID: 'missing' }));
    await record('Create', undefined, dockerCall(srv.socket, 'GraphDriver.Create', { ID: 5 }));
    await record('Status', undefined, dockerCall(srv.socket, 'GraphDriver.Status', {}));
    await sleep(50); // let the last onResponse hook run

    const lines = rawLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requestLines = lines.filter((l) => l.msg === 'request' || l.msg === 'request failed');
    assert.equal(requestLines.length, sent.length, 'exactly one line per request');
    for (const [i, line] of requestLines.entries()) {
      const want = sent[i]!;
      assert.equal(line.op, want.op, `line ${i}`);
      assert.equal(line.status, want.status, `status of ${want.op}`);
      assert.equal(typeof line.ms, 'number');
      assert.ok((line.ms as number) >= 0);
      if (want.id) assert.equal(line.id, want.id, `id of ${want.op}`);
      if (want.status === 200) assert.equal(line.msg, 'request');
      else {
        assert.equal(line.msg, 'request failed');
        assert.equal(typeof line.err, 'string');
      }
    }
    assert.equal(requestLines.filter((l) => l.status !== 200).length, 2);
    for (const l of rawLines) assert.ok(!l.includes(SECRET), `a log line leaks file contents: ${l.slice(0, 200)}`);
    await dockerCall(srv.socket, 'GraphDriver.Put', { ID: LAYER });
  });
});
