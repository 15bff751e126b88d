import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LingeringDestination } from '../../../src/sys/lingering-log';
import { createLogger } from '../../../src/sys/log';
import { eventually } from '../../helpers/eventually';

function withLogFile(t: { after: (fn: () => void) => void }): { file: string; fd: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-lingering-'));
  const file = path.join(dir, 'log');
  const fd = openSync(file, 'a');
  t.after(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { file, fd };
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: number });

describe('LingeringDestination', () => {
  it('writes every line, in order, by itself once the burst is over', async (t) => {
    const { file, fd } = withLogFile(t);
    const log = createLogger({ level: 'info', destination: new LingeringDestination(fd) });
    for (let i = 0; i < 20; i++) log.info({ i }, `line ${i}`);
    await eventually(() => assert.deepEqual(lines(file).map((l) => l.msg), Array.from({ length: 20 }, (_, i) => `line ${i}`)));
  });

  it('writes what is buffered when flushed, before calling back', async (t) => {
    const { file, fd } = withLogFile(t);
    const log = createLogger({ level: 'info', destination: new LingeringDestination(fd) });
    log.info('first');
    log.debug('not logged at info');
    log.info('second');
    await new Promise<void>((resolve, reject) => log.flush((err) => (err ? reject(err) : resolve())));
    assert.deepEqual(lines(file).map((l) => l.msg), ['first', 'second']);
  });
});
