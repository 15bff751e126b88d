/**
 * upperChanges and ChangeWriter over an upper dir that the kernel's overlayfs made: lower
 * layers built by hand, changes made through a real overlay mount (the snapshot mount options),
 * then the upper dir read back. Checked against the walking differ's rules: walk order, a
 * copy-up that changed nothing left out (content compared when times have no nanoseconds), an
 * opaque dir turned into whiteouts of the lower names it hides, a deleted dir as one whiteout,
 * parents before entries, hardlinks after the first name, sockets left out, and headers as Go's
 * FileInfoHeader without lookups writes them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ChangeWriter } from '../../src/archive/change-writer';
import { upperChanges, type UpperChange } from '../../src/archive/upper-changes';
import { LayerView } from '../../src/archive/view';
import { lsetxattr } from '../../src/sys/libc';
import { readWithOurReader } from '../helpers/tar-build';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

function write(root: string, rel: string, content: string, mtimeSec = 1_600_000_000): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
  fs.utimesSync(path.join(root, rel), mtimeSec, mtimeSec);
}

/** overlayUpper mounts `lowers` (nearest first) under an empty upper dir, runs `change` in the merged dir, and returns the upper dir. */
function overlayUpper(t: TestContext, lowers: string[], change: (merged: string) => void): string {
  const dir = makeTmpDir(t, 'strata-upper-');
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(dir, d));
  for (const d of [upper!, work!, merged!]) fs.mkdirSync(d);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `index=off,redirect_dir=off,lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`, merged!]);
  try {
    change(merged!);
  } finally {
    execFileSync('umount', [merged!]);
  }
  return upper!;
}

const listed = (changes: UpperChange[]) => changes.map((c) => `${c.kind} ${c.rel}`);

describe('upperChanges and ChangeWriter over a real overlay upper dir', { skip: needRoot() }, () => {
  it('reports what the walking differ reports, in its order', async (t) => {
    const base = makeTmpDir(t, 'strata-lower-');
    const [bottom, top] = [path.join(base, 'bottom'), path.join(base, 'top')];
    write(bottom, 'etc/passwd', 'root\n');
    write(bottom, 'etc/unchanged', 'same\n');
    write(bottom, 'gone/deep/file', 'x\n');
    write(bottom, 'opq/old', 'old\n');
    write(bottom, 'opq/kept', 'kept\n');
    write(bottom, 'a.b', 'dot\n');
    write(top, 'etc/hosts', 'localhost\n');
    write(top, 'bin/tool', 'tool\n');
    lsetxattr(path.join(top, 'bin/tool'), 'security.capability', CAP);

    const upper = overlayUpper(t, [top, bottom], (m) => {
      fs.appendFileSync(path.join(m, 'etc/passwd'), 'user\n');
      fs.chmodSync(path.join(m, 'etc/unchanged'), 0o644); // copied up, nothing changed
      fs.rmSync(path.join(m, 'gone'), { recursive: true });
      fs.rmSync(path.join(m, 'opq'), { recursive: true });
      fs.mkdirSync(path.join(m, 'opq'));
      fs.writeFileSync(path.join(m, 'opq/kept'), 'kept\n');
      fs.utimesSync(path.join(m, 'opq/kept'), 1_600_000_000, 1_600_000_000);
      fs.writeFileSync(path.join(m, 'opq/new'), 'new\n');
      fs.mkdirSync(path.join(m, 'a'));
      fs.writeFileSync(path.join(m, 'a/x'), 'x\n');
      fs.linkSync(path.join(m, 'a/x'), path.join(m, 'a/y'));
      // copied up with its capability, times set to what they were: unchanged
      fs.utimesSync(path.join(m, 'bin/tool'), 1_600_000_000, 1_600_000_000);
      execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(m, 'a/sock'))})`]);
    });

    const view = new LayerView([top, bottom]);
    const changes = [...upperChanges(upper, view)];
    assert.deepEqual(listed(changes), [
      'add a',
      'add a/sock',
      'add a/x',
      'add a/y',
      'modify etc/passwd',
      'delete gone',
      // rm -r and mkdir made opq opaque, with the mode and owner it had, so it is unchanged
      // itself; the lower names it hides become deletions; an identical kept file (same size,
      // mtime and bytes) is unchanged and left out.
      'add opq/new',
      'delete opq/old',
    ]);

    const writer = new ChangeWriter(upper, { whiteoutTime: { sec: 1_700_000_000, nsec: 600_000_000 } });
    const tar = Buffer.concat([...changes.flatMap((c) => [...writer.change(c)]), ...writer.finish()]);
    await readWithOurReader(tar).then((entries) => {
      const shown = entries.map(({ entry }) => `${entry.name} ${entry.type} ${entry.mode.toString(8)}${entry.type === 'hardlink' ? ` -> ${entry.linkname}` : ''}`);
      assert.deepEqual(shown, [
        'a/ dir 755',
        'a/x file 644',
        'a/y hardlink 644 -> a/x',
        'etc/ dir 755',
        'etc/passwd file 644',
        '.wh.gone file 0',
        'opq/ dir 755',
        'opq/new file 644',
        'opq/.wh.old file 0',
      ]);
      const whiteout = entries.find(({ entry }) => entry.name === '.wh.gone')!.entry;
      assert.equal(whiteout.mtimeNs, 1_700_000_001n * 1_000_000_000n, 'whiteout times are rounded to the second, as Go rounds them');
      assert.equal(whiteout.atimeNs, undefined);
      assert.equal(whiteout.uname, '');
    });
  });

  it('writes a copied-up file whose capability changed, with the capability as its only xattr', async (t) => {
    const lower = makeTmpDir(t, 'strata-lower-');
    write(lower, 'bin/tool', 'tool\n');
    const upper = overlayUpper(t, [lower], (m) => {
      lsetxattr(path.join(m, 'bin/tool'), 'security.capability', CAP);
      lsetxattr(path.join(m, 'bin/tool'), 'user.note', Buffer.from('not exported'));
    });
    const view = new LayerView([lower]);
    const changes = [...upperChanges(upper, view)];
    assert.deepEqual(listed(changes), ['modify bin/tool']);
    const writer = new ChangeWriter(upper, { whiteoutTime: { sec: 0, nsec: 0 } });
    const entries = await readWithOurReader(Buffer.concat([...changes.flatMap((c) => [...writer.change(c)]), ...writer.finish()]));
    assert.deepEqual(entries.map(({ entry }) => [entry.name, [...entry.xattrs.keys()]]), [['bin/', []], ['bin/tool', ['security.capability']]]);
    assert.equal(entries[1]!.entry.mtimeNs, 1_600_000_000n * 1_000_000_000n);
  });
});
