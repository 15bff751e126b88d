import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge, median, slope, type Point } from '../../../soak/drift';

const series = (values: number[]): Point[] => values.map((value, i) => ({ ops: i * 100, value }));

describe('median and slope', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]), /no values/);
  });

  it('fits a line by least squares', () => {
    assert.equal(slope(series([1, 2, 3, 4])), 0.01);
    assert.equal(slope(series([5, 5, 5])), 0);
  });
});

describe('judge', () => {
  it('calls a series that settles after the warm-up flat, even with one outlier at the end', () => {
    // warm-up 70→80, then flat at 82 with noise and one spike
    const v = judge('rss', 'MiB', series([70, 75, 80, 81, 82, 82, 83, 82, 81, 82, 83, 82, 82, 95, 82, 81, 82, 83, 82, 82]), { fraction: 0.05, absolute: 1 });
    assert.equal(v.drifts, false);
    assert.equal(v.early, 82);
    assert.equal(v.late, 82);
  });

  it('calls a steady climb a drift and reports its slope', () => {
    const v = judge('rss', 'MiB', series(Array.from({ length: 20 }, (_, i) => 80 + i)), { fraction: 0.05, absolute: 1 });
    assert.equal(v.drifts, true);
    assert.equal(v.early, 86);
    assert.equal(v.late, 97);
    assert.ok(Math.abs(v.slopePer1000 - 10) < 1e-9);
  });

  it('allows no growth at all for a count with a zero tolerance', () => {
    const fds = series([20, 23, 23, 23, 23, 23, 23, 23, 24, 24]);
    assert.equal(judge('fds', 'fds', fds, { fraction: 0, absolute: 0 }).drifts, true);
  });

  it('refuses to judge too few samples', () => {
    assert.throws(() => judge('rss', 'MiB', series([1, 2, 3]), { fraction: 0, absolute: 0 }), /too few/);
  });
});
