import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from '../../../src/store/locks';

/** A gate the test opens by hand, to hold a lock for as long as it wants. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('KeyedLock', () => {
  it('serialises holders of the same key in arrival order', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const g = gate();
    const first = lock.with(['a'], async () => {
      events.push('first start');
      await g.promise;
      events.push('first end');
      return 1;
    });
    const second = lock.with(['a'], async () => {
      events.push('second start');
      return 2;
    });
    const third = lock.with(['a'], async () => {
      events.push('third start');
      return 3;
    });
    await sleep(20);
    assert.deepEqual(events, ['first start'], 'later holders wait while the first holds the key');
    g.open();
    assert.deepEqual(await Promise.all([first, second, third]), [1, 2, 3]);
    assert.deepEqual(events, ['first start', 'first end', 'second start', 'third start']);
  });

  it('runs different keys concurrently', async () => {
    const lock = new KeyedLock();
    const g = gate();
    let bRan = false;
    const a = lock.with(['a'], () => g.promise);
    const b = lock.with(['b'], async () => {
      bRan = true;
    });
    await b;
    assert.equal(bRan, true, 'b finished while a still holds its key');
    g.open();
    await a;
  });

  it('releases the key when the holder throws', async () => {
    const lock = new KeyedLock();
    await assert.rejects(
      lock.with(['a'], async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await lock.with(['a'], async () => 'next'), 'next');
  });

  it('takes multiple keys without deadlock whatever order callers list them in', async () => {
    const lock = new KeyedLock();
    const active = new Set<string>();
    let overlaps = 0;
    const job = (keys: string[], tag: string) =>
      lock.with(keys, async () => {
        for (const k of keys) {
          if (active.has(k)) overlaps++;
          active.add(k);
        }
        await sleep(Math.random() * 3);
        for (const k of keys) active.delete(k);
        return tag;
      });
    const jobs: Array<Promise<string>> = [];
    for (let i = 0; i < 50; i++) {
      jobs.push(job(['x', 'y'], `xy${i}`), job(['y', 'x'], `yx${i}`), job(['x'], `x${i}`), job(['y', 'z', 'x'], `yzx${i}`));
    }
    const results = await Promise.race([Promise.all(jobs), sleep(5000).then(() => 'timeout' as const)]);
    assert.notEqual(results, 'timeout', 'multi-key holders deadlocked');
    assert.equal((results as string[]).length, 200);
    assert.equal(overlaps, 0, 'two holders of one key ran at the same time');
  });

  it('treats a repeated key in one call as one key (no self-deadlock)', async () => {
    const lock = new KeyedLock();
    const r = await Promise.race([lock.with(['a', 'a'], async () => 'ok'), sleep(1000).then(() => 'deadlock')]);
    assert.equal(r, 'ok');
  });

  it('a multi-key holder excludes single-key holders of each of its keys', async () => {
    const lock = new KeyedLock();
    const g = gate();
    const order: string[] = [];
    const both = lock.with(['p', 'q'], async () => {
      order.push('pq start');
      await g.promise;
      order.push('pq end');
    });
    while (!order.includes('pq start')) await sleep(1);
    const q = lock.with(['q'], async () => {
      order.push('q');
    });
    const p = lock.with(['p'], async () => {
      order.push('p');
    });
    const r = lock.with(['r'], async () => {
      order.push('r');
    });
    await r;
    await sleep(10);
    assert.deepEqual(order, ['pq start', 'r'], 'q and p wait for the holder of both');
    g.open();
    await Promise.all([both, q, p]);
    assert.deepEqual(order, ['pq start', 'r', 'pq end', 'q', 'p']);
  });
});
