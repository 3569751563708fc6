/**
 * Only scrambled images leave. `owsd fit`, `owsd eval`, `owsd predict` and the library's Predictor run against a
 * recording proxy on 127.0.0.1 in front of the real embedded cloud; every byte they send is kept, and no 32-byte
 * window of any original image file, of its decoded pixels, of its embedding (float32 bytes, base64, hex) or of
 * the key (its secret, each generator layer's derived stream key and the start of its weights) may appear in it (base64 strings in the traffic are decoded and searched too). A positive
 * control sends each of these things on purpose and checks that the detector sees it.
 *
 * The gateway's traffic is checked the same way in test/gateway-reliability.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { decodeRgb, Predictor, readKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { float32ToBase64 } from '../src/internal/float-base64.js';
import { imagenetteFiles, modelsDir, runOwsd, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';
import { Haystack, imageAndKeySecrets, leaks, trafficOf, type Secret } from './leak-check.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };
const owsd = (args: string[]) => runOwsd(args, env);
const ENCODER = 'mobilenetv2-12-int8';
const CLOUD_MODEL = 'cifar10-resnet20';

const dir = tempDir('owsd-leak-');
const data = path.join(dir, 'data');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
// 3 labels x 6 images as a class-folder dataset, and 2 images that only predict sees.
const CLASSES = ['n01440764', 'n02102040', 'n03028079'];
const datasetFiles: string[] = [];
for (const wnid of CLASSES) {
  fs.mkdirSync(path.join(data, wnid), { recursive: true });
  for (const f of imagenetteFiles(6, wnid)) {
    const to = path.join(data, wnid, path.basename(f));
    fs.copyFileSync(f, to);
    datasetFiles.push(to);
  }
}
const predictFiles = imagenetteFiles(8, 'n03394916').slice(6);
const allFiles = [...datasetFiles, ...predictFiles];

let cloud: RunningCloud;
let proxy: RecordingProxy;
const outputs: string[] = [];

before(async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  proxy = await startRecordingProxy(cloud.url);
});
after(async () => {
  await proxy?.close();
  await cloud?.close();
});

/** Everything that could betray an image or the key (see leak-check.ts). */
const secretsOf = (files: string[]): Promise<Secret[]> => imageAndKeySecrets(files, keyFile, ENCODER, modelsDir);


test('fit, eval, predict (CLI) and Predictor (library) send no byte of any image, embedding or key', async () => {
  const made = await owsd(['key', 'new', '--out', keyFile, '--image-size', '64', '--budget', '500']);
  assert.equal(made.code, 0, made.stderr);
  outputs.push(made.stdout, made.stderr);
  const common = ['--key', keyFile, '--models', modelsDir];
  const fitted = await owsd(['fit', ...common, '--encoder', ENCODER, '--cloud', proxy.url, '--model-name', CLOUD_MODEL, '--data', data, '--test-fraction', '0.34', '--epochs', '5', '--hidden', '16', '--out', bundle]);
  assert.equal(fitted.code, 0, fitted.stderr);
  const evaluated = await owsd(['eval', '--bundle', bundle, ...common, '--cloud', proxy.url]);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const predicted = await owsd(['predict', '--bundle', bundle, ...common, '--cloud', proxy.url, '--json', ...predictFiles]);
  assert.equal(predicted.code, 0, predicted.stderr);
  outputs.push(fitted.stdout, fitted.stderr, evaluated.stdout, evaluated.stderr, predicted.stdout, predicted.stderr);
  const p = await Predictor.open({ bundle, keys: [readKeyFile(keyFile)], modelsDir, cloud: { url: proxy.url } });
  const [top] = await p.predict([{ kind: 'file', path: predictFiles[0]! }], 2);
  await p.close();
  assert.equal(top!.length, 2);

  // The traffic is real: every image went out scrambled (fit 12 + eval 6 + predict 2 + library 1).
  assert.equal(proxy.imagesForwarded(), 12 + 6 + 2 + 1);
  const hay = new Haystack(trafficOf(proxy));
  assert.ok(hay.bytes > 21 * 5000, `recorded ${hay.bytes} bytes`);
  const secrets = await secretsOf(allFiles);
  assert.deepEqual(leaks(hay, secrets), []);

  // Nor do the CLI's output, the bundle or the journal hold the key or an embedding.
  const files = [bundle, `${bundle}.work`].flatMap((d) => fs.readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)));
  assert.ok(files.some((f) => f.endsWith('.jsonl')) && files.some((f) => f.endsWith('bundle.json')), files.join(' '));
  const local = new Haystack([...outputs.map((o) => Buffer.from(o)), ...files.map((f) => fs.readFileSync(f))]);
  assert.deepEqual(leaks(local, secrets.filter((s) => /embedding|key/.test(s.what))), []);
});

test('positive control: the detector sees plaintext files, pixels, embeddings and the key when they are sent', async () => {
  const control = await startRecordingProxy(cloud.url);
  try {
    // `eval --plaintext-reference` sends the original files on purpose (only for a cloud you run yourself).
    const r = await owsd(['eval', '--bundle', bundle, '--key', keyFile, '--models', modelsDir, '--cloud', control.url, '--plaintext-reference']);
    assert.equal(r.code, 0, r.stderr);
    const px = await decodeRgb({ kind: 'file', path: predictFiles[1]! });
    const raw = { inputs: [{ name: 'image', datatype: 'UINT8', shape: [1, px.height, px.width, 3], data: Array.from(px.data) }] };
    await fetch(`${control.url}/v2/models/${CLOUD_MODEL}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(raw) });
    const all = await secretsOf(allFiles);
    const embedding = all.find((s) => s.what === `${path.basename(predictFiles[0]!)} embedding`)!;
    const key = readKeyFile(keyFile).secret;
    await fetch(`${control.url}/nowhere`, { method: 'POST', body: JSON.stringify({ e: float32ToBase64(new Float32Array(embedding.bytes.buffer.slice(embedding.bytes.byteOffset, embedding.bytes.byteOffset + embedding.bytes.byteLength))), k: Buffer.from(key).toString('hex') }) });
    await fetch(`${control.url}/nowhere`, { method: 'POST', body: JSON.stringify({ e: Array.from(new Float32Array(all.find((s) => s.what === `${path.basename(predictFiles[1]!)} embedding`)!.bytes.slice().buffer)) }) });
    // JPEG headers (JFIF, quantization and Huffman tables) are common to many files: past them, each file is its own.
    const found = leaks(new Haystack(trafficOf(control)), all.map((s) => (/ file$/.test(s.what) ? { ...s, bytes: s.bytes.subarray(1024) } : s)));
    // The 6 held-out files (eval's plaintext reference, as base64), one image's pixels as a UINT8 tensor (JSON
    // numbers), an embedding as base64 float32 and another as a JSON number list, the key as hex.
    assert.equal(found.filter((f) => / file /.test(f)).length, 6, found.join('\n'));
    assert.ok(found.some((f) => f.startsWith(`${path.basename(predictFiles[1]!)} pixels (`)), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith(`${path.basename(predictFiles[0]!)} embedding (`)), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith(`${path.basename(predictFiles[1]!)} embedding (`)), found.join('\n'));
    assert.ok(found.some((f) => f.startsWith('key secret as hex')), found.join('\n'));
  } finally {
    await control.close();
  }
});

/** Hook for the gateway (`owsd serve`): put its upstream cloud behind a RecordingProxy and assert the same. */
export async function assertNoLeakThrough(p: RecordingProxy, secrets: Secret[]): Promise<void> {
  assert.deepEqual(leaks(new Haystack(trafficOf(p)), secrets), []);
}
