/**
 * The embedded cloud server end to end: the REAL server on loopback (port 0) hosting the four real ONNX
 * classifiers from ../shared/models, driven over HTTP by the KServe client (scrambled-like noise PNGs) and by
 * plain fetch (raw tensors, bad requests).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createCloudClient } from '../src/index.js';
import { buildCloudApp, startCloudServer, type RunningCloud } from '../src/server/index.js';
import { loadHostedModels } from '../src/cloud/server/start.js';
import { settings } from '../src/settings.js';
import type { OnnxClassifier } from '../src/models/classifier.js';
import { buildLabelMap, measurePlaintextCloudAccuracy, spreadSample, createPlaintextCloudProbe, encodeForSending } from '../src/research.js';
import { loadDataset } from '../src/data/index.js';
import type { Dataset, Sample } from '../src/types.js';
import { dataDir, modelsDir, noisePng, repoRoot } from './helpers.js';
import { postThenRead } from './slow-clients.js';

const IMAGENET = ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq'];
const ALL = [...IMAGENET, 'cifar10-resnet20', 'cifar100-mobilenetv3-small-128'];
const CLASSES: Record<string, number> = { 'mobilenetv2-12-int8': 1000, 'shufflenet-v2-12-qdq': 1000, 'cifar10-resnet20': 10, 'cifar100-mobilenetv3-small-128': 100 };



const argmax = (v: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};
const sum = (v: ArrayLike<number>): number => Array.from(v).reduce((a, b) => a + b, 0);

let cloud: RunningCloud;
let cifar10: Dataset;
let cifar100: Dataset;

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function getJson(url: string): Promise<any> {
  return (await fetch(url)).json();
}

const infer = (model: string): string => `${cloud.url}/v2/models/${model}/infer`;

/** The first sample of each label, in label order. */
function firstOfEachLabel(ds: Dataset): Sample[] {
  const seen = new Map<number, Sample>();
  for (const s of ds.samples) if (!seen.has(s.label)) seen.set(s.label, s);
  return [...seen.values()].sort((a, b) => a.label - b.label);
}

before(async () => {
  cloud = await startCloudServer({ model: ALL, modelsDir, logger: false, port: 0 });
  [cifar10, cifar100] = await Promise.all([loadDataset(path.join(dataDir, 'cifar-10')), loadDataset(path.join(dataDir, 'cifar-100'))]);
});

after(async () => {
  await cloud?.close();
});

describe('KServe V2 endpoints', () => {
  test('server metadata, liveness and readiness', async () => {
    const meta = await getJson(`${cloud.url}/v2`);
    assert.equal(meta.name, 'owsd-cloud');
    assert.ok(meta.extensions.includes('owsd_labels'));
    for (const p of ['/v2/health/live', '/v2/health/ready']) {
      const res = await fetch(`${cloud.url}${p}`);
      assert.equal(res.status, 200, p);
      assert.equal(await res.text(), '', `${p} has an empty body`);
    }
  });

  for (const name of ALL) {
    test(`metadata and readiness of ${name}`, async () => {
      for (const base of [`/v2/models/${name}`, `/v2/models/${name}/versions/1`]) {
        const res = await fetch(`${cloud.url}${base}`);
        assert.equal(res.status, 200);
        const meta = (await res.json()) as any;
        assert.equal(meta.name, name);
        assert.deepEqual(meta.versions, ['1']);
        assert.equal(meta.platform, 'onnxruntime_onnx');
        assert.deepEqual(meta.inputs, [{ name: 'image', datatype: 'BYTES', shape: [-1] }]);
        assert.deepEqual(meta.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, CLASSES[name]] }]);
        assert.equal(meta.parameters.num_classes, CLASSES[name]);
        assert.equal(meta.labels.ids.length, CLASSES[name]);
        assert.equal(meta.labels.names.length, CLASSES[name]);
        assert.equal((await fetch(`${cloud.url}${base}/ready`)).status, 200);
      }
    });
  }

  test('ImageNet labels are wnids, CIFAR labels are class names', async () => {
    const m = await getJson(`${cloud.url}/v2/models/mobilenetv2-12-int8`);
    assert.equal(m.labels.ids[0], 'n01440764');
    assert.equal(m.labels.names[0], 'tench');
    const c = await getJson(`${cloud.url}/v2/models/cifar10-resnet20`);
    assert.deepEqual(c.labels.ids, cifar10.classes);
  });

  test('unknown model, version and route answer 404 with {error}', async () => {
    for (const p of ['/v2/models/nope', '/v2/models/nope/ready', '/v2/models/cifar10-resnet20/versions/2', '/v2/models/cifar10-resnet20/versions/2/ready', '/v1/models/x']) {
      const res = await fetch(`${cloud.url}${p}`);
      assert.equal(res.status, 404, p);
      assert.match(((await res.json()) as any).error, /nope|version '2'|no such endpoint/, p);
    }
    const r = await post(infer('nope'), { inputs: [] });
    assert.equal(r.status, 404);
    assert.match(r.json.error, /unknown model 'nope'.*cifar10-resnet20/);
  });
});

describe('onnxruntime threads of the hosted models', () => {
  test('a model that runs one image at a time gets 1 intra-op thread, a batched one settings.threads; threads given win', async () => {
    // OWSD_THREADS, when set, is a choice: every model then gets it.
    const single = process.env.OWSD_THREADS ? settings.threads : 1;
    const byName = new Map(cloud.models.map((m) => [m.name, m.threads]));
    assert.equal(byName.get('shufflenet-v2-12-qdq'), single, 'batch dimension fixed at 1');
    assert.equal(byName.get('cifar10-resnet20'), single, 'batch dimension fixed at 1');
    assert.equal(byName.get('mobilenetv2-12-int8'), settings.threads, 'symbolic batch dimension');
    assert.equal(byName.get('cifar100-mobilenetv3-small-128'), settings.threads, 'symbolic batch dimension');
    const [given] = await loadHostedModels(['cifar10-resnet20'], { modelsDir, threads: 2 });
    try {
      assert.equal(given!.threads, 2);
    } finally {
      await (given!.classifier as OnnxClassifier).release();
    }
  });
});

describe('inference through the KServe client', () => {
  for (const name of ALL) {
    test(`${name}: noise PNGs give probability vectors of ${CLASSES[name]} that sum to 1`, async () => {
      const client = createCloudClient({ url: cloud.url, modelName: name, maxBatch: 2 });
      const images = await Promise.all([1, 2, 3].map((s) => noisePng(s)));
      const vectors = await client.classify(images);
      assert.equal(vectors.length, 3);
      for (const v of vectors) {
        assert.equal(v.length, CLASSES[name]);
        assert.ok(Math.abs(sum(v) - 1) < 1e-4, `sum ${sum(v)}`);
        assert.ok(v.every((x) => x >= 0 && Number.isFinite(x)));
      }
      assert.equal(await client.numClasses(), CLASSES[name]);
      const health = await client.health();
      assert.equal(health.ok, true, health.detail);
    });
  }

  test('a batch of 5 to the batch-1 models equals 5 single requests', async () => {
    const images = await Promise.all([11, 12, 13, 14, 15].map((s) => noisePng(s, 64, 48)));
    for (const name of ['shufflenet-v2-12-qdq', 'cifar10-resnet20']) {
      const batched = createCloudClient({ url: cloud.url, modelName: name, maxBatch: 5 });
      const single = createCloudClient({ url: cloud.url, modelName: name, maxBatch: 1 });
      const [a, b] = await Promise.all([batched.classify(images), single.classify(images)]);
      assert.equal(a.length, 5);
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < a[i]!.length; j++) assert.ok(Math.abs(a[i]![j]! - b[i]![j]!) < 1e-5, `${name} image ${i} class ${j}`);
      }
    }
  });
});

describe('real images (plaintext probe: a test of the cloud itself)', () => {
  test('cifar10-resnet20 classifies the first CIFAR-10 test image of each class correctly', async () => {
    const samples = firstOfEachLabel(cifar10);
    assert.equal(samples.length, 10);
    const probe = createPlaintextCloudProbe({ url: cloud.url, modelName: 'cifar10-resnet20', maxBatch: 5 });
    const v = await probe.classifyPlaintext(await Promise.all(samples.map((s) => encodeForSending(s.image))));
    const correct = samples.filter((s, i) => argmax(v[i]!) === s.label).length;
    assert.ok(correct >= 9, `${correct}/10 correct`);
  });

  test('cifar100-mobilenetv3-small-128 on CIFAR-100 images', async () => {
    const samples = firstOfEachLabel(cifar100).slice(0, 20);
    const probe = createPlaintextCloudProbe({ url: cloud.url, modelName: 'cifar100-mobilenetv3-small-128' });
    const v = await probe.classifyPlaintext(await Promise.all(samples.map((s) => encodeForSending(s.image))));
    const top1 = samples.filter((s, i) => argmax(v[i]!) === s.label).length;
    assert.ok(top1 >= 10, `${top1}/20 top-1`);
  });

  for (const name of IMAGENET) {
    test(`${name} classifies Imagenette images (tench, chain saw, parachute) to their wnid`, async () => {
      const wnids = ['n01440764', 'n03000684', 'n03888257'];
      const files = wnids.map((w) => {
        const dir = path.join(dataDir, 'imagenette-val', w);
        return path.join(dir, fs.readdirSync(dir).sort()[0]!);
      });
      const probe = createPlaintextCloudProbe({ url: cloud.url, modelName: name });
      const ids = (await probe.metadata()).labels!.ids;
      const v = await probe.classifyPlaintext(files.map((f) => new Uint8Array(fs.readFileSync(f))));
      assert.deepEqual(v.map((x) => ids[argmax(x)]), wnids);
    });
  }
});

describe('raw pixel tensors', () => {
  test('UINT8 [N,H,W,3], FP32 [N,3,H,W] (0..255), nested data and a PNG give the same answer', async () => {
    const samples = cifar10.samples.slice(0, 2);
    const hwc = samples.map((s) => (s.image as { data: Uint8Array }).data);
    const nhwc = hwc.flatMap((d) => Array.from(d));
    const nchw: number[] = [];
    for (const d of hwc) for (let c = 0; c < 3; c++) for (let p = 0; p < 32 * 32; p++) nchw.push(d[p * 3 + c]!);
    const a = await post(infer('cifar10-resnet20'), { id: 'req-7', inputs: [{ name: 'pixels', shape: [2, 32, 32, 3], datatype: 'UINT8', data: nhwc }] });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.id, 'req-7');
    assert.equal(a.json.model_name, 'cifar10-resnet20');
    assert.deepEqual(a.json.outputs[0].shape, [2, 10]);
    assert.equal(a.json.outputs[0].datatype, 'FP32');
    const b = await post(infer('cifar10-resnet20'), { inputs: [{ name: 'x', shape: [2, 3, 32, 32], datatype: 'FP32', data: nchw.map((x) => x + 0.2) }] });
    assert.equal(b.status, 200, JSON.stringify(b.json));
    // nested (natural multi-dimensional) form of the first image
    const nested = [Array.from({ length: 32 }, (_, y) => Array.from({ length: 32 }, (_, x) => Array.from(hwc[0]!.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3))))];
    const c = await post(infer('cifar10-resnet20'), { inputs: [{ name: 'x', shape: [1, 32, 32, 3], datatype: 'UINT8', data: nested }] });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    const probe = createPlaintextCloudProbe({ url: cloud.url, modelName: 'cifar10-resnet20' });
    const d = await probe.classifyPlaintext(await Promise.all(samples.map((s) => encodeForSending(s.image))));
    const flatD = d.flatMap((v) => Array.from(v));
    for (let i = 0; i < 20; i++) {
      assert.ok(Math.abs(a.json.outputs[0].data[i] - b.json.outputs[0].data[i]) < 1e-6);
      assert.ok(Math.abs(a.json.outputs[0].data[i] - flatD[i]!) < 1e-6);
      if (i < 10) assert.ok(Math.abs(a.json.outputs[0].data[i] - c.json.outputs[0].data[i]) < 1e-6);
    }
  });

  test('raw pixels of any size are resized for the model', async () => {
    const n = 1;
    const h = 40;
    const w = 50;
    const data = Array.from({ length: n * h * w * 3 }, (_, i) => (i * 7) % 256);
    const r = await post(infer('mobilenetv2-12-int8'), { inputs: [{ name: 'x', shape: [n, h, w, 3], datatype: 'UINT8', data }] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.outputs[0].shape, [1, 1000]);
  });

  test('BYTES elements may be {"b64": ...} objects', async () => {
    const png = (await noisePng(5, 32, 32)).png;
    const r = await post(infer('cifar10-resnet20'), { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [{ b64: Buffer.from(png).toString('base64') }] }], outputs: [{ name: 'probabilities' }] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.outputs[0].data.length, 10);
  });
});

describe('bad requests answer 4xx naming the field, and the server keeps serving', () => {
  const png = (): Promise<string> => noisePng(9, 16, 16).then((s) => Buffer.from(s.png).toString('base64'));
  const bytes = (data: unknown[], shape = [data.length]) => ({ inputs: [{ name: 'image', shape, datatype: 'BYTES', data }] });

  test('each kind of bad request', async () => {
    const good = await png();
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['malformed JSON', '{"inputs": [', 400, /not valid JSON/],
      ['empty body', '', 400, /body is empty/],
      ['not an object', '[1,2]', 400, /expected a JSON object/],
      ['missing inputs', {}, 400, /inputs: missing/],
      ['empty inputs', { inputs: [] }, 400, /inputs: expected a non-empty array/],
      ['two inputs', { inputs: [bytes([good]).inputs[0], bytes([good]).inputs[0]] }, 400, /exactly one input/],
      ['input without name', { inputs: [{ shape: [1], datatype: 'BYTES', data: [good] }] }, 400, /inputs\[0\]\.name/],
      ['missing shape', { inputs: [{ name: 'x', datatype: 'BYTES', data: [good] }] }, 400, /inputs\[0\]\.shape: missing/],
      ['negative shape', { inputs: [{ name: 'x', shape: [-1], datatype: 'BYTES', data: [good] }] }, 400, /inputs\[0\]\.shape/],
      ['unknown datatype', { inputs: [{ name: 'x', shape: [1], datatype: 'FLOAT', data: [good] }] }, 400, /inputs\[0\]\.datatype: expected one of/],
      ['unsupported datatype', { inputs: [{ name: 'x', shape: [1, 2, 2, 3], datatype: 'INT32', data: new Array(12).fill(1) }] }, 400, /inputs\[0\]\.datatype: INT32 is not accepted/],
      ['missing data', { inputs: [{ name: 'x', shape: [1], datatype: 'BYTES' }] }, 400, /inputs\[0\]\.data: missing/],
      ['data length != shape', bytes([good, good], [3]), 400, /inputs\[0\]\.data: has 2 elements but shape \[3\] needs 3/],
      ['BYTES of rank 3', bytes([good], [1, 1, 1]), 400, /inputs\[0\]\.shape: a BYTES tensor/],
      ['BYTES element a number', bytes([42]), 400, /inputs\[0\]\.data\[0\]: a BYTES element must be/],
      ['not base64', bytes(['not base64!!']), 400, /inputs\[0\]\.data\[0\]: not base64/],
      ['undecodable image', bytes([Buffer.from('hello, this is not an image at all').toString('base64')]), 400, /inputs\[0\]\.data\[0\]: cannot decode image/],
      ['raw pixels without a 3 dim', { inputs: [{ name: 'x', shape: [1, 4, 4, 4], datatype: 'UINT8', data: new Array(64).fill(0) }] }, 400, /\[N,H,W,3\] or \[N,3,H,W\]/],
      ['raw pixel data too short', { inputs: [{ name: 'x', shape: [1, 4, 4, 3], datatype: 'UINT8', data: new Array(47).fill(0) }] }, 400, /has 47 elements but shape \[1,4,4,3\] needs 48/],
      ['UINT8 out of range', { inputs: [{ name: 'x', shape: [1, 2, 2, 3], datatype: 'UINT8', data: [...new Array(11).fill(0), 300] }] }, 400, /inputs\[0\]\.data\[11\]: 300 is outside UINT8/],
      ['FP32 normalised, not 0..255', { inputs: [{ name: 'x', shape: [1, 2, 2, 3], datatype: 'FP32', data: [...new Array(11).fill(0), -1.5] }] }, 400, /not normalised/],
      ['unknown output', { ...bytes([good]), outputs: [{ name: 'logits' }] }, 400, /outputs\[0\]\.name: unknown output 'logits'/],
      ['parameters not scalars', { ...bytes([good]), parameters: { a: [1] } }, 400, /parameters\.a/],
    ];
    for (const [what, body, status, re] of cases) {
      const r = await post(infer('cifar10-resnet20'), body);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.error, 'string', what);
      assert.match(r.json.error, re, what);
    }
    // form-encoded content type (curl -d) is still read as JSON
    const form = await post(infer('cifar10-resnet20'), JSON.stringify(bytes([good])), { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 200);
    // and the server still answers
    const ok = await post(infer('cifar10-resnet20'), bytes([good, good]));
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.outputs[0].shape, [2, 10]);
  });

  test('an oversized body answers 413 and the server keeps serving', async () => {
    const small = buildCloudApp({ models: cloud.models, maxBodyBytes: 4096, logger: false });
    await small.listen({ port: 0, host: '127.0.0.1' });
    try {
      const url = `http://127.0.0.1:${(small.server.address() as { port: number }).port}/v2/models/cifar10-resnet20/infer`;
      const big = await post(url, bytes(['A'.repeat(8000)]));
      assert.equal(big.status, 413);
      assert.match(big.json.error, /larger than the server's limit of 4096 bytes/);
      // A client that reads only after sending a whole 16 KB body still gets the 413: the server drained it rather than
      // resetting the connection (which made fetch fail now and then with EPIPE or "fetch failed").
      const unread = await postThenRead(url, 16_384);
      assert.equal(unread.status, 413, JSON.stringify(unread));
      assert.match(unread.body!, /larger than the server's limit/);
      assert.doesNotMatch(unread.headers!, /connection: close/);
      // Far beyond the limit (more than DRAIN_FACTOR times) the connection is closed instead of read to its end.
      const huge = await postThenRead(url, 64 * 4096);
      assert.ok(huge.error !== undefined || (huge.status === 413 && /connection: close/.test(huge.headers)), JSON.stringify(huge));
      const ok = await post(url, bytes([await png()]));
      assert.equal(ok.status, 200);
    } finally {
      await small.close();
    }
  });

  test('one log line per request: method, url, status, ms', async () => {
    const lines: string[] = [];
    const app = buildCloudApp({ models: cloud.models, logger: (l) => lines.push(l) });
    const good = await png();
    await app.inject({ method: 'GET', url: '/v2/health/ready' });
    await app.inject({ method: 'POST', url: '/v2/models/cifar10-resnet20/infer', payload: bytes([good]) });
    await app.inject({ method: 'POST', url: '/v2/models/cifar10-resnet20/infer', payload: '{' });
    await app.close();
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^GET \/v2\/health\/ready 200 \d+\.\dms$/);
    assert.match(lines[1]!, /^POST \/v2\/models\/cifar10-resnet20\/infer 200 \d+\.\dms$/);
    assert.match(lines[2]!, /^POST \/v2\/models\/cifar10-resnet20\/infer 400 \d+\.\dms$/);
  });
});

describe('plaintext accuracy harness (tests the cloud itself)', () => {
  test('buildLabelMap matches ids, then case/underscore-folded ids and names', () => {
    assert.deepEqual(buildLabelMap(['n01440764', 'n99999999'], ['n00000001', 'n01440764']), [1, -1]);
    assert.deepEqual(buildLabelMap(['Aquarium Fish', 'x'], ['apple', 'aquarium_fish'], ['aquarium fish', 'apple']), [1, 0]);
  });

  test('cifar10-resnet20 on 100 CIFAR-10 test images spread over the classes', async () => {
    const probe = createPlaintextCloudProbe({ url: cloud.url, modelName: 'cifar10-resnet20', maxBatch: 16, concurrency: 2 });
    const ids = (await probe.metadata()).labels!.ids;
    const samples = spreadSample(cifar10.samples, 100);
    assert.equal(new Set(samples.map((s) => s.label)).size, 10);
    const r = await measurePlaintextCloudAccuracy({ probe, samples, labelMap: buildLabelMap(cifar10.classes, ids) });
    assert.equal(r.evaluated, 100);
    assert.equal(r.skipped, 0);
    const a = r.accuracy;
    assert.ok(a.top1 >= 0.85 && a.top1 <= a.top5, `top-1 ${a.top1}, top-5 ${a.top5}`);
    assert.ok(r.accuracyTiesAsHits.top1 >= a.top1 && r.accuracyTiesAsHits.top1 === (r.correct.top1 + r.ties.top1) / 100);
  });
});

describe('shutdown', () => {
  test('close() finishes in-flight requests, then refuses new ones', async () => {
    const own = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
    try {
      const images = await Promise.all(Array.from({ length: 24 }, (_, i) => noisePng(100 + i, 96, 96)));
      const client = createCloudClient({ url: own.url, modelName: 'cifar10-resnet20', maxBatch: 8, concurrency: 3, retries: 0 });
      // Close once all three requests have reached the server (none answered yet: the model runs one at a time).
      let arrived = 0;
      const allArrived = new Promise<void>((resolve) => own.app.server.on('request', () => ++arrived === 3 && resolve()));
      const pending = client.classify(images);
      await allArrived;
      const closed = own.close();
      const vectors = await pending;
      await closed;
      assert.equal(vectors.length, 24);
      await assert.rejects(client.classify(images.slice(0, 1)), (e: unknown) => (e as { code?: string }).code === 'OWSD_ERR_CLOUD_NETWORK');
    } finally {
      await own.close();
    }
  });

  test('`owsd cloud serve` logs one line per request to stderr and stops cleanly on SIGTERM', async () => {
    const main = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
    const child = spawn(process.execPath, [main, 'cloud', 'serve', '--model', 'cifar10-resnet20', '--models', modelsDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /at (http:\/\/\S+) \(KServe/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`server exited: ${stderr}`)));
    });
    const client = createCloudClient({ url, modelName: 'cifar10-resnet20' });
    const [v] = await client.classify([await noisePng(7, 32, 32)]);
    assert.equal(v!.length, 10);
    assert.equal((await fetch(`${url}/v2/models/nope`)).status, 404);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /^POST \/v2\/models\/cifar10-resnet20\/infer 200 \d+\.\dms$/m);
    assert.match(stderr, /^GET \/v2\/models\/nope 404 \d+\.\dms$/m);
    assert.match(stderr, /SIGTERM: finishing in-flight requests[\s\S]*stopped/);
  });
});
