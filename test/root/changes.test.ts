/**
 * changes() and LayerView over hand-built layer directories with real overlay markers (0/0
 * whiteout devices, trusted.overlay.opaque), checked against the naive change rules of
 * protocol.md §2.5: parent directories as Modify, a deleted directory as one Delete, children
 * of an opaque directory deleted, an unchanged copy-up not reported.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ChangeKind, changes, type Change } from '../../src/archive/changes';
import { locate } from '../../src/archive/pack';
import { LayerView } from '../../src/archive/view';
import { lsetxattr, lutimesNs, mknod } from '../../src/sys/libc';
import { needRoot } from '../helpers/tiers';
import { makeTmpDir } from '../helpers/tmp-dir';

const S_IFCHR = 0o020000;
const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

type Kind = 'C' | 'A' | 'D';
const KIND: Record<ChangeKind, Kind> = { [ChangeKind.Modify]: 'C', [ChangeKind.Add]: 'A', [ChangeKind.Delete]: 'D' };

function show(list: Change[]): Array<[string, Kind]> {
  return list.map((c) => [c.path, KIND[c.kind]]);
}

class LayerBuilder {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }
  p(rel: string): string {
    return path.join(this.dir, rel);
  }
  mkdir(rel: string, mode = 0o755): this {
    fs.mkdirSync(this.p(rel), { recursive: true });
    fs.chmodSync(this.p(rel), mode);
    return this;
  }
  file(rel: string, content: string, opts: { mode?: number; sec?: number; nsec?: number; uid?: number } = {}): this {
    fs.mkdirSync(path.dirname(this.p(rel)), { recursive: true });
    fs.writeFileSync(this.p(rel), content);
    fs.chmodSync(this.p(rel), opts.mode ?? 0o644);
    if (opts.uid !== undefined) fs.lchownSync(this.p(rel), opts.uid, opts.uid);
    const t = { sec: opts.sec ?? 1_600_000_000, nsec: opts.nsec ?? 0 };
    lutimesNs(this.p(rel), t, t);
    return this;
  }
  whiteout(rel: string): this {
    fs.mkdirSync(path.dirname(this.p(rel)), { recursive: true });
    mknod(this.p(rel), S_IFCHR, 0, 0);
    return this;
  }
  opaque(rel: string): this {
    this.mkdir(rel);
    lsetxattr(this.p(rel), 'trusted.overlay.opaque', Buffer.from('y'));
    return this;
  }
  cap(rel: string): this {
    lsetxattr(this.p(rel), 'security.capability', CAP);
    return this;
  }
}

/** A base layer and a container diff on top of it, as a running container leaves it. */
function twoLayers(t: TestContext): { base: LayerBuilder; upper: LayerBuilder } {
  const root = makeTmpDir(t, 'strata-changes-');
  const base = new LayerBuilder(path.join(root, 'base'))
    .mkdir('etc')
    .file('etc/passwd', 'root:x:0:0\n')
    .file('etc/hosts', '127.0.0.1\n')
    .mkdir('opq')
    .file('opq/new', 'lower new')
    .file('opq/old', 'lower old')
    .mkdir('dir/sub')
    .file('dir/sub/file', 'deep')
    .file('dir/other', 'other')
    .file('same/f', 'unchanged', { sec: 1_500_000_000, nsec: 5 })
    .file('trunc', 'same second', { sec: 1_500_000_000, nsec: 987_654_321 })
    .file('mod/file', 'v1')
    .file('capfile', 'binary')
    .file('chmodded', 'x')
    .file('keep', 'untouched');
  const upper = new LayerBuilder(path.join(root, 'upper'))
    .mkdir('etc')
    .whiteout('etc/passwd')
    .opaque('opq')
    .file('opq/fresh', 'fresh')
    .whiteout('dir')
    // A copy-up that changed nothing (same mode, owner, size, mtime).
    .file('same/f', 'unchanged', { sec: 1_500_000_000, nsec: 5 })
    // A copy whose mtime lost its nanoseconds (a tar round trip): the same per Docker's rule.
    .file('trunc', 'same second', { sec: 1_500_000_000, nsec: 0 })
    .file('mod/file', 'v2 longer')
    .file('capfile', 'binary')
    .cap('capfile')
    .file('chmodded', 'x', { mode: 0o600 })
    .file('newdir/a', 'a')
    .file('added', 'new file');
  return { base, upper };
}

describe('changes (naive diff semantics)', { skip: needRoot() }, () => {
  it('reports adds, modifies and deletes like Docker, with parents as Modify', (t) => {
    const { base, upper } = twoLayers(t);
    const got = changes(new LayerView([upper.dir, base.dir]), new LayerView([base.dir]));
    assert.deepEqual(show(got), [
      ['/added', 'A'],
      ['/capfile', 'C'],
      ['/chmodded', 'C'],
      ['/dir', 'D'],
      ['/etc', 'C'],
      ['/etc/passwd', 'D'],
      ['/mod', 'C'],
      ['/mod/file', 'C'],
      ['/newdir', 'A'],
      ['/newdir/a', 'A'],
      ['/opq', 'C'],
      ['/opq/fresh', 'A'],
      ['/opq/new', 'D'],
      ['/opq/old', 'D'],
    ]);
  });

  it('reports a deleted directory once, without its children', (t) => {
    const { base, upper } = twoLayers(t);
    const got = show(changes(new LayerView([upper.dir, base.dir]), new LayerView([base.dir])));
    assert.deepEqual(
      got.filter(([p]) => p.startsWith('/dir')),
      [['/dir', 'D']],
    );
  });

  it('does not report an unchanged copy-up or its directory', (t) => {
    const { base, upper } = twoLayers(t);
    const got = show(changes(new LayerView([upper.dir, base.dir]), new LayerView([base.dir])));
    assert.equal(got.some(([p]) => p.startsWith('/same') || p === '/trunc' || p === '/keep'), false, JSON.stringify(got));
  });

  it('reports everything as added without a parent', (t) => {
    const { base } = twoLayers(t);
    const got = show(changes(new LayerView([base.dir]), undefined));
    assert.ok(got.every(([, k]) => k === 'A'));
    assert.deepEqual(
      got.map(([p]) => p),
      ['/capfile', '/chmodded', '/dir', '/dir/other', '/dir/sub', '/dir/sub/file', '/etc', '/etc/hosts', '/etc/passwd', '/keep', '/mod', '/mod/file', '/opq', '/opq/new', '/opq/old', '/same', '/same/f', '/trunc'],
    );
  });

  it('reports nothing between identical views', (t) => {
    const { base, upper } = twoLayers(t);
    assert.deepEqual(changes(new LayerView([upper.dir, base.dir]), new LayerView([upper.dir, base.dir])), []);
  });

  it('handles a directory re-created over a deletion (opaque) across three layers', (t) => {
    const { base, upper } = twoLayers(t);
    const top = new LayerBuilder(path.join(path.dirname(base.dir), 'top')).opaque('dir').file('dir/x', 'x');
    const three = new LayerView([top.dir, upper.dir, base.dir]);
    assert.deepEqual(show(changes(three, new LayerView([upper.dir, base.dir]))), [
      ['/dir', 'A'],
      ['/dir/x', 'A'],
    ]);
    const againstBase = show(changes(three, new LayerView([base.dir])));
    assert.deepEqual(
      againstBase.filter(([p]) => p.startsWith('/dir')),
      [
        ['/dir', 'C'],
        ['/dir/other', 'D'],
        ['/dir/sub', 'D'],
        ['/dir/x', 'A'],
      ],
    );
  });

  it('reports a file replaced by a directory as Modify and its new children as Add', (t) => {
    const root = makeTmpDir(t, 'strata-changes-');
    const base = new LayerBuilder(path.join(root, 'base')).file('thing', 'was a file');
    const upper = new LayerBuilder(path.join(root, 'upper')).mkdir('thing').file('thing/inside', 'i');
    assert.deepEqual(show(changes(new LayerView([upper.dir, base.dir]), new LayerView([base.dir]))), [
      ['/thing', 'C'],
      ['/thing/inside', 'A'],
    ]);
  });
});

describe('LayerView', { skip: needRoot() }, () => {
  it('shows the merged tree: top layer wins, whiteouts hide, opaque directories hide lower children', (t) => {
    const { base, upper } = twoLayers(t);
    const view = new LayerView([upper.dir, base.dir]);
    const root = view.children('', view.rootLayers());
    assert.deepEqual([...root.keys()].sort(), ['added', 'capfile', 'chmodded', 'etc', 'keep', 'mod', 'newdir', 'opq', 'same', 'trunc']);
    assert.equal(root.get('keep')!.layer, 1);
    assert.equal(root.get('added')!.layer, 0);
    assert.deepEqual(root.get('etc')!.dirLayers, [0, 1], 'a directory in both layers merges');
    assert.deepEqual(root.get('opq')!.dirLayers, [0], 'an opaque directory does not merge with lower copies');
    assert.deepEqual([...view.children('etc', root.get('etc')!.dirLayers!).keys()], ['hosts']);
    assert.deepEqual([...view.children('opq', root.get('opq')!.dirLayers!).keys()], ['fresh']);
  });

  it('locate finds the layer file that provides a visible path', (t) => {
    const { base, upper } = twoLayers(t);
    const view = new LayerView([upper.dir, base.dir]);
    assert.equal(locate(view, 'keep')?.toString(), path.join(base.dir, 'keep'));
    assert.equal(locate(view, 'mod/file')?.toString(), path.join(upper.dir, 'mod/file'));
    assert.equal(locate(view, 'etc/hosts')?.toString(), path.join(base.dir, 'etc/hosts'));
    assert.equal(locate(view, 'opq/fresh')?.toString(), path.join(upper.dir, 'opq/fresh'));
    for (const hidden of ['etc/passwd', 'opq/new', 'dir', 'dir/other', 'nope', 'keep/below']) {
      assert.equal(locate(view, hidden), undefined, hidden);
    }
  });

  it('an opaque root hides every lower layer', (t) => {
    const root = makeTmpDir(t, 'strata-view-');
    const base = new LayerBuilder(path.join(root, 'base')).file('old', 'o');
    const upper = new LayerBuilder(path.join(root, 'upper')).file('new', 'n');
    lsetxattr(upper.dir, 'trusted.overlay.opaque', Buffer.from('y'));
    const view = new LayerView([upper.dir, base.dir]);
    assert.deepEqual(view.rootLayers(), [0]);
    assert.deepEqual([...view.children('', view.rootLayers()).keys()], ['new']);
  });
});
