/**
 * Every command's --json uses the same names for the same things (docs/json.md): `keyId` / `keyIds` for key ids,
 * `{top1, top5}` for accuracies, the gateway's classify names for predictions (`name`, `predictions`, per-image
 * `{name, error, code}`), and errors as `{error, code, field?}` on stdout. Real CLI runs on a real fit: the built
 * CLI, cifar10-resnet20 as encoder and as the cloud (our own KServe server over loopback), CIFAR-10 images. One
 * per-image result (src/types.ts `ImageResult`) is compared across predict --json, the gateway and batch results
 * (a real redis-server on loopback, test/redis.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createKey, loadDataset, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, startGateway, type RunningCloud } from '../src/server/index.js';
import { connectRedis, startWorker, submitBatch, waitForBatch } from '../src/scale/index.js';
import { redisSkipReason, startRedis } from './redis.js';
import { dataDir, modelsDir, runOwsd, tempDir } from './helpers.js';

const cifar10 = path.join(dataDir, 'cifar-10');
const env = { ...process.env, OWSD_MODELS: modelsDir };
const owsd = (args: string[]) => runOwsd(args, env);
const dir = tempDir('owsd-json-');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
let cloud: RunningCloud;
let keyId: string;
const pngs: string[] = [];
/** predict --json's answer for [png 0, a HEIC, png 1] (the fit test), compared with batch results below. */
let predicted: { results: Array<Record<string, any>> } | undefined;
let heicFile = '';
const redisSkip = redisSkipReason();

before(async () => {
  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(23), imageSize: 32, budget: 1000, embeddingNoise: 0 }));
  const ds = await loadDataset(cifar10);
  for (const i of [0, 1000]) {
    const file = path.join(dir, `img${i}.png`);
    await sharp((ds.samples[i]!.image as { data: Uint8Array }).data, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(file);
    pngs.push(file);
  }
});
after(async () => {
  await cloud?.close();
});

test('key new / key show / scramble --json: the key id is keyId', async () => {
  const made = await owsd(['key', 'new', '--out', path.join(dir, 'other.key'), '--image-size', '32', '--json']);
  assert.equal(made.code, 0, made.stderr);
  const info = JSON.parse(made.stdout);
  assert.match(info.keyId, /^k_[0-9a-f]{16}$/);
  assert.equal(info.id, undefined);
  const shown = JSON.parse((await owsd(['key', 'show', keyFile, '--json'])).stdout);
  keyId = shown.keyId;
  assert.match(keyId, /^k_/);
  assert.equal(shown.id, undefined);
  const s = await owsd(['scramble', '--key', keyFile, '--encoder', 'cifar10-resnet20', '--out', path.join(dir, 'scr'), '--json', ...pngs]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).keyId, keyId);
});

test('fit / eval / predict / cloud accuracy --json: keyIds, {top1, top5}, the gateway\'s classify names', { timeout: 600_000 }, async () => {
  const f = await owsd(['fit', '--key', keyFile, '--encoder', 'cifar10-resnet20', '--cloud', cloud.url, '--model-name', 'cifar10-resnet20', '--data', cifar10, '--labels', '2', '--per-label', '12', '--test-fraction', '0.25', '--seed', '3', '--epochs', '10', '--out', bundle, '--json']);
  assert.equal(f.code, 0, f.stderr);
  const fitted = JSON.parse(f.stdout);
  assert.deepEqual(fitted.keyIds, [keyId]);
  for (const w of ['both', 'embedding', 'cloud']) assert.deepEqual(Object.keys(fitted.validation[w]), ['top1'], w);

  const e = await owsd(['eval', '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.deepEqual(ev.keyIds, [keyId]);
  assert.equal(ev.bundleKeyIds, undefined);
  for (const w of ['both', 'embedding', 'cloud']) assert.deepEqual(Object.keys(ev.accuracy[w]).sort(), ['top1', 'top5'], w);

  // predict: the gateway's answer, name for name, for the same images (and a HEIC that fails on its own).
  const heic = path.join(dir, 'IMG_0001.HEIC');
  fs.writeFileSync(heic, Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic'), Buffer.alloc(500, 1)]));
  const p = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--top', '2', '--json', pngs[0]!, heic, pngs[1]!]);
  assert.equal(p.code, 3, p.stderr);
  const pr = JSON.parse(p.stdout);
  assert.deepEqual(Object.keys(pr), ['keyIds', 'failed', 'results']);
  assert.deepEqual(pr.keyIds, [keyId]);
  assert.equal(pr.failed, 1);
  assert.deepEqual(pr.results.map((r: { name: string }) => r.name), [pngs[0], heic, pngs[1]]);
  assert.deepEqual(Object.keys(pr.results[0]), ['name', 'predictions']);
  assert.deepEqual(Object.keys(pr.results[1]), ['name', 'error', 'code']);
  assert.equal(pr.results[1].code, 'OWSD_ERR_IMAGE');
  predicted = pr;
  heicFile = heic;
  const g = await startGateway({ bundle, keyFiles: [keyFile], cloud: { url: cloud.url }, modelsDir, port: 0, log: false });
  try {
    const form = new FormData();
    for (const f of [pngs[0]!, heic]) form.append('image', new Blob([fs.readFileSync(f)]), path.basename(f));
    const api = (await (await fetch(`${g.url}/v1/classify?top=2`, { method: 'POST', body: form })).json()) as { keyIds: string[]; failed: number; results: Array<Record<string, any>> };
    assert.deepEqual(api.keyIds, pr.keyIds);
    assert.equal(api.failed, 1);
    // Every name predict uses is one the gateway uses for the same thing (the gateway adds cloud, keyId, field).
    for (const k of Object.keys(pr.results[0])) assert.ok(k in api.results[0]!, k);
    for (const k of Object.keys(pr.results[1])) assert.ok(k in api.results[1]!, k);
    assert.deepEqual(Object.keys(pr.results[0].predictions[0]), Object.keys(api.results[0]!.predictions[0]));
    assert.deepEqual(pr.results[0].predictions.map((x: { label: string }) => x.label), api.results[0]!.predictions.map((x: { label: string }) => x.label));
    assert.deepEqual(Object.keys(api.results[1]!), ['name', 'error', 'code', 'field']);
    assert.equal(api.results[1]!.field, 'image[1]');
    // The status gives the bundle's validation accuracies as fit --json does: {top1} objects.
    const st = (await (await fetch(`${g.url}/v1/status`)).json()) as { bundle: { validation: Record<string, unknown> } };
    assert.deepEqual(st.bundle.validation, fitted.validation);
  } finally {
    await g.close();
  }

  // predict --data: a dataset, each result with its true label.
  const cdir = tempDir('owsd-c10-');
  fs.writeFileSync(path.join(cdir, 'test_batch.bin'), fs.readFileSync(path.join(cifar10, 'test_batch.bin')).subarray(0, 3073 * 3));
  fs.copyFileSync(path.join(cifar10, 'batches.meta.txt'), path.join(cdir, 'batches.meta.txt'));
  const d = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--top', '1', '--data', cdir, '--json']);
  assert.equal(d.code, 0, d.stderr);
  const dr = JSON.parse(d.stdout);
  assert.deepEqual(dr.results.map((r: { name: string }) => r.name), ['test_batch.bin#0', 'test_batch.bin#1', 'test_batch.bin#2']);
  assert.deepEqual(dr.results[0].truth, { label: 'airplane', name: 'airplane' });
  assert.equal(dr.results[0].predictions.length, 1);
  const dt = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--top', '1', '--data', cdir]);
  assert.match(dt.stdout, /^test_batch\.bin#0 {2}\(true label: airplane\)\n +\d+\.\d% /);
  const both = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--data', cdir, '--json', pngs[0]!]);
  assert.equal(both.code, 2);
  assert.equal(JSON.parse(both.stdout).field, '--data');

  const a = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--data', cifar10, '--limit', '20', '--json']);
  assert.equal(a.code, 0, a.stderr);
  const acc = JSON.parse(a.stdout);
  for (const k of ['accuracy', 'correct', 'ties', 'accuracyTiesAsHits']) assert.deepEqual(Object.keys(acc[k]), ['top1', 'top5'], k);
  assert.equal(acc.top1, undefined);
});

test('batch results give each image the same result as predict --json and the gateway: {name, predictions} or {name, error, code, field}', { skip: redisSkip, timeout: 120_000 }, async () => {
  assert.ok(predicted, 'the fit / predict test ran first');
  const redis = await startRedis();
  const r = connectRedis(redis.url);
  try {
    const info = await submitBatch({ redis: r, queue: 'json-names', images: [pngs[0]!, heicFile, pngs[1]!], chunk: 2 });
    const w = await startWorker({ redis: r, queue: 'json-names', bundle, keys: [readKeyFile(keyFile)], modelsDir, cloud: { url: cloud.url }, top: 2 });
    try {
      await waitForBatch(r, info.id, { timeoutMs: 60_000 });
    } finally {
      await w.close();
    }
    const out = await owsd(['batch', 'results', info.id, '--redis', redis.url]);
    assert.equal(out.code, 10, 'one image failed');
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    assert.deepEqual(lines.map((l) => l.name), predicted!.results.map((x) => x.name), 'name: the path as given, as predict names it');
    // The batch adds its own index and worker, as the gateway adds cloud and keyId; the rest is predict's result.
    assert.deepEqual(Object.keys(lines[0]!), ['index', 'name', 'predictions', 'worker']);
    assert.deepEqual(Object.keys(lines[1]!), ['index', 'name', 'error', 'code', 'field', 'worker']);
    assert.equal(lines[1]!.code, predicted!.results[1]!.code);
    assert.equal(lines[1]!.field, 'image');
    for (const i of [0, 2]) {
      for (const k of Object.keys(predicted!.results[i]!)) assert.ok(k in lines[i]!, `${i}: ${k}`);
      assert.deepEqual(lines[i]!.predictions.map((x: { label: string }) => x.label), predicted!.results[i]!.predictions.map((x: { label: string }) => x.label));
      assert.deepEqual(Object.keys(lines[i]!.predictions[0]), Object.keys(predicted!.results[i]!.predictions[0]));
    }
  } finally {
    r.disconnect();
    await redis.stop();
  }
});

test('with --json every error is {error, code, field?} on stdout as well as one line on stderr', async () => {
  const missing = path.join(dir, 'no-bundle');
  const e = await owsd(['eval', '--bundle', missing, '--key', keyFile, '--json']);
  assert.notEqual(e.code, 0);
  const err = JSON.parse(e.stdout);
  assert.deepEqual(Object.keys(err).slice(0, 2), ['error', 'code']);
  assert.match(err.code, /^OWSD_ERR_/);
  assert.equal(e.stderr, `owsd: ${err.error}\n`);
  // A usage error found by the argument parser (a required flag missing): JSON too, naming the flag.
  const u = await owsd(['predict', '--key', keyFile, '--json', pngs[0]!]);
  assert.notEqual(u.code, 0);
  assert.deepEqual(JSON.parse(u.stdout), { error: "required option '--bundle <dir>' not specified", code: 'OWSD_ERR_BAD_ARGUMENT', field: '--bundle' });
  // A bad flag value: the flag named.
  const v = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--top', '0', '--json', pngs[0]!]);
  assert.equal(v.code, 2);
  assert.deepEqual(JSON.parse(v.stdout), { error: "--top expects an integer >= 1, got '0'", code: 'OWSD_ERR_BAD_ARGUMENT', field: '--top' });
  // Without --json, stdout stays empty.
  const t = await owsd(['eval', '--bundle', missing, '--key', keyFile]);
  assert.equal(t.stdout, '');
});
