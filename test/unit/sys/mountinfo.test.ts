import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMountInfo, readMountInfo } from '../../../src/sys/mountinfo';

// Lines in the format of proc(5); the last ones have optional fields and escaped characters.
const SAMPLE = [
  '22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '35 22 0:32 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw',
  '120 22 0:45 / /var/lib/docker/strata/abc/merged rw,relatime shared:60 master:2 - overlay overlay rw,lowerdir=l/AAA:l/BBB,upperdir=abc/diff,workdir=abc/work,index=off',
  '121 22 0:46 / /tmp/with\\040space/and\\011tab/back\\134slash/nl\\012x rw - tmpfs my\\040src rw,size=1024k',
  '122 22 0:47 / /mnt/none rw - fuse.sshfs user@host:/a\\040b rw,user_id=0',
  '',
].join('\n');

describe('parseMountInfo', () => {
  const entries = parseMountInfo(SAMPLE);

  it('returns one entry per line', () => {
    assert.equal(entries.length, 5);
  });

  it('finds mount point, type, source and super options across optional fields', () => {
    assert.deepEqual(entries[0], { mountPoint: '/', fsType: 'ext4', source: '/dev/vda', options: 'rw' });
    assert.deepEqual(entries[2], {
      mountPoint: '/var/lib/docker/strata/abc/merged',
      fsType: 'overlay',
      source: 'overlay',
      options: 'rw,lowerdir=l/AAA:l/BBB,upperdir=abc/diff,workdir=abc/work,index=off',
    });
  });

  it('unescapes octal escapes (space, tab, newline, backslash) in mount point and source', () => {
    assert.equal(entries[3]!.mountPoint, '/tmp/with space/and\ttab/back\\slash/nl\nx');
    assert.equal(entries[3]!.source, 'my src');
    assert.equal(entries[3]!.fsType, 'tmpfs');
    assert.equal(entries[4]!.source, 'user@host:/a b');
    assert.equal(entries[4]!.fsType, 'fuse.sshfs');
  });

  it('skips malformed lines instead of inventing entries', () => {
    assert.deepEqual(parseMountInfo('garbage line\n1 2 3\n'), []);
    assert.deepEqual(parseMountInfo(''), []);
  });

  it('reads this process table, which always has /', async () => {
    const real = await readMountInfo();
    assert.ok(real.some((m) => m.mountPoint === '/'));
    assert.ok(real.some((m) => m.fsType === 'proc'));
  });
});
