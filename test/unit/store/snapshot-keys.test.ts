import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../../src/errors';
import { MAX_KEY_BYTES, MAX_LABEL_BYTES, MAX_LABELS_BYTES, MAX_SIZE_LABEL, checkKey, checkLabels, sizeLimitLabel, takesDefaultSizeLimit } from '../../../src/store/snapshot-keys';

describe('snapshot keys', () => {
  it('takes containerd\'s keys as they are, spaces and slashes included', () => {
    for (const key of ['default/12/sha256:0f', 'default/3/extract-174 sha256:ab', 'k8s.io/9/' + 'a'.repeat(64), 'x', 'é/ü']) assert.equal(checkKey(key), key);
  });

  it('refuses empty keys, control characters and keys over the size bound', () => {
    assert.equal(MAX_KEY_BYTES, 4096);
    for (const key of ['', 'a\u0000b', 'a\nb', 'tab\there', 'del\u007f', 'x'.repeat(4097), 'é'.repeat(2049)]) assert.throws(() => checkKey(key), InvalidArgumentError, JSON.stringify(key.slice(0, 20)));
    assert.doesNotThrow(() => checkKey('x'.repeat(4096)));
  });
});

describe('snapshot labels', () => {
  it('keeps labels and drops empty values, which containerd stores as absent', () => {
    assert.deepEqual(checkLabels({ 'containerd.io/snapshot.ref': 'sha256:aa', gone: '' }), { 'containerd.io/snapshot.ref': 'sha256:aa' });
  });

  it("refuses a label over containerd's 4096 bytes of name and value, and too many bytes in all", () => {
    assert.equal(MAX_LABEL_BYTES, 4096);
    assert.doesNotThrow(() => checkLabels({ k: 'v'.repeat(4095) }));
    assert.throws(() => checkLabels({ k: 'v'.repeat(4096) }), InvalidArgumentError);
    const many: Record<string, string> = {};
    for (let i = 0; i < MAX_LABELS_BYTES / 4000 + 1; i++) many[`l${i}`] = 'v'.repeat(3990);
    assert.throws(() => checkLabels(many), InvalidArgumentError);
  });

  it('refuses empty label names and control characters in names', () => {
    assert.throws(() => checkLabels({ '': 'v' }), InvalidArgumentError);
    assert.throws(() => checkLabels({ 'a\u0000': 'v' }), InvalidArgumentError);
  });
});

describe('size limit labels', () => {
  it('reads containerd\'s max-size label in bytes (or with a unit), and refuses a bad value by name', () => {
    assert.equal(MAX_SIZE_LABEL, 'containerd.io/snapshot/max-size');
    assert.equal(sizeLimitLabel({}), undefined);
    assert.equal(sizeLimitLabel({ [MAX_SIZE_LABEL]: '268435456' }), 268435456);
    assert.equal(sizeLimitLabel({ [MAX_SIZE_LABEL]: '64M' }), 64 * 1024 * 1024);
    for (const bad of ['lots', '0', '1024', '-5']) {
      assert.throws(() => sizeLimitLabel({ [MAX_SIZE_LABEL]: bad }), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith(`invalid label ${MAX_SIZE_LABEL}=`), bad);
    }
  });

  it('gives the default limit to containers, not to unpacks nor to Docker\'s -init snapshots', () => {
    assert.equal(takesDefaultSizeLimit('k8s.io/9/' + 'a'.repeat(64)), true);
    assert.equal(takesDefaultSizeLimit('default/3/extract-174 sha256:ab'), false);
    assert.equal(takesDefaultSizeLimit('moby/4/' + 'b'.repeat(64) + '-init-key'), false);
  });
});
