import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StrataError } from '../../../src/errors';
import { Layout } from '../../../src/store/layout';
import { MAX_MOUNT_DATA, planOverlayMount, type MountRequest } from '../../../src/store/mount-plan';

const FEATURES = ['index=off', 'redirect_dir=off', 'metacopy=off'];
const LINK_A = 'AAAAAAAAAAAAAAAAAAAAAAAAAA';
const LINK_B = 'BBBBBBBBBBBBBBBBBBBBBBBBBB';

/** link returns a distinct valid link id (26 base32 letters) for index i. */
function link(i: number): string {
  let s = '';
  for (let k = 0, n = i; k < 26; k++, n = Math.floor(n / 26)) s = String.fromCharCode(65 + (n % 26)) + s;
  return s;
}

/** The absolute mount data as protocol.md §2.4 step 5 describes it, built independently. */
function expectedAbsolute(home: string, req: MountRequest): string {
  const lowers = req.lowers.map((l) => `${home}/l/${l}`);
  const body = req.readOnly
    ? [`lowerdir=${[`${home}/${req.id}/diff`, ...lowers].join(':')}`]
    : [`lowerdir=${lowers.join(':')}`, `upperdir=${home}/${req.id}/diff`, `workdir=${home}/${req.id}/work`];
  return [...req.featureOptions, ...body, ...(req.mountLabel ? [`context="${req.mountLabel}"`] : [])].join(',');
}

/** The relative form (§2.4 step 6): lower file entries verbatim, paths relative to the home. */
function expectedRelative(req: MountRequest): string {
  const lowers = req.lowers.map((l) => `l/${l}`);
  const body = req.readOnly
    ? [`lowerdir=${[`${req.id}/diff`, ...lowers].join(':')}`]
    : [`lowerdir=${lowers.join(':')}`, `upperdir=${req.id}/diff`, `workdir=${req.id}/work`];
  return [...req.featureOptions, ...body, ...(req.mountLabel ? [`context="${req.mountLabel}"`] : [])].join(',');
}

describe('planOverlayMount', () => {
  it('builds the absolute read-write form with feature options first', () => {
    const layout = new Layout('/var/lib/docker/strata');
    const spec = planOverlayMount(layout, { id: 'c1', lowers: [LINK_A, LINK_B], readOnly: false, featureOptions: FEATURES });
    assert.deepEqual(spec, {
      type: 'overlay',
      source: 'overlay',
      target: '/var/lib/docker/strata/c1/merged',
      options:
        'index=off,redirect_dir=off,metacopy=off,' +
        `lowerdir=/var/lib/docker/strata/l/${LINK_A}:/var/lib/docker/strata/l/${LINK_B},` +
        'upperdir=/var/lib/docker/strata/c1/diff,workdir=/var/lib/docker/strata/c1/work',
    });
    assert.equal(spec.cwd, undefined);
  });

  // A managed plugin's home is <PropagatedMount>/<driver name>, e.g. /data/127.0.0.1:5000/strata:0.1.0.
  for (const home of ['/data/strata:0.1.0', '/data/127.0.0.1:5000/strata:0.1.0', '/data/a,b']) {
    it(`uses the relative form for a short chain when the home ${home} holds an option separator`, () => {
      const req: MountRequest = { id: 'c1', lowers: [LINK_A, LINK_B], readOnly: false, featureOptions: FEATURES };
      const spec = planOverlayMount(new Layout(home), req);
      assert.equal(spec.options, expectedRelative(req));
      assert.equal(spec.cwd, home);
      assert.equal(spec.target, `${home}/c1/merged`);
    });
  }

  it('builds the read-only form: own diff as the top lower, no upper or work dir', () => {
    const layout = new Layout('/h');
    const spec = planOverlayMount(layout, { id: 'img', lowers: [LINK_A], readOnly: true, featureOptions: ['index=off'] });
    assert.equal(spec.options, `index=off,lowerdir=/h/img/diff:/h/l/${LINK_A}`);
    assert.doesNotMatch(spec.options, /upperdir|workdir/);
    assert.equal(spec.target, '/h/img/merged');
    assert.equal(spec.cwd, undefined);
  });

  it('appends the label as a double-quoted context option', () => {
    const layout = new Layout('/h');
    const label = 'system_u:object_r:container_file_t:s0:c1,c2';
    const spec = planOverlayMount(layout, { id: 'c', lowers: [LINK_A], readOnly: false, mountLabel: label, featureOptions: [] });
    assert.equal(spec.options, `lowerdir=/h/l/${LINK_A},upperdir=/h/c/diff,workdir=/h/c/work,context="${label}"`);
  });

  it('works without feature options', () => {
    const spec = planOverlayMount(new Layout('/h'), { id: 'c', lowers: [LINK_A], readOnly: false, featureOptions: [] });
    assert.match(spec.options, /^lowerdir=/);
  });

  // Find a home length and id length for which the absolute form is exactly `target` bytes
  // (an odd number of lowers lets both parities be reached).
  function sizedRequest(readOnly: boolean, lowerCount: number, target: number, label?: string): { home: string; req: MountRequest } {
    const lowers = Array.from({ length: lowerCount }, (_, i) => link(i));
    for (let homeLen = 2; homeLen < 200; homeLen++) {
      const home = `/${'h'.repeat(homeLen - 1)}`;
      for (let idLen = 1; idLen <= 128; idLen++) {
        const req: MountRequest = { id: 'i'.repeat(idLen), lowers, readOnly, mountLabel: label, featureOptions: FEATURES };
        if (expectedAbsolute(home, req).length === target) return { home, req };
      }
    }
    throw new Error(`no sizes give ${target} bytes`);
  }

  for (const readOnly of [false, true]) {
    const form = readOnly ? 'read-only' : 'read-write';
    it(`keeps absolute paths when the ${form} data is exactly one page minus the NUL (${MAX_MOUNT_DATA})`, () => {
      assert.equal(MAX_MOUNT_DATA, 4095);
      const { home, req } = sizedRequest(readOnly, 61, MAX_MOUNT_DATA);
      const spec = planOverlayMount(new Layout(home), req);
      assert.equal(spec.options.length, MAX_MOUNT_DATA);
      assert.equal(spec.options, expectedAbsolute(home, req));
      assert.equal(spec.cwd, undefined);
      assert.equal(spec.target, `${home}/${req.id}/merged`);
    });

    it(`switches the ${form} data to relative l/ paths with cwd=home one byte over the limit`, () => {
      const { home, req } = sizedRequest(readOnly, 61, MAX_MOUNT_DATA + 1);
      const spec = planOverlayMount(new Layout(home), req);
      assert.equal(spec.options, expectedRelative(req));
      assert.ok(spec.options.length <= MAX_MOUNT_DATA);
      assert.equal(spec.cwd, home);
      assert.ok(spec.options.startsWith(`${FEATURES.join(',')},lowerdir=`), 'feature options stay first');
      // The target is still absolute: only the option data is relative.
      assert.equal(spec.target, `${home}/${req.id}/merged`);
    });
  }

  it('counts the label: data that fits without it switches to relative with it', () => {
    const label = 'system_u:object_r:container_file_t:s0:c100,c200';
    const { home, req } = sizedRequest(false, 60, MAX_MOUNT_DATA - 20);
    const without = planOverlayMount(new Layout(home), req);
    assert.equal(without.cwd, undefined);
    const withLabel = planOverlayMount(new Layout(home), { ...req, mountLabel: label });
    assert.equal(withLabel.cwd, home);
    assert.equal(withLabel.options, expectedRelative({ ...req, mountLabel: label }));
    assert.ok(withLabel.options.endsWith(`,context="${label}"`));
  });

  it('mounts 128 lowers (overlay2 maximum) from a long home with relative data inside one page', () => {
    const home = `/var/lib/docker/plugins/${'p'.repeat(64)}/propagated-mount/strata`;
    const lowers = Array.from({ length: 128 }, (_, i) => link(i));
    const req: MountRequest = { id: 'f'.repeat(64), lowers, readOnly: false, featureOptions: FEATURES };
    const spec = planOverlayMount(new Layout(home), req);
    assert.equal(spec.cwd, home);
    assert.ok(spec.options.length <= MAX_MOUNT_DATA, `${spec.options.length} bytes`);
    assert.equal(spec.options, expectedRelative(req));
  });

  it('fails with a clear error when even the relative form does not fit (label included)', () => {
    const lowers = Array.from({ length: 128 }, (_, i) => link(i));
    const req: MountRequest = {
      id: 'f'.repeat(64),
      lowers,
      readOnly: false,
      mountLabel: `system_u:object_r:${'t'.repeat(400)}:s0`,
      featureOptions: FEATURES,
    };
    assert.ok(expectedRelative(req).length > MAX_MOUNT_DATA);
    assert.throws(
      () => planOverlayMount(new Layout('/h'), req),
      (err: unknown) => err instanceof StrataError && err.code === 'STRATA_ERR_ARG_INVALID' && /page/.test(err.message),
    );
    // The same chain without the label fits.
    const spec = planOverlayMount(new Layout('/h'), { ...req, mountLabel: undefined });
    assert.ok(spec.options.length <= MAX_MOUNT_DATA);
  });
});
