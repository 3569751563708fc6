/**
 * Common mistakes get clear answers (issue 19, part 2): each case runs the built CLI (`dist/src/cli/main.js`) as a
 * user would and checks its real output, in words (stderr) and with --json (`{error, code, field}` on stdout).
 * The cloud is our own KServe server over loopback hosting cifar10-resnet20 from ../shared/models.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createKey, fit, loadDataset, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { dataDir, freePort, modelsDir, runOwsd, startServeProcess, tempDir } from './helpers.js';

const cifar10 = path.join(dataDir, 'cifar-10');
const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8')) as { models: Array<Record<string, any>> };
const resnetEntry = manifest.models.find((m) => m.name === 'cifar10-resnet20')!;
const resnetFile = path.join(modelsDir, resnetEntry.file as string);
/** The environment of a user with no models folder and an empty pull cache. */
const bare = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, OWSD_CACHE: tempDir('owsd-cache-') };
  delete env.OWSD_MODELS;
  return env;
};
const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_CACHE: tempDir('owsd-cache-') };
const owsd = (args: string[], e: NodeJS.ProcessEnv = env) => runOwsd(args, e);
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at /, s);

/** A models folder holding a models.json with these entries (files given as absolute paths to the shared models). */
function modelsFolder(entries: unknown[]): string {
  const dir = tempDir('owsd-models-');
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: entries }, null, 2));
  return dir;
}

/** An iPhone photo's first bytes: an ISO-BMFF `ftyp` box with the `heic` brand. */
function heicLike(): Buffer {
  return Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic'), Buffer.alloc(2000, 0x5a)]);
}

let cloud: RunningCloud;
before(async () => {
  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
});
after(async () => {
  await cloud?.close();
});

test('owsd models list with no models folder names OWSD_MODELS and fails (text and --json)', async () => {
  const t = await owsd(['models', 'list'], bare());
  assert.equal(t.code, 4);
  assert.equal(t.stdout, '');
  assert.match(t.stderr, /^owsd: no models directory is set .*pass --models DIR or set OWSD_MODELS/);
  const j = await owsd(['models', 'list', '--json'], bare());
  assert.equal(j.code, 4);
  assert.deepEqual(Object.keys(JSON.parse(j.stdout)), ['error', 'code']);
  assert.equal(JSON.parse(j.stdout).code, 'OWSD_ERR_MODEL_NOT_FOUND');
  assert.match(JSON.parse(j.stdout).error, /OWSD_MODELS/);
});

test('one bad entry in models.json is reported and the others still work', async () => {
  const good = { ...resnetEntry, file: resnetFile };
  const dir = modelsFolder([good, { name: 'broken', file: 'x.onnx', preprocess: { resize: -3 } }, { file: 'nameless.onnx' }]);
  const t = await owsd(['models', 'list', '--models', dir]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^cifar10-resnet20\s+onnx/);
  assert.match(t.stderr, /skipped: .*models\.json: models\[1\] \(broken\)\.preprocess\.resize: expected a positive number, got -3/);
  assert.match(t.stderr, /skipped: .*models\.json: models\[2\]\.name: expected a non-empty string/);
  const j = await owsd(['models', 'list', '--models', dir, '--json']);
  const listed = JSON.parse(j.stdout) as { models: Array<{ name: string }>; problems: Array<{ index: number; name?: string; code: string }> };
  assert.deepEqual(listed.models.map((m) => m.name), ['cifar10-resnet20']);
  assert.deepEqual(listed.problems.map((p) => [p.index, p.name, p.code]), [[1, 'broken', 'OWSD_ERR_MANIFEST'], [2, undefined, 'OWSD_ERR_MANIFEST']]);
  // The good entry works (a real measurement through it); the bad one, asked for by name, gives its own error.
  const ok = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--models', dir, '--data', cifar10, '--limit', '20', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).evaluated, 20);
  const bad = await owsd(['cloud', 'accuracy', '--model', 'broken', '--models', dir, '--data', cifar10, '--limit', '20']);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, /^owsd: .*models\[1\] \(broken\)\.preprocess\.resize: expected a positive number/);
  noStack(bad.stderr);
});

test('a manifest resize that does not fit the model is found at load and names the field', async () => {
  const dir = modelsFolder([{ ...resnetEntry, file: resnetFile, preprocess: { ...resnetEntry.preprocess, resize: 40 } }]);
  const t = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--models', dir, '--data', cifar10, '--limit', '4']);
  assert.equal(t.code, 4);
  assert.match(t.stderr, /^owsd: model 'cifar10-resnet20' .*input 'input\.1' takes height 32 \(shape \[1, 3, 32, 32\]\), but its manifest entry's "preprocess" gives 40x40 images: set "preprocess\.center_crop" to 32 \(or "preprocess\.resize" to 32 without a center_crop\)\n$/);
  assert.doesNotMatch(t.stderr, /unexpected error|invalid dimensions/i);
  const j = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--models', dir, '--data', cifar10, '--limit', '4', '--json']);
  assert.equal(JSON.parse(j.stdout).code, 'OWSD_ERR_MANIFEST');
});

test('a model without labels: cloud accuracy says to add "labels": "cifar-10"; a bare .onnx gets flags cloud accuracy takes', async () => {
  const { labels: _l, task: _t, ...noLabels } = resnetEntry;
  const dir = modelsFolder([{ ...noLabels, file: resnetFile }]);
  const t = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--models', dir, '--data', cifar10, '--limit', '4']);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /does not say the class labels .*add "labels": "cifar-10" .* to its entry in models\.json/);
  // A bare .onnx path: the suggested flags (--resize/--crop/--mean/--std, --labels) are flags cloud accuracy takes.
  const bareOnnx = path.join(tempDir(), 'resnet.onnx');
  fs.copyFileSync(resnetFile, bareOnnx);
  const missing = await owsd(['cloud', 'accuracy', '--model', bareOnnx, '--data', cifar10, '--limit', '4']);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /no preprocessing known .* or pass --resize\/--crop\/--mean\/--std/);
  const help = await owsd(['cloud', 'accuracy', '--help']);
  for (const flag of ['--resize', '--crop', '--mean', '--std', '--labels']) assert.match(help.stdout, new RegExp(`${flag} <`));
  const flags = ['--resize', '32', '--mean', '0.4914,0.4822,0.4465', '--std', '0.247,0.2435,0.2616'];
  const noLabel = await owsd(['cloud', 'accuracy', '--model', bareOnnx, ...flags, '--data', cifar10, '--limit', '4']);
  assert.match(noLabel.stderr, /pass --labels cifar-10/);
  const ok = await owsd(['cloud', 'accuracy', '--model', bareOnnx, ...flags, '--labels', 'cifar-10', '--data', cifar10, '--limit', '40']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /top-1 \d+\.\d\d% \(\d+\)/);
  // Ties are said, not silently counted as misses.
  assert.match(ok.stdout, /^ties: \d+ images? tied for top-1 and \d+ at the top-5 boundary, counted as misses above \(as hits: top-1 \d+\.\d\d%, top-5 \d+\.\d\d%\)$/m);
});

test('key new --image-size 100 names the flag and the sizes allowed', async () => {
  const dir = tempDir();
  const t = await owsd(['key', 'new', '--out', path.join(dir, 'k.key'), '--image-size', '100']);
  assert.equal(t.code, 2);
  assert.equal(t.stderr, 'owsd: --image-size must be one of 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512 (pixels per side), got 100\n');
  assert.ok(!fs.existsSync(path.join(dir, 'k.key')));
  const j = await owsd(['key', 'new', '--out', path.join(dir, 'k.key'), '--image-size', '100', '--json']);
  assert.deepEqual(JSON.parse(j.stdout), { error: '--image-size must be one of 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512 (pixels per side), got 100', code: 'OWSD_ERR_BAD_ARGUMENT', field: '--image-size' });
});

test('predict without --key names --key (not "fitted with key(s) ..., but got :")', async () => {
  const t = await owsd(['predict', '--bundle', tempDir(), path.join(cifar10, 'batches.meta.txt')]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /^owsd: predict needs the bundle's key file\(s\): --key FILE/);
  assert.doesNotMatch(t.stderr, /but got/);
  const empty = await owsd(['predict', '--bundle', tempDir(), '--key', '', '--json', path.join(cifar10, 'batches.meta.txt')]);
  assert.equal(JSON.parse(empty.stdout).field, '--key');
});

test('CIFAR: a folder of data_batch_N.bin is recognised; a missing batches.meta.txt is named', async () => {
  const dir = tempDir('owsd-cifar-');
  const records = fs.readFileSync(path.join(cifar10, 'test_batch.bin'));
  // Two training batches, out of name order on disk: loaded in number order, all of them.
  fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), records.subarray(3073 * 9000, 3073 * 9010));
  fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), records.subarray(0, 3073 * 10));
  fs.copyFileSync(path.join(cifar10, 'batches.meta.txt'), path.join(dir, 'batches.meta.txt'));
  const ds = await loadDataset(dir);
  assert.equal(ds.format, 'cifar10');
  assert.equal(ds.samples.length, 20);
  assert.deepEqual([ds.samples[0]!.id, ds.samples[10]!.id], ['data_batch_1.bin#0', 'data_batch_2.bin#0']);
  const ok = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--data', dir, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).evaluated, 20);
  // The names file gone: the folder and a renamed batch file both say which file is missing.
  fs.rmSync(path.join(dir, 'batches.meta.txt'));
  fs.renameSync(path.join(dir, 'data_batch_2.bin'), path.join(dir, 'mine.bin'));
  const noNames = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--data', dir]);
  assert.equal(noNames.code, 3);
  assert.match(noNames.stderr, /^owsd: cifar10 class names file .*batches\.meta\.txt is missing/);
  const file = await owsd(['cloud', 'accuracy', '--model', 'cifar10-resnet20', '--data', path.join(dir, 'mine.bin'), '--json']);
  assert.equal(file.code, 3);
  const err = JSON.parse(file.stdout) as { error: string; code: string };
  assert.equal(err.code, 'OWSD_ERR_DATASET');
  assert.match(err.error, /mine\.bin looks like a CIFAR-10 batch \(10 records of 3073 bytes\): batches\.meta\.txt \(the class names, one a line\) is missing beside it/);
  assert.doesNotMatch(err.error, /not a dataset file/);
});

test('a HEIC photo: scramble and predict name the format and the fix; serve warns at start about an unreachable cloud', { timeout: 300_000 }, async () => {
  const dir = tempDir('owsd-heic-');
  const keyFile = path.join(dir, 'k.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(19), imageSize: 32, budget: 500, embeddingNoise: 0 }));
  const heic = path.join(dir, 'IMG_0001.HEIC');
  fs.writeFileSync(heic, heicLike());
  const ds = await loadDataset(cifar10);
  const png = path.join(dir, 'plane.png');
  const img = ds.samples[0]!.image as { data: Uint8Array };
  await sharp(img.data, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(png);
  const fix = /IMG_0001\.HEIC: cannot decode image: HEIC\/HEIF \(ftyp brand 'heic', the format iPhones save photos in\) is not accepted; convert it to JPEG first/;

  const s = await owsd(['scramble', '--key', keyFile, '--encoder', 'cifar10-resnet20', '--out', path.join(dir, 'out'), heic]);
  assert.equal(s.code, 3);
  assert.match(s.stderr, fix);
  noStack(s.stderr);

  const bundle = path.join(dir, 'b');
  await fit({ keys: [readKeyFile(keyFile)], encoders: ['cifar10-resnet20'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data: { path: cifar10, labels: 2, perLabel: 10, testFraction: 0, seed: 1 }, out: bundle, modelsDir, iin: { epochs: 10, hidden: 16 } });
  const p = await owsd(['predict', '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--top', '1', png, heic]);
  assert.equal(p.code, 3);
  assert.match(p.stdout, new RegExp(`^${png.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n +\\d+\\.\\d% `));
  assert.match(p.stdout, fix);

  // serve with a cloud that does not answer: a warning naming its URL at start, and the gateway still serves.
  const dead = `http://127.0.0.1:${await freePort()}`;
  const g = await startServeProcess(['--bundle', bundle, '--key', keyFile, '--cloud', dead, '--models', modelsDir], 120_000);
  try {
    const log = g.log.join('');
    assert.match(log, new RegExp(`owsd gateway: warning: the cloud at ${dead.replace(/[.]/g, '\\.')} \\(model 'cifar10-resnet20'\\) does not answer: .*ECONNREFUSED.*; serving anyway`));
    assert.equal((await fetch(`${g.url}/v1/status`)).status, 200);
  } finally {
    g.server.kill('SIGTERM');
  }
  // With a cloud that answers there is no warning.
  const live = await startServeProcess(['--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--models', modelsDir], 120_000);
  try {
    assert.doesNotMatch(live.log.join(''), /warning: the cloud/);
  } finally {
    live.server.kill('SIGTERM');
  }
});
