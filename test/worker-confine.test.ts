/**
 * Issue 16.9: a batch job's image references live in Redis, so whoever can write to Redis can rewrite them. On a
 * real redis-server, a batch is submitted, its jobs are edited with ioredis as such an attacker would (a `..`
 * traversal, a symbolic link inside the data root pointing outside, an absolute path, `dirlink/..` that only the
 * kernel resolves outside), and a real `owsd worker` process works them. The file outside the data root is a real
 * photo, so had it been read it would have been classified: the cloud (behind a counting proxy) receives only the
 * two honest images, each edited image's line in `owsd batch results` carries an error naming its reference, and
 * the honest images of the same jobs keep their results. Without the confinement the outside photo is classified
 * and its labels returned. A worker given --data-root ignores a batch description whose root was rewritten.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { batchKey, batchResults, batchStatus, readConfined, startWorker, submitBatch, waitForBatch, type BatchInfo, type BatchJob } from '../src/scale/index.js';
import { imagenetteFiles, modelsDir, repoRoot, runOwsd, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';
import { redisSkipReason, startRedis, type TestRedis } from './redis.js';

const skip = redisSkipReason();
const dir = fs.realpathSync(tempDir('owsd-confine-'));
let redis: TestRedis | undefined;
let cloud: RunningCloud | undefined;
let proxy: RecordingProxy | undefined;
let client: Redis | undefined;
let child: ChildProcess | undefined;

before(async () => {
  if (skip) return;
  redis = await startRedis();
});
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  client?.disconnect();
  await proxy?.close();
  await cloud?.close();
  await redis?.stop();
});

test('a worker reads nothing outside the data root, whatever a job in Redis says', { skip, timeout: 120_000 }, async () => {
  const started = performance.now();
  // The data root: two class folders of real photos. Outside it: another real photo, the attacker's target.
  const data = path.join(dir, 'data');
  for (const [i, f] of imagenetteFiles(6).entries()) {
    const cls = i < 3 ? 'a' : 'b';
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    fs.copyFileSync(f, path.join(data, cls, `${i}.jpg`));
  }
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
  const secret = path.join(outside, 'secret.jpg');
  fs.copyFileSync(imagenetteFiles(1, 'n03394916')[0]!, secret);

  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  const keyFile = path.join(dir, 'k.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(5), imageSize: 32, budget: 1000, embeddingNoise: 0 }));
  const bundle = path.join(dir, 'b.bundle');
  await fit({
    keys: [readKeyFile(keyFile)],
    encoders: ['mobilenetv2-12-int8'],
    cloud: { url: cloud.url, modelName: 'cifar10-resnet20' },
    data: { path: data, testFraction: 0, seed: 0 },
    out: bundle,
    modelsDir,
    iin: { epochs: 2, hidden: 8, batchSize: 6 },
  });
  proxy = await startRecordingProxy(cloud.url);

  client = new Redis(redis!.url, { maxRetriesPerRequest: null });
  const queue = 'confine';
  const info = await submitBatch({ redis: client, queue, data, chunk: 3 });
  assert.deepEqual([info.total, info.jobs], [6, 2]);

  // The attacker plants a link to the outside photo and a link to an outside folder inside the root, and rewrites
  // two references in each job; the third image of each job is left honest.
  fs.symlinkSync(secret, path.join(data, 'a', 'holiday.jpg'));
  fs.symlinkSync(path.join(outside, 'sub'), path.join(data, 'b', 'album'));
  const edits: Record<number, string> = { 0: '../outside/secret.jpg', 1: 'a/holiday.jpg', 3: secret, 4: 'b/album/../secret.jpg' };
  for (const start of [0, 3]) {
    const key = `bull:${queue}:${info.id}.${start}`;
    const job = JSON.parse((await client.hget(key, 'data'))!) as BatchJob;
    for (const it of job.items) if (edits[it.index] !== undefined) it.file = edits[it.index];
    await client.hset(key, 'data', JSON.stringify(job));
  }

  child = spawn(
    process.execPath,
    [path.join(repoRoot, 'dist/src/cli/main.js'), 'worker', '--redis', redis!.url, '--queue', queue, '--bundle', bundle, '--key', keyFile, '--cloud', proxy.url, '--models', modelsDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  // (Without the confinement a job is given up here, after the other sent the outside photo twice: checked below.)
  await waitForBatch(client, info.id, { timeoutMs: 60_000 }).catch(() => undefined);
  assert.equal(proxy.imagesForwarded(), 2, 'the cloud received the two honest images only: the outside photo was never sent');
  const done = await batchStatus(client, info.id);
  assert.equal(done.done, 6);
  assert.equal(done.failedImages, 4, 'the four edited images failed on their own');
  assert.deepEqual(done.failedJobs, [], 'no job was given up: the honest images went on');

  const out = await runOwsd(['batch', 'results', info.id, '--redis', redis!.url], process.env);
  assert.equal(out.code, 10, 'batch results exits non-zero when an image failed');
  assert.match(out.stderr, /4 of 6 images failed/);
  // Each line is the one per-image result (src/types.ts ImageResult) with its index: {index, name, predictions, worker} or {index, name, error, code, field, worker}.
  const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { index: number; name: string; predictions?: unknown[]; error?: string; code?: string; field?: string });
  assert.deepEqual(lines.map((l) => l.index), [0, 1, 2, 3, 4, 5]);
  for (const l of [lines[2]!, lines[5]!]) {
    assert.equal(l.error, undefined);
    assert.ok(l.predictions!.length > 0, 'the honest images of the same jobs have their labels');
  }
  const reasons: Record<number, RegExp> = {
    0: /image reference "\.\.\/outside\/secret\.jpg" climbs out with "\.\.", outside the data root .*: refused, nothing was read/,
    1: /image reference "a\/holiday\.jpg" leads through a symbolic link, outside the data root/,
    3: /image reference ".*\/outside\/secret\.jpg" is an absolute path, outside the data root/,
    4: /image reference "b\/album\/\.\.\/secret\.jpg" leads through a symbolic link, outside the data root/,
  };
  for (const [i, re] of Object.entries(reasons)) {
    const l = lines[Number(i)]!;
    assert.equal(l.predictions, undefined, `image ${i}: no labels`);
    assert.equal(l.code, 'OWSD_ERR_FORBIDDEN');
    assert.equal(l.field, 'file');
    assert.match(l.error!, re);
  }
  const st = await runOwsd(['batch', 'status', info.id, '--redis', redis!.url], process.env);
  assert.match(st.stdout, /6 of 6 images done .*4 of them failed/);
  assert.match(stderr, /owsd worker: job .*: 3 images, 1 sent, 2 failed, first: image reference/);

  // The root itself is in Redis too: a worker given --data-root (here startWorker's dataRoot) ignores a batch
  // description rewritten to point at the outside folder.
  child.kill('SIGTERM');
  fs.unlinkSync(path.join(data, 'a', 'holiday.jpg'));
  fs.unlinkSync(path.join(data, 'b', 'album'));
  const second = await submitBatch({ redis: client, queue: 'confine-2', data, chunk: 6 });
  const desc = JSON.parse((await client.get(batchKey(second.id)))!) as BatchInfo;
  await client.set(batchKey(second.id), JSON.stringify({ ...desc, root: outside }));
  const key2 = `bull:confine-2:${second.id}.0`;
  const job2 = JSON.parse((await client.hget(key2, 'data'))!) as BatchJob;
  job2.items[0]!.file = 'secret.jpg';
  await client.hset(key2, 'data', JSON.stringify(job2));
  const before2 = proxy.imagesForwarded();
  const w = await startWorker({ redis: client, queue: 'confine-2', bundle, keys: [readKeyFile(keyFile)], modelsDir, dataRoot: data, cloud: { url: proxy.url }, top: 5 });
  try {
    await waitForBatch(client, second.id, { timeoutMs: 30_000 });
  } finally {
    await w.close();
  }
  const r2 = await batchResults(client, second.id);
  const r20 = r2[0]!;
  assert.ok('error' in r20 && r20.code === 'OWSD_ERR_FILE', 'secret.jpg is looked for under --data-root, where it is not');
  assert.match(r20.error, /image reference "secret\.jpg": cannot read .*\/data\/secret\.jpg/);
  assert.deepEqual(r2.slice(1).map((x) => ('error' in x ? x.error : x.predictions.length)), [2, 2, 2, 2, 2], 'the other images are read from --data-root (2 labels each: the bundle knows 2)');
  assert.equal(proxy.imagesForwarded() - before2, 5, 'the outside photo was not sent');

  // An image inside the root that cannot be decoded (a truncated JPEG, an SVG) is that image's outcome: the job's
  // other images are still sent and labelled, and the job is not given up (it was, before predictSettled).
  const good = fs.readFileSync(path.join(data, 'a', '0.jpg'));
  fs.writeFileSync(path.join(data, 'a', 'truncated.jpg'), good.subarray(0, 600));
  fs.writeFileSync(path.join(data, 'b', 'drawing.jpg'), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
  const third = await submitBatch({ redis: client, queue: 'confine-3', data, chunk: 8 });
  const before3 = proxy.imagesForwarded();
  const w3 = await startWorker({ redis: client, queue: 'confine-3', bundle, keys: [readKeyFile(keyFile)], modelsDir, cloud: { url: proxy.url }, top: 5 });
  try {
    await waitForBatch(client, third.id, { timeoutMs: 30_000 });
  } finally {
    await w3.close();
  }
  const s3 = await batchStatus(client, third.id);
  assert.deepEqual(s3.failedJobs, [], 'no job was given up for an undecodable image');
  const r3 = await batchResults(client, third.id);
  assert.equal(r3.length, 8);
  const bad = r3.flatMap((x) => ('error' in x ? [x] : []));
  assert.deepEqual(bad.map((x) => x.name).sort(), ['a/truncated.jpg', 'b/drawing.jpg']);
  for (const x of bad) {
    assert.equal(x.code, 'OWSD_ERR_IMAGE');
    assert.equal(x.field, 'image');
    assert.match(x.error, new RegExp(x.name.replace('.', '\\.')));
  }
  assert.match(bad.find((x) => x.name === 'b/drawing.jpg')!.error, /SVG/);
  assert.ok(r3.every((x) => 'error' in x || x.predictions.length === 2), 'the six readable photos have their labels');
  assert.equal(proxy.imagesForwarded() - before3, 6, 'only the six readable photos were sent');
  console.log(`# worker confinement: ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

test('readConfined: a FIFO, a folder, a 257 MB file, a non-string or NUL reference are refused without hanging; honest paths read', async () => {
  const root = fs.realpathSync(tempDir('owsd-confine-unit-'));
  fs.mkdirSync(path.join(root, 'a'));
  fs.writeFileSync(path.join(root, 'a', 'x.png'), 'bytes');
  execFileSync('mkfifo', [path.join(root, 'a', 'pipe.png')]);
  assert.equal(Buffer.from(await readConfined(root, 'a/../a/x.png')).toString(), 'bytes');
  await assert.rejects(readConfined(root, 'a/pipe.png'), /image reference "a\/pipe\.png": .*a\/pipe\.png is not a regular file/);
  await assert.rejects(readConfined(root, 'a'), /image reference "a": .* is not a regular file/);
  await assert.rejects(readConfined(root, 42), /image reference 42 is not a relative file path: refused/);
  await assert.rejects(readConfined(root, 'a/x.png\0../../etc/passwd'), /is not a relative file path: refused/);
  await assert.rejects(readConfined(root, '..'), /climbs out with "\.\."/);
  fs.writeFileSync(path.join(root, 'a', 'huge.jpg'), '');
  fs.truncateSync(path.join(root, 'a', 'huge.jpg'), 257 * 1024 * 1024); // sparse: nothing is written
  await assert.rejects(readConfined(root, 'a/huge.jpg'), /image reference "a\/huge\.jpg": .* has 269484032 bytes, more than an image file may have here \(268435456\)/);
  await assert.rejects(readConfined(root, 'a/missing.png'), /image reference "a\/missing\.png": cannot read .*a\/missing\.png: ENOENT/);
});
