import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Layout } from '../../../src/store/layout';
import { planOverlayMount } from '../../../src/store/mount-plan';
import { refusalOf } from '../../../src/sys/mount-wire';

const HOME = '/var/lib/docker/plugins/strata';
const layout = new Layout(HOME);
const LINK = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ID = 'a'.repeat(64);

function mountOf(options: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 1, op: 'mount', target: `${HOME}/${ID}/merged`, options, ...extra };
}

describe('refusalOf (the check both sides of the mount helper run)', () => {
  it('accepts every shape of mount the plans make: absolute, relative, read-only, with feature options and a label with commas', () => {
    const features = ['index=off', 'redirect_dir=off', 'metacopy=off'];
    const label = 'system_u:object_r:container_file_t:s0:c1,c2';
    const small = { id: ID, lowers: [LINK], featureOptions: features };
    const many = { id: ID, lowers: Array.from({ length: 120 }, (_, i) => `${LINK.slice(0, 23)}${String(i).padStart(3, '2')}`), featureOptions: features };
    for (const req of [small, many]) {
      for (const readOnly of [false, true]) {
        for (const mountLabel of [undefined, label]) {
          const spec = planOverlayMount(layout, { ...req, readOnly, mountLabel });
          assert.equal(refusalOf({ id: 7, op: 'mount', target: spec.target, options: spec.options, cwd: spec.cwd }, HOME), undefined, spec.options.slice(0, 120));
        }
      }
    }
    assert.ok(planOverlayMount(layout, { ...many, readOnly: false }).cwd, 'the long chain is planned relative, so both forms were checked');
  });

  it('accepts unmounts below the home, lazy or not', () => {
    assert.equal(refusalOf({ id: 1, op: 'unmount', target: `${HOME}/${ID}/merged`, lazy: true }, HOME), undefined);
    assert.equal(refusalOf({ id: 2, op: 'unmount', target: `${HOME}/.probe-x/merged`, lazy: false }, HOME), undefined);
  });

  it('refuses targets, directories and working directories outside the home, by name', () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ id: 1, op: 'unmount', target: '/', lazy: true }, /target/],
      [{ id: 1, op: 'unmount', target: HOME, lazy: true }, /target/],
      [{ id: 1, op: 'unmount', target: `${HOME}/../docker/x`, lazy: true }, /target/],
      [{ id: 1, op: 'unmount', target: `${HOME}x/y`, lazy: true }, /target/],
      [{ id: 1, op: 'unmount', target: 'relative/merged', lazy: true }, /target/],
      [{ id: 1, op: 'unmount', target: `${HOME}/a\0b`, lazy: true }, /target/],
      [mountOf('lowerdir=/etc'), /lowerdir names a directory outside/],
      [mountOf(`lowerdir=${HOME}/l/${LINK},upperdir=/tmp/u,workdir=${HOME}/w`), /upperdir names/],
      [mountOf(`lowerdir=${HOME}/l/../../../etc`), /lowerdir names/],
      [mountOf('lowerdir=../x', { cwd: HOME }), /lowerdir names/],
      [mountOf('lowerdir=l/x:/etc', { cwd: HOME }), /lowerdir names/],
      [mountOf('lowerdir=l/x', { cwd: '/tmp' }), /working directory/],
      [mountOf('lowerdir=l/x'), /lowerdir names/],
    ];
    for (const [req, reason] of refused) assert.match(refusalOf(req, HOME) ?? 'accepted', reason, JSON.stringify(req));
  });

  it('refuses options the plans never make, and malformed requests', () => {
    const lower = `lowerdir=${HOME}/l/${LINK}`;
    const refused: Array<[unknown, RegExp]> = [
      [mountOf(`${lower},xino=on`), /xino=on.*not one Strata plans/],
      [mountOf(`${lower},index=on`), /not one Strata plans/],
      [mountOf(`${lower},${lower}`), /given twice/],
      [mountOf(`${lower},upperdir=${HOME}/u`), /upperdir and workdir/],
      [mountOf('index=off'), /no lowerdir/],
      [mountOf(`${lower},context="a",upperdir=${HOME}/u"`), /quote/],
      [mountOf(`${lower},context="x\ny"`), /control character or quote/],
      [mountOf(`${lower},${'x'.repeat(4096)}`), /longer than a page/],
      [mountOf(lower, { cwd: 5 }), /working directory/],
      [{ ...mountOf(lower), op: 'remount' }, /neither mount nor unmount/],
      [{ ...mountOf(lower), id: 0 }, /id/],
      [{ ...mountOf(lower), options: ['a'] }, /options/],
      [{ id: 1, op: 'unmount', target: `${HOME}/m`, lazy: 'yes' }, /lazy/],
      [null, /not a request/],
      ['mount', /not a request/],
    ];
    for (const [req, reason] of refused) assert.match(refusalOf(req, HOME) ?? 'accepted', reason, JSON.stringify(req).slice(0, 100));
  });

  it('names no path in a refusal', () => {
    const reason = refusalOf(mountOf('lowerdir=/etc/secret-place'), HOME) ?? '';
    assert.doesNotMatch(reason, /\/etc|\/var/);
  });
});
