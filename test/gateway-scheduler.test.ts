/**
 * The gateway's scheduling pieces on their own (issue 16 item 4): the fair decode queue (a client with one image
 * starts at the next free slot, however many images another client queued; gone requests are skipped, never
 * started) and the batcher dropping requests whose client is gone before their batch runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../src/server/index.js';
import { FairQueue } from '../src/server/scheduler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('fair queue: one image of a new client starts at the next free slot, before the 9 images another client queued', async () => {
  const q = new FairQueue(1);
  const order: string[] = [];
  const task = (name: string, ms: number) => async () => {
    order.push(name);
    await sleep(ms);
    return name;
  };
  const heavy = Array.from({ length: 10 }, (_, i) => q.run('attacker:1', undefined, task(`a${i}`, 30)));
  // a0 is running (started at once), a1..a9 wait.
  const normal = q.run('normal:2', undefined, task('n', 1));
  await Promise.all([...heavy, normal]);
  assert.deepEqual(order.slice(0, 3), ['a0', 'n', 'a1'], order.join(' '));
  assert.equal(q.started, 11);
});

test('fair queue: at most `concurrency` tasks run at once, and a free slot goes to the client that has had the least time', async () => {
  const q = new FairQueue(2);
  let running = 0;
  let most = 0;
  const order: string[] = [];
  const task = (name: string, ms: number) => async () => {
    running++;
    most = Math.max(most, running);
    order.push(name);
    await sleep(ms);
    running--;
  };
  const all = [
    ...Array.from({ length: 4 }, (_, i) => q.run('a', undefined, task(`a${i}`, 40))),
    ...Array.from({ length: 4 }, (_, i) => q.run('b', undefined, task(`b${i}`, 40))),
    q.run('c', undefined, task('c0', 5)),
  ];
  await Promise.all(all);
  assert.equal(most, 2);
  // a0 and a1 start at once (nobody else waits yet); then b, which has had no time, and c before any more of a's.
  assert.deepEqual(order.slice(0, 2), ['a0', 'a1'], order.join(' '));
  assert.deepEqual(new Set(order.slice(2, 4)), new Set(['b0', 'c0']), order.join(' '));
  assert.equal(q.waiting, 0);
});

test('fair queue: the waiting tasks of a gone request are skipped, never started, and reject', async () => {
  const q = new FairQueue(1);
  const gone = new AbortController();
  let ran = 0;
  const task = async () => {
    ran++;
    await sleep(30);
  };
  const first = q.run('x', gone.signal, task);
  const rest = Array.from({ length: 5 }, () => q.run('x', gone.signal, task).then(() => 'ran', (e: Error) => e.message));
  gone.abort(); // while the first runs
  await first;
  const outcomes = await Promise.all(rest);
  assert.equal(ran, 1);
  assert.equal(q.skipped, 5);
  assert.ok(outcomes.every((o) => /closed the connection/.test(o)), outcomes.join(', '));
});

test('batcher: a request whose client is gone before its batch starts is dropped, the others run', async () => {
  const seen: number[][] = [];
  const b = new Batcher<number, number>(async (items) => {
    seen.push(items);
    await sleep(200);
    return items;
  }, { maxBatch: 8, maxWaitMs: 1 });
  const running = b.submit([1]);
  await sleep(10); // [1] is running; the next two wait for the next batch
  const gone = new AbortController();
  const dropped = b.submit([2, 3], gone.signal).then(() => 'ran', (e: Error) => e.message);
  const kept = b.submit([4]);
  gone.abort();
  assert.deepEqual(await running, [1]);
  assert.deepEqual(await kept, [4]);
  assert.match(await dropped, /closed the connection/);
  assert.deepEqual(seen, [[1], [4]]);
  assert.equal(b.skipped, 1);
});
