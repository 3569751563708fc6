/**
 * Issue 16.1: every command that takes images (scramble, predict, batch submit) takes files, folders and list
 * files (`--from LIST`, `--from -` for stdin) through one helper (src/cli/inputs.ts), and handles a 10,000-path
 * command line. Cheap on purpose: 8x8 PNGs, a tiny encoder and a tiny cloud classifier built with our own graph
 * writer (test/tiny-models.ts), a 32 px key with an 8-channel generator; the 10,000 paths are symbolic links to 4
 * images, with long names (about 600 KB of command line). The real CLI is run and its output checked.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Redis } from 'ioredis';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { type BatchInfo, type BatchJob } from '../src/scale/index.js';
import { repoRoot, tempDir } from './helpers.js';
import { redisSkipReason, startRedis, type TestRedis } from './redis.js';
import { writeTinyModels } from './tiny-models.js';

const N = 10_000;
const dir = fs.realpathSync(tempDir('owsd-inputs-'));
const models = writeTinyModels(path.join(dir, 'models'));
const keyFile = path.join(dir, 'k.key');
const photos = path.join(dir, 'photos');
const many = path.join(dir, 'many');
let manyPaths: string[] = [];
let cloud: RunningCloud | undefined;
let bundle = '';
const redisSkip = redisSkipReason();
let redis: TestRedis | undefined;

/** The built CLI, with optional standard input; never throws. */
function owsd(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number | null; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/cli/main.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code, seconds: (performance.now() - started) / 1000 }));
    child.stdin.end(input ?? '');
  });
}

const png = (i: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 60 * i, g: 255 - 50 * i, b: 30 * i } } }).png().toBuffer();

before(async () => {
  writeKeyFile(keyFile, createKey({ imageSize: 32, baseChannels: 8, budget: 100_000, embeddingNoise: 0 }));
  // A photo folder: images at two depths, a text file and a hidden file to skip.
  fs.mkdirSync(path.join(photos, '2026', 'summer'), { recursive: true });
  fs.writeFileSync(path.join(photos, 'b.png'), await png(0));
  fs.writeFileSync(path.join(photos, '2026', 'a.png'), await png(1));
  fs.writeFileSync(path.join(photos, '2026', 'summer', 'c.PNG'), await png(2));
  fs.writeFileSync(path.join(photos, 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(photos, '.DS_Store'), 'junk');
  fs.mkdirSync(path.join(dir, 'empty'));
  fs.writeFileSync(path.join(dir, 'empty', 'readme.md'), 'nothing here');
  // 10,000 long paths, links to 4 images.
  const originals = path.join(dir, 'originals');
  fs.mkdirSync(originals);
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(originals, `${i}.png`), await png(i));
  fs.mkdirSync(many);
  manyPaths = Array.from({ length: N }, (_, i) => path.join(many, `IMG_${String(i).padStart(5, '0')}-holiday-with-a-long-camera-name.png`));
  manyPaths.forEach((p, i) => fs.symlinkSync(path.join(originals, `${i % 4}.png`), p));
  // A labelled set for the bundle: two classes of 4 images.
  for (const c of ['x', 'y']) {
    fs.mkdirSync(path.join(dir, 'train', c), { recursive: true });
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(dir, 'train', c, `${i}.png`), await png(c === 'x' ? i : 4 - i));
  }
});
after(async () => {
  await cloud?.close();
  await redis?.stop();
});

async function fitBundle(): Promise<{ bundle: string; cloud: RunningCloud }> {
  if (!cloud) {
    cloud = await startCloudServer({ model: models.cloud, modelsDir: models.dir, logger: false });
    bundle = path.join(dir, 'tiny.bundle');
    await fit({ keys: [readKeyFile(keyFile)], encoders: [models.encoder], cloud: { url: cloud.url, modelName: 'tiny-cloud' }, data: { path: path.join(dir, 'train'), testFraction: 0, seed: 0 }, out: bundle, modelsDir: models.dir, iin: { epochs: 2, hidden: 8, batchSize: 8 } });
  }
  return { bundle, cloud };
}

const scramble = (out: string, ...rest: string[]) => ['scramble', '--key', keyFile, '--encoder', models.encoder, '--models', models.dir, '--out', path.join(dir, out), ...rest];

test('scramble DIR: every image in the folder and its subfolders, sorted; other files skipped and counted', async () => {
  const r = await owsd(scramble('out-dir', '--json', photos));
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { images: number }).images, 3);
  assert.equal(r.stderr, 'owsd scramble: 1 folder given: 3 images in all, 2 other files skipped\n');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out-dir')).sort(), ['a.png', 'b.png', 'c.png']);
  const e = await owsd(scramble('out-empty', path.join(dir, 'empty')));
  assert.equal(e.code, 3);
  assert.match(e.stderr, /^owsd: the folder .*\/empty holds no images \(1 other file skipped\); images are \.jpg \.jpeg \.png/);
  const m = await owsd(scramble('out-missing', photos, path.join(dir, 'nope.png')));
  assert.equal(m.code, 3);
  assert.equal(m.stderr, `owsd: ${path.join(dir, 'nope.png')} does not exist\n`);
  const none = await owsd(scramble('out-none'));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^owsd: scramble needs images: name image files or folders, or --from LIST/);
});

test('scramble --from LIST: paths relative to the list\'s folder, # comments and blank lines ignored, folders expanded; - reads stdin', async () => {
  fs.mkdirSync(path.join(dir, 'lists'));
  const list = path.join(dir, 'lists', 'photos.txt');
  fs.writeFileSync(list, `# my holiday\n\n../photos/b.png\r\n  ../photos/2026  \n${path.join(photos, 'b.png')}\n`);
  const r = await owsd(scramble('out-list', '--from', list));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^scrambled 4 images with key k_[0-9a-f]+ → .*out-list/);
  assert.equal(r.stderr, 'owsd scramble: 1 folder given: 4 images in all, 0 other files skipped\n');
  // Two inputs named b.png: numbered names, in input order.
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out-list')).sort(), ['00000-b.png', '00003-b.png', 'a.png', 'c.png']);

  const s = await owsd(scramble('out-stdin', '--from', '-'), 'photos/b.png\n# relative to the current folder\nphotos/2026/a.png\n');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^scrambled 2 images/);
  assert.equal(s.stderr, '');

  fs.writeFileSync(path.join(dir, 'lists', 'bad.txt'), '# two good, one missing\n../photos/b.png\n\n../photos/gone.png\n');
  const bad = await owsd(scramble('out-bad', '--from', path.join(dir, 'lists', 'bad.txt')));
  assert.equal(bad.code, 3);
  assert.equal(bad.stderr, `owsd: --from ${path.join(dir, 'lists', 'bad.txt')} line 4: ${path.join(dir, 'photos', 'gone.png')} does not exist\n`);
  assert.ok(!fs.existsSync(path.join(dir, 'out-bad')), 'nothing is written before every path is known');
  const missing = await owsd(scramble('out-nolist', '--from', path.join(dir, 'lists', 'none.txt')));
  assert.equal(missing.stderr, `owsd: --from: ${path.join(dir, 'lists', 'none.txt')} does not exist\n`);
});

test(`scramble with ${N.toLocaleString('en')} paths on the command line`, { timeout: 120_000 }, async () => {
  const r = await owsd(scramble('out-many', '--batch', '500', '--json', ...manyPaths));
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assert.equal((JSON.parse(r.stdout) as { images: number }).images, N);
  const out = fs.readdirSync(path.join(dir, 'out-many'));
  assert.equal(out.length, N, 'one scrambled PNG per path');
  assert.ok(out.includes('IMG_09999-holiday-with-a-long-camera-name.png'));
  console.log(`# scramble, ${N} paths: ${r.seconds.toFixed(1)} s`);
});

test(`predict with ${N.toLocaleString('en')} paths on the command line, and with a folder`, { timeout: 120_000 }, async () => {
  const { bundle, cloud } = await fitBundle();
  const r = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--models', models.dir, '--cloud', cloud.url, '--top', '1', '--json', ...manyPaths]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const rows = (JSON.parse(r.stdout) as { results: Array<{ name: string; predictions: unknown[] }> }).results;
  assert.equal(rows.length, N);
  rows.forEach((row, i) => assert.equal(row.name, manyPaths[i]));
  assert.ok(rows.every((row) => row.predictions.length === 1), 'a label for every path');
  console.log(`# predict, ${N} paths: ${r.seconds.toFixed(1)} s`);
  const d = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--models', models.dir, '--cloud', cloud.url, '--top', '1', '--json', photos]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual((JSON.parse(d.stdout) as { results: Array<{ name: string }> }).results.map((x) => path.relative(photos, x.name)), ['2026/a.png', '2026/summer/c.PNG', 'b.png']);
  assert.match(d.stderr, /owsd predict: 1 folder given: 3 images in all, 2 other files skipped/);
});

test(`batch submit with ${N.toLocaleString('en')} paths on the command line, and --from`, { skip: redisSkip, timeout: 120_000 }, async () => {
  redis = await startRedis();
  const r = await owsd(['batch', 'submit', '--redis', redis.url, '--queue', 'many', '--chunk', '1000', '--json', ...manyPaths]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const info = JSON.parse(r.stdout) as BatchInfo;
  assert.deepEqual([info.total, info.jobs], [N, 10]);
  assert.equal(info.root, path.join(dir, 'originals'), 'the data root: the folder holding every image, links resolved');
  console.log(`# batch submit, ${N} paths: ${r.seconds.toFixed(1)} s`);
  // Every path is in a job, in order, by its real path under the root (a worker's run is checked by
  // worker-confine.test.ts and scale.test.ts; 10,000 more images through the pipeline are left to predict above).
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  try {
    const items: BatchJob['items'] = [];
    for (let start = 0; start < N; start += 1000) items.push(...(JSON.parse((await conn.hget(`bull:many:${info.id}.${start}`, 'data'))!) as BatchJob).items);
    assert.deepEqual(items.map((x) => x.id), manyPaths, 'every path is in a job, in input order');
    assert.deepEqual(items.map((x) => x.index), manyPaths.map((_, i) => i));
    items.forEach((x, i) => assert.equal(x.file, `${i % 4}.png`, 'the link\'s target, relative to the root'));
    const list = path.join(dir, 'lists', 'batch.txt');
    fs.writeFileSync(list, '# the photo folder and one more\n../photos\n../originals/0.png\n');
    const l = await owsd(['batch', 'submit', '--redis', redis.url, '--queue', 'from-list', '--json', '--from', list]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal((JSON.parse(l.stdout) as BatchInfo).total, 4);
    assert.match(l.stderr, /owsd batch submit: 1 folder given: 4 images in all, 2 other files skipped/);
    const both = await owsd(['batch', 'submit', '--redis', redis.url, '--data', photos, photos]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --data DATASET or image files\/folders \(--from LIST\), not both/);
  } finally {
    conn.disconnect();
  }
});
