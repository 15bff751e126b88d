import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandFailedError } from '../../../src/errors';
import { run } from '../../../src/sys/exec';

describe('run (the one spawn site)', () => {
  it('returns stdout and stderr of a successful command', async () => {
    const r = await run(['sh', '-c', 'printf out; printf err >&2']);
    assert.deepEqual(r, { stdout: 'out', stderr: 'err' });
  });

  it('passes argv without a shell: metacharacters stay literal', async () => {
    const r = await run(['printf', '%s', '$(id) ; `x` | y']);
    assert.equal(r.stdout, '$(id) ; `x` | y');
  });

  it('runs in the given working directory', async () => {
    assert.equal((await run(['pwd'], { cwd: '/proc' })).stdout.trim(), '/proc');
  });

  it('rejects a non-zero exit with CommandFailedError carrying argv, exit code and the stderr tail', async () => {
    await assert.rejects(run(['sh', '-c', 'echo one >&2; echo two >&2; exit 3']), (err: unknown) => {
      assert.ok(err instanceof CommandFailedError);
      assert.equal(err.code, 'STRATA_ERR_CMD_FAILED');
      assert.equal(err.exitCode, 3);
      assert.deepEqual(err.argv, ['sh', '-c', 'echo one >&2; echo two >&2; exit 3']);
      assert.equal(err.stderrTail, 'one | two');
      return true;
    });
  });

  it('rejects a command that cannot start', async () => {
    await assert.rejects(run(['/nonexistent/strata-test-binary']), (err: unknown) => err instanceof CommandFailedError && err.exitCode === null);
  });

  it('kills a command at its timeout', async () => {
    const started = Date.now();
    await assert.rejects(run(['sleep', '10'], { timeoutMs: 200 }), CommandFailedError);
    assert.ok(Date.now() - started < 5000);
  });

  it('stops a command when its signal aborts', async () => {
    const ac = new AbortController();
    const p = run(['sleep', '10'], { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, CommandFailedError);
  });
});
