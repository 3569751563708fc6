import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../src/server/index.js';

test('concurrent submissions are run together, each gets its own results in order', async () => {
  const seen: number[][] = [];
  const b = new Batcher<number, string>(async (items) => {
    seen.push(items);
    await new Promise((r) => setTimeout(r, 20));
    return items.map((x) => `r${x}`);
  }, { maxBatch: 8, maxWaitMs: 5 });
  const out = await Promise.all([b.submit([1, 2]), b.submit([3]), b.submit([4, 5, 6])]);
  assert.deepEqual(out, [['r1', 'r2'], ['r3'], ['r4', 'r5', 'r6']]);
  assert.deepEqual(seen, [[1, 2, 3, 4, 5, 6]]);
  assert.equal(b.batches, 1);
  assert.equal(b.items, 6);
});

test('a batch never passes maxBatch, except a single request larger than it, which runs alone; one batch at a time', async () => {
  const seen: number[][] = [];
  let running = 0;
  let most = 0;
  const b = new Batcher<number, number>(async (items) => {
    running++;
    most = Math.max(most, running);
    seen.push(items);
    await new Promise((r) => setTimeout(r, 10));
    running--;
    return items.map((x) => x * 10);
  }, { maxBatch: 4, maxWaitMs: 5 });
  const out = await Promise.all([b.submit([1, 2, 3]), b.submit([4, 5]), b.submit([6, 7, 8, 9, 10, 11]), b.submit([12])]);
  assert.deepEqual(out, [[10, 20, 30], [40, 50], [60, 70, 80, 90, 100, 110], [120]]);
  assert.deepEqual(seen, [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10, 11], [12]]);
  assert.equal(most, 1);
});

test('EXPECTED FAILURE - a failing batch rejects its own requests only; the next batch runs', async () => {
  let calls = 0;
  const b = new Batcher<number, number>(async (items) => {
    calls++;
    await new Promise((r) => setTimeout(r, 10));
    if (items.includes(-1)) throw new Error('cloud down');
    return items;
  }, { maxBatch: 2, maxWaitMs: 1 });
  const bad = b.submit([-1, 1]);
  const good = b.submit([2, 3]);
  await assert.rejects(bad, /cloud down/);
  assert.deepEqual(await good, [2, 3]);
  assert.equal(calls, 2);
  assert.deepEqual(await b.submit([]), []);
});
