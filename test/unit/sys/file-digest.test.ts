/** SHA-256 of files on the digest thread: real files, the same digest as in-process hashing, and refusals named without the path. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileDigests } from '../../../src/sys/file-digest';

describe('FileDigests', () => {
  let dir: string;
  const digests = new FileDigests();
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-digest-'));
  });
  after(async () => {
    await digests.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hashes a file as crypto does in-process, several at once, across MiB boundaries', async () => {
    const files = await Promise.all([0, 1, (1 << 20) + 17, 3 << 20].map(async (size, i) => {
      const bytes = randomBytes(size);
      const file = path.join(dir, `f${i}`);
      await writeFile(file, bytes);
      return { file, size, expected: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
    }));
    const got = await Promise.all(files.map((f) => digests.digest(f.file, f.size)));
    assert.deepEqual(got, files.map((f) => f.expected));
  });

  it('refuses a file of another size, a symlink and a missing file, without naming the path', async () => {
    const file = path.join(dir, 'sized');
    await writeFile(file, 'twelve bytes');
    await symlink(file, path.join(dir, 'link'));
    for (const [target, size, message] of [[file, 13, /is not a file of 13 bytes/], [path.join(dir, 'link'), 12, /could not be read \(ELOOP\)/], [path.join(dir, 'none'), 1, /could not be read \(ENOENT\)/]] as const) {
      const err = await digests.digest(target, size).then(() => assert.fail('should fail'), (e: Error) => e);
      assert.match(err.message, message);
      assert.ok(!err.message.includes(dir), err.message);
    }
    assert.equal(await digests.digest(file, 12), `sha256:${createHash('sha256').update('twelve bytes').digest('hex')}`, 'and goes on serving');
  });
});
