/**
 * Scale-out on a real redis-server on 127.0.0.1 (test/redis.ts): the shared ledger never passes the budget under
 * concurrent reservations from several connections; and a batch over Imagenette images, worked by 3 `owsd worker`
 * processes one of which is SIGKILLed mid-run, gives every image exactly one result, equal to a single-process
 * predict (the key adds no noise), with the Redis ledger counting exactly what the cloud received (counted by a
 * recording proxy in front of the real embedded cloud).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createKey, fit, Predictor, readKeyFile, UsageLedger, writeKeyFile } from '../src/index.js';
import { startGateway, startCloudServer, type RunningCloud } from '../src/server/index.js';
import { batchResults, batchStatus, connectRedis, startWorker, ledgerKey, RedisLedger, resultsKey, submitBatch, waitForBatch } from '../src/scale/index.js';
import { loadDataset } from '../src/data/detect.js';
import { prepareDataset } from '../src/data/split.js';
import fs from 'node:fs';
import { dataDir, imagenetteFiles, modelsDir, repoRoot, runOwsd, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';
import { redisSkipReason, startRedis, type TestRedis } from './redis.js';

const skip = redisSkipReason();
const CLOUD_MODEL = 'cifar10-resnet20';
const dir = tempDir('owsd-scale-');
const imagenette = path.join(dataDir, 'imagenette-val');
let redis: TestRedis | undefined;
let cloud: RunningCloud | undefined;
let proxy: RecordingProxy | undefined;
/** The victim's own way to the cloud, slow, so that it is killed with images at the cloud and no answer back. */
let slow: RecordingProxy | undefined;
const clients: Redis[] = [];
let batchBundle: { bundle: string; keyFile: string } | undefined;
const children: ChildProcess[] = [];

function connect(): Redis {
  const r = new Redis(redis!.url, { maxRetriesPerRequest: null });
  clients.push(r);
  return r;
}

before(async () => {
  if (skip) return;
  redis = await startRedis();
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of clients) c.disconnect();
  await proxy?.close();
  await slow?.close();
  await cloud?.close();
  await redis?.stop();
});

test('the shared ledger: concurrent reservations from 4 connections stop exactly at the budget', { skip }, async () => {
  const keyFile = path.join(dir, 'ledger.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(7), imageSize: 32, budget: 50 }));
  const key = readKeyFile(keyFile);
  UsageLedger.open(key).reserve(5); // spent on this machine before moving to workers
  const ledgers = await Promise.all([0, 1, 2, 3].map(() => RedisLedger.open(connect(), key)));
  assert.equal(ledgers[0]!.used, 5, 'the shared counter starts at the file ledger\'s count');
  let ok = 0;
  let refused = 0;
  await Promise.all(
    ledgers.flatMap((l) =>
      Array.from({ length: 20 }, async (_, i) => {
        try {
          await l.reserve(1 + (i % 2));
          ok += 1 + (i % 2);
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'OWSD_ERR_BUDGET');
          refused++;
        }
      }),
    ),
  );
  assert.equal(ok, 45, 'exactly the 45 submissions left were reserved');
  assert.ok(refused > 0);
  assert.equal(await connect().get(ledgerKey(key.id)), '50');
  await assert.rejects(ledgers[1]!.reserve(1), /has used 50 of its 50 submissions/);
});

function worker(bundle: string, keyFile: string, name: string, cloudUrl: string): { child: ChildProcess; jobs: () => number; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    [path.join(repoRoot, 'dist/src/cli/main.js'), 'worker', '--redis', redis!.url, '--bundle', bundle, '--key', keyFile, '--cloud', cloudUrl, '--models', modelsDir, '--lock-ms', '2000', '--stalled-ms', '1000'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let jobs = 0;
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => (c.toString().includes('ready') ? resolve() : undefined));
    child.once('exit', (code, sig) => reject(new Error(`worker ${name} exited (${code ?? sig}) before it was ready:\n${err}`)));
  });
  ready.catch(() => undefined);
  child.stderr!.on('data', (c: Buffer) => {
    const s = c.toString();
    err += s;
    jobs += (s.match(/owsd worker: job /g) ?? []).length;
  });
  return { child, jobs: () => jobs, ready };
}

test('3 workers, one SIGKILLed mid-run: every image gets exactly one result, equal to a single-process predict; the ledger is exact', { skip, timeout: 150_000 }, async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  proxy = await startRecordingProxy(cloud.url);
  slow = await startRecordingProxy(cloud.url, { delayMs: 1500 });
  const keyFile = path.join(dir, 'batch.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(11), imageSize: 32, budget: 1000, embeddingNoise: 0 }));
  const bundle = path.join(dir, 'batch.bundle');
  await fit({
    keys: [readKeyFile(keyFile)],
    encoders: ['mobilenetv2-12-int8'],
    cloud: { url: cloud.url, modelName: CLOUD_MODEL },
    data: { path: imagenette, labels: 3, perLabel: 8, testFraction: 0, seed: 1 },
    out: bundle,
    modelsDir,
    iin: { epochs: 3, hidden: 16, batchSize: 8 },
  });
  const usedByFit = UsageLedger.open(readKeyFile(keyFile)).used;
  assert.equal(usedByFit, 24);

  const r = connect();
  const CHUNK = 6;
  const ws = [worker(bundle, keyFile, 'a', slow.url), worker(bundle, keyFile, 'b', proxy.url), worker(bundle, keyFile, 'c', proxy.url)];
  await Promise.all(ws.map((w) => w.ready));
  const info = await submitBatch({ redis: r, data: imagenette, labels: 3, perLabel: 40, seed: 2, chunk: CHUNK });
  assert.equal(info.total, 120);
  assert.equal(info.jobs, 20);

  // Kill worker a once the cloud has received a job's images from it and before the answer is back: it holds the
  // job's lock, its images were counted and sent, and no result of that job is stored.
  const victim = ws[0]!;
  let victimDone = 0;
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      victimDone = victim.jobs();
      if (slow!.imagesForwarded() > CHUNK * victimDone) {
        clearInterval(t);
        victim.child.kill('SIGKILL');
        resolve();
      }
      if (victim.child.exitCode !== null) reject(new Error('worker a exited on its own'));
    }, 5);
    setTimeout(() => {
      clearInterval(t);
      reject(new Error('worker a sent nothing in 60 s: it never took a job'));
    }, 60_000).unref();
  });
  const atKill = await batchStatus(r, info.id);
  assert.ok(atKill.done < info.total, `killed mid-run (${atKill.done} of ${info.total} done)`);
  await assert.rejects(batchResults(r, info.id), /images have no result yet \(first index \d+\)/);

  const done = await waitForBatch(r, info.id, { timeoutMs: 90_000 });
  assert.equal(done.done, 120);
  assert.equal(done.failedJobs.length, 0);
  const results = await batchResults(r, info.id);
  assert.deepEqual(results.map((x) => x.index), Array.from({ length: 120 }, (_, i) => i), 'one result per image, in input order');
  assert.equal(await r.hlen(resultsKey(info.id)), 120, 'no result for an index outside the batch');
  const byWorker = new Set(results.map((x) => x.worker));
  assert.ok(byWorker.size >= 2, `results from several workers: ${[...byWorker].join(', ')}`);

  // Budget: the shared ledger counted exactly what the cloud received; a retry resent at most the killed job's images.
  const inFlightAtKill = slow.imagesForwarded() - CHUNK * victimDone;
  assert.ok(inFlightAtKill > 0 && inFlightAtKill <= CHUNK);
  const received = proxy.imagesForwarded() + slow.imagesForwarded();
  const used = Number(await r.get(ledgerKey(readKeyFile(keyFile).id)));
  assert.ok(received >= 120, `the cloud received every image (${received})`);
  assert.equal(received, 120 + inFlightAtKill, 'resent: exactly the killed worker\'s images in flight, nothing else');
  assert.equal(used, usedByFit + received, 'the shared ledger counted exactly what the cloud received');
  assert.ok(used <= 1000);
  console.log(`# scale: killed after ${victimDone} job(s) of its own, ${atKill.done}/120 done; the cloud received ${received} images (${received - 120} resent); ledger ${used - usedByFit}; results from ${byWorker.size} workers`);

  // The same images through one process: the same labels and scores.
  const ds = prepareDataset(await loadDataset(imagenette), { labels: 3, perLabel: 40, seed: 2 }).dataset;
  const p = await Predictor.open({ bundle, keys: [readKeyFile(keyFile)], modelsDir, cloud: { url: cloud.url } });
  const single = await p.predict(ds.samples.map((s) => s.image), 5);
  await p.close();
  results.forEach((x, i) => {
    assert.equal(x.name, ds.samples[i]!.id);
    assert.ok('predictions' in x, `image ${i}: ${JSON.stringify(x)}`);
    assert.deepEqual(x.predictions.map((l) => l.label), single[i]!.map((l) => l.label), `image ${i}: same labels`);
    x.predictions.forEach((l, j) => assert.ok(Math.abs(l.score - single[i]![j]!.score) < 1e-4, `image ${i}: same scores`));
  });

  // The CLI over the same batch: results in input order as JSON lines, status as JSON, bad input named.
  const out = await runOwsd(['batch', 'results', info.id, '--redis', redis!.url], process.env);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { index: number }).index), results.map((x) => x.index));
  const outFile = path.join(dir, 'results.jsonl');
  assert.equal((await runOwsd(['batch', 'results', info.id, '--redis', redis!.url, '--out', outFile], process.env)).code, 0);
  assert.equal(fs.readFileSync(outFile, 'utf8'), out.stdout);
  const st = await runOwsd(['batch', 'status', info.id, '--redis', redis!.url, '--json'], process.env);
  assert.equal((JSON.parse(st.stdout) as { complete: boolean }).complete, true);
  const bad = await runOwsd(['batch', 'status', info.id, '--redis', 'http://127.0.0.1:1'], process.env);
  assert.match(bad.stderr, /^owsd: --redis must be a redis:\/\/ or rediss:\/\/ URL/);
  const unknown = await runOwsd(['batch', 'results', 'nope', '--redis', redis!.url], process.env);
  assert.match(unknown.stderr, /no batch nope in this Redis/);
  batchBundle = { bundle, keyFile };

  for (const w of ws.slice(1)) w.child.kill('SIGTERM');
  await Promise.all(ws.slice(1).map((w) => new Promise((res) => (w.child.exitCode !== null ? res(null) : w.child.once('exit', res)))));
});

test('two gateway replicas share one budget through the Redis ledger', { skip, timeout: 60_000 }, async () => {
  assert.ok(batchBundle && cloud, 'needs the batch test\'s bundle');
  const { bundle, keyFile } = batchBundle;
  const key = readKeyFile(keyFile);
  const r = connect();
  await r.set(ledgerKey(key.id), String(key.budget - 3)); // 3 submissions left, for both replicas together
  const conns = [connectRedis(redis!.url), connectRedis(redis!.url)];
  clients.push(...conns);
  const gs = await Promise.all(conns.map((c) => startGateway({ bundle, keyFiles: [keyFile], modelsDir, port: 0, log: false, cloud: { url: cloud!.url }, ledgerFor: (k) => RedisLedger.open(c, k) })));
  try {
    const img = fs.readFileSync(imagenetteFiles(1)[0]!).toString('base64');
    const classify = (i: number, n: number) =>
      fetch(`${gs[i]!.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: Array(n).fill(img), top: 1 }) });
    assert.equal((await classify(0, 2)).status, 200);
    const refused = await classify(1, 2);
    assert.equal(refused.status, 429, 'replica 2 sees replica 1\'s use: 2 more would pass the budget');
    assert.match(((await refused.json()) as { error: string }).error, /has 1 of 1000 submissions left, but this run needs 2: nothing was sent/);
    assert.equal((await classify(1, 1)).status, 200);
    assert.equal((await classify(0, 1)).status, 429);
    const status = (await (await fetch(`${gs[0]!.url}/v1/status`)).json()) as { keys: Array<{ used: number; remaining: number }> };
    assert.equal(status.keys[0]!.used, 1000);
    assert.equal(status.keys[0]!.remaining, 0);
    assert.equal(await r.get(ledgerKey(key.id)), '1000');
  } finally {
    for (const g of gs) await g.close();
  }
});

test('a batch over a CIFAR-10 binary (images by sample id), worked by an in-process worker', { skip, timeout: 60_000 }, async () => {
  assert.ok(batchBundle && cloud, 'needs the batch test\'s bundle');
  const { bundle, keyFile } = batchBundle;
  const key = readKeyFile(keyFile);
  const r = connect();
  await r.set(ledgerKey(key.id), '0');
  const info = await submitBatch({ redis: r, queue: 'cifar', data: path.join(dataDir, 'cifar-10'), labels: 2, perLabel: 5, seed: 0, chunk: 4 });
  assert.equal(info.total, 10);
  assert.equal(info.jobs, 3);
  const w = await startWorker({ redis: connect(), queue: 'cifar', bundle, keys: [key], modelsDir, cloud: { url: cloud!.url }, top: 2 });
  try {
    await waitForBatch(r, info.id, { timeoutMs: 30_000 });
  } finally {
    await w.close();
  }
  const results = await batchResults(r, info.id);
  assert.equal(results.length, 10);
  for (const x of results) {
    assert.match(x.name, /^test_batch\.bin#\d+$/);
    assert.ok('predictions' in x && x.predictions.length === 2, JSON.stringify(x));
  }
  assert.equal(await r.get(ledgerKey(key.id)), '10');
});
