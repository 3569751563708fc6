/**
 * The KServe V2 binary tensor data extension end to end: the REAL embedded cloud on loopback hosting a real ONNX
 * classifier (cifar10-resnet20 from ../shared/models), driven by plain fetch (hand-built binary bodies, honest and
 * lying) and by the KServe client on each wire, with a recording proxy in between where the test needs to see or
 * bend the traffic.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import path from 'node:path';
import { createKey, fit, KServeClient, isOwsdError, openCloud, Predictor, readBundle, type ScrambledImage } from '../src/index.js';
import { FIT_DEFAULT_WIRE } from '../src/pipeline/fit.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { BINARY_EXTENSION, buildBinaryImageRequest, buildImageInferenceRequest, HEADER_LENGTH_HEADER } from '../src/cloud/protocol.js';
import { dataDir, imagenetteFiles, modelsDir, noisePng, tempDir } from './helpers.js';
import { startRecordingProxy } from './proxy.js';

const MODEL = 'cifar10-resnet20';
let cloud: RunningCloud;
let images: ScrambledImage[];
const infer = (): string => `${cloud.url}/v2/models/${MODEL}/infer`;

/** POST a body with headers; the answer's status, headers and bytes. */
async function post(url: string, body: Uint8Array | string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** A binary request body: the JSON header (as given) then the tensor bytes, with an honest header length unless told. */
function binaryBody(json: unknown, tensor: Uint8Array, headerLength?: string): { body: Buffer; headers: Record<string, string> } {
  const head = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([head, tensor]), headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH_HEADER]: headerLength ?? String(head.length) } };
}

/** BYTES elements as the extension frames them: 4-byte little-endian length, then the bytes. */
function framed(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => [Buffer.from(new Uint32Array([p.length]).buffer), Buffer.from(p)]));
}

async function jsonProbs(pngs: Uint8Array[]): Promise<number[]> {
  const req = buildImageInferenceRequest(pngs.map((p) => Buffer.from(p).toString('base64')));
  const r = await post(infer(), JSON.stringify(req), { 'content-type': 'application/json' });
  assert.equal(r.status, 200, r.bytes.toString());
  return JSON.parse(r.bytes.toString()).outputs[0].data;
}

async function expect400(r: { status: number; bytes: Buffer }, pattern: RegExp): Promise<void> {
  assert.equal(r.status, 400, r.bytes.toString());
  const j = JSON.parse(r.bytes.toString());
  assert.match(j.error, pattern);
  assert.doesNotMatch(j.error, /\n\s+at /, 'no stack trace');
}

before(async () => {
  cloud = await startCloudServer({ model: MODEL, modelsDir, logger: false, port: 0 });
  images = await Promise.all([1, 2, 3].map((s) => noisePng(s, 32)));
});

after(async () => {
  await cloud?.close();
});

describe('server: binary tensor data requests', () => {
  test('server metadata lists binary_tensor_data', async () => {
    const meta = (await (await fetch(`${cloud.url}/v2`)).json()) as { extensions: string[] };
    assert.ok(meta.extensions.includes(BINARY_EXTENSION));
  });

  test('a BYTES tensor of raw PNGs gets the same probabilities as the base64 JSON request, as JSON or as binary FP32', async () => {
    const pngs = images.map((i) => i.png);
    const expected = await jsonProbs(pngs);
    const { body, headerLength } = buildBinaryImageRequest(pngs);
    const r = await post(infer(), body, { 'content-type': 'application/octet-stream', [HEADER_LENGTH_HEADER]: String(headerLength) });
    assert.equal(r.status, 200, r.bytes.toString());
    assert.equal(r.headers.get(HEADER_LENGTH_HEADER), null, 'no binary output asked: a plain JSON answer');
    assert.deepEqual(JSON.parse(r.bytes.toString()).outputs[0].data, expected);

    const bin = buildBinaryImageRequest(pngs, { binaryOutput: true });
    const b = await post(infer(), bin.body, { [HEADER_LENGTH_HEADER]: String(bin.headerLength) }); // no content type: the header decides
    assert.equal(b.status, 200, b.bytes.toString());
    assert.equal(b.headers.get('content-type'), 'application/octet-stream');
    const hl = Number(b.headers.get(HEADER_LENGTH_HEADER));
    const head = JSON.parse(b.bytes.subarray(0, hl).toString());
    const out = head.outputs[0];
    assert.equal(out.data, undefined);
    assert.deepEqual(out.shape, [3, 10]);
    assert.equal(out.parameters.binary_data_size, 3 * 10 * 4);
    assert.equal(b.bytes.length, hl + 120);
    const tail = b.bytes.subarray(hl);
    const values = Array.from({ length: 30 }, (_, i) => tail.readFloatLE(i * 4));
    assert.deepEqual(values, expected.map((x) => Math.fround(x)));
    // Per-output binary_data overrides the request-wide parameter.
    const off = binaryBody({ parameters: { binary_data_output: true }, inputs: [{ name: 'image', shape: [3], datatype: 'BYTES', parameters: { binary_data_size: framed(pngs).length } }], outputs: [{ name: 'probabilities', parameters: { binary_data: false } }] }, framed(pngs));
    const o = await post(infer(), off.body, off.headers);
    assert.equal(o.status, 200);
    assert.equal(o.headers.get(HEADER_LENGTH_HEADER), null);
  });

  test('raw UINT8 NHWC and FP32 NCHW pixels in binary classify as the PNG of the same pixels', async () => {
    const { data, info } = await sharp(images[0]!.png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 3);
    const expected = await jsonProbs([images[0]!.png]);
    const u8 = binaryBody({ inputs: [{ name: 'x', shape: [1, 32, 32, 3], datatype: 'UINT8', parameters: { binary_data_size: data.length } }] }, data);
    const a = await post(infer(), u8.body, u8.headers);
    assert.equal(a.status, 200, a.bytes.toString());
    assert.deepEqual(JSON.parse(a.bytes.toString()).outputs[0].data, expected);
    const planes = new Float32Array(3 * 32 * 32);
    for (let p = 0; p < 32 * 32; p++) for (let c = 0; c < 3; c++) planes[c * 1024 + p] = data[p * 3 + c]!;
    const f32 = binaryBody({ inputs: [{ name: 'x', shape: [1, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: planes.byteLength } }] }, new Uint8Array(planes.buffer));
    const b = await post(infer(), f32.body, f32.headers);
    assert.equal(b.status, 200, b.bytes.toString());
    assert.deepEqual(JSON.parse(b.bytes.toString()).outputs[0].data, expected);
  });

  test('lying, truncated and malformed binary bodies are clear 400s and the server keeps serving', async () => {
    const png = images[0]!.png;
    const tensor = framed([png]);
    const json = { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] };
    const honest = binaryBody(json, tensor);
    const headLen = Number(honest.headers[HEADER_LENGTH_HEADER]);
    const notPng = framed([Buffer.from('this is not an image at all, just text')]);
    const cases: Array<[string, { body: Buffer; headers: Record<string, string> }, RegExp]> = [
      ['header longer than the body', binaryBody(json, tensor, String(honest.body.length + 1)), /Inference-Header-Content-Length: says the JSON part is \d+ bytes but the whole body is \d+ bytes/],
      ['header not a number', binaryBody(json, tensor, 'lots'), /Inference-Header-Content-Length: expected the length of the JSON part in bytes/],
      ['header zero', binaryBody(json, tensor, '0'), /Inference-Header-Content-Length: is 0/],
      ['header cuts the JSON short', binaryBody(json, tensor, String(headLen - 5)), /\(the JSON part: the first Inference-Header-Content-Length bytes\) is not valid JSON/],
      ['header reaches into the tensor', binaryBody(json, tensor, String(headLen + 3)), /is not valid JSON/],
      ['truncated tensor', { body: honest.body.subarray(0, honest.body.length - 100), headers: honest.headers }, /inputs\[0\]\.parameters\.binary_data_size: declares \d+ bytes but only \d+ bytes of binary data remain/],
      ['bytes left over', { body: Buffer.concat([honest.body, Buffer.alloc(7)]), headers: honest.headers }, /7\d* bytes follow the JSON header .* add up to/],
      ['BYTES element longer than its tensor', binaryBody({ inputs: [{ ...json.inputs[0], parameters: { binary_data_size: tensor.length } }] }, Buffer.concat([Buffer.from(new Uint32Array([png.length + 50]).buffer), Buffer.from(png)])), /BYTES element 0 declares \d+ bytes but only \d+ remain/],
      ['fewer BYTES elements than the shape', binaryBody({ inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: tensor.length } }] }, tensor), /ends after 1 of 2 BYTES elements/],
      ['UINT8 size does not match the shape', binaryBody({ inputs: [{ name: 'x', shape: [1, 32, 32, 3], datatype: 'UINT8', parameters: { binary_data_size: 100 } }] }, Buffer.alloc(100)), /binary_data_size: 100 bytes but shape \[1,32,32,3\] of UINT8 needs 3072/],
      ['negative binary_data_size', binaryBody({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: -1 } }] }, tensor), /binary_data_size: expected a non-negative integer/],
      ['both data and binary_data_size', binaryBody({ inputs: [{ ...json.inputs[0], data: ['x'] }] }, tensor), /both "data" and parameters\.binary_data_size/],
      ['binary_data_size without the header', { body: Buffer.from(JSON.stringify(json)), headers: { 'content-type': 'application/json' } }, /needs the header Inference-Header-Content-Length/],
      ['not an image inside', binaryBody({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: notPng.length } }] }, notPng), /image|decode|format/i],
    ];
    for (const [what, req, pattern] of cases) {
      const r = await post(infer(), req.body, req.headers);
      await t400(what, r, pattern);
    }
    const ok = await post(infer(), honest.body, honest.headers);
    assert.equal(ok.status, 200, 'the server keeps serving');
  });

  test('a binary body over the size cap is a 413', async () => {
    const small = await startCloudServer({ model: MODEL, modelsDir, logger: false, port: 0, maxBodyBytes: 8 * 1024 });
    try {
      const big = Buffer.alloc(20 * 1024, 7);
      const req = binaryBody({ inputs: [{ name: 'x', shape: [1, 64, 106, 3], datatype: 'UINT8', parameters: { binary_data_size: big.length } }] }, big);
      const r = await post(`${small.url}/v2/models/${MODEL}/infer`, req.body, req.headers);
      assert.equal(r.status, 413);
      assert.match(JSON.parse(r.bytes.toString()).error, /larger than the server's limit of 8192 bytes/);
    } finally {
      await small.close();
    }
  });
});

async function t400(what: string, r: { status: number; bytes: Buffer }, pattern: RegExp): Promise<void> {
  try {
    await expect400(r, pattern);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

describe('client: the binary wire, auto-detection and the JSON fallback', () => {
  test('wire binary and auto give the same vectors as JSON, and the binary request carries the PNGs raw and is smaller', async () => {
    const proxy = await startRecordingProxy(cloud.url);
    try {
      const json = await new KServeClient({ url: proxy.url, modelName: MODEL }).classify(images);
      const binary = new KServeClient({ url: proxy.url, modelName: MODEL, wire: 'binary' });
      const viaBinary = await binary.classify(images);
      const auto = new KServeClient({ url: proxy.url, modelName: MODEL, wire: 'auto' });
      assert.equal(auto.wire, 'auto');
      const viaAuto = await auto.classify(images);
      assert.equal(auto.wire, 'binary', 'auto read binary_tensor_data from GET /v2');
      assert.deepEqual(viaBinary.map((v) => Array.from(v)), json.map((v) => Array.from(v)));
      assert.deepEqual(viaAuto.map((v) => Array.from(v)), json.map((v) => Array.from(v)));
      const posts = proxy.requests.filter((r) => r.method === 'POST');
      assert.equal(posts.length, 3);
      const [j, b] = posts;
      assert.equal(j!.headers[HEADER_LENGTH_HEADER], undefined);
      assert.ok(Number(b!.headers[HEADER_LENGTH_HEADER]) > 0);
      assert.ok(b!.body.includes(Buffer.from(images[1]!.png)), 'the PNG bytes travel as they are');
      assert.ok(b!.body.length < j!.body.length * 0.8, `binary ${b!.body.length} B vs JSON ${j!.body.length} B`);
    } finally {
      await proxy.close();
    }
  });

  test('auto stays on JSON when the server does not list the extension', async () => {
    const proxy = await startRecordingProxy(cloud.url, { fault: (_n, req) => (req.url === '/v2' ? { kind: 'rewrite', rewrite: (m) => ({ ...m, extensions: [] }) } : undefined) });
    try {
      const c = new KServeClient({ url: proxy.url, modelName: MODEL, wire: 'auto' });
      const v = await c.classify(images.slice(0, 1));
      assert.equal(v.length, 1);
      assert.equal(c.wire, 'json');
      const post = proxy.requests.find((r) => r.method === 'POST')!;
      assert.equal(post.headers[HEADER_LENGTH_HEADER], undefined);
      assert.equal(post.images, 1);
    } finally {
      await proxy.close();
    }
  });

  test('a server refusing the binary body gets the request again as JSON (counted as a resend), and JSON from then on', async () => {
    const proxy = await startRecordingProxy(cloud.url, {
      fault: (_n, req) => (req.headers[HEADER_LENGTH_HEADER] !== undefined ? { kind: 'answer', status: 400, body: JSON.stringify({ error: 'Unrecognized request format: Expecting value: line 1 column 1 (char 0)' }) } : undefined),
    });
    try {
      const c = new KServeClient({ url: proxy.url, modelName: MODEL, wire: 'binary', retries: 0 });
      const resends: number[] = [];
      const v = await c.classify(images.slice(0, 2), { beforeResend: (n) => void resends.push(n) });
      assert.equal(v.length, 2);
      assert.deepEqual(resends, [2], 'the budget hears of the resend');
      assert.equal(c.wire, 'json');
      await c.classify(images.slice(0, 1));
      const posts = proxy.requests.filter((r) => r.method === 'POST');
      assert.deepEqual(posts.map((r) => r.headers[HEADER_LENGTH_HEADER] !== undefined), [true, false, false]);
    } finally {
      await proxy.close();
    }
  });

  test('a bad binary answer from the cloud is a clear OWSD_ERR_CLOUD_RESPONSE', async () => {
    const proxy = await startRecordingProxy(cloud.url, {
      fault: () => ({ kind: 'answer', status: 200, body: '{"outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,10],"parameters":{"binary_data_size":40}}]}', headers: { [HEADER_LENGTH_HEADER]: '500' } }),
    });
    try {
      const c = new KServeClient({ url: proxy.url, modelName: MODEL, wire: 'binary', retries: 0 });
      await assert.rejects(c.classify(images.slice(0, 1)), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_CLOUD_RESPONSE' && /Inference-Header-Content-Length is "500"/.test(e.message));
    } finally {
      await proxy.close();
    }
  });
});

describe('the pipeline on the binary wire', () => {
  test('fit without a wire uses auto (FIT_DEFAULT_WIRE): binary to a server listing the extension, JSON to one that does not; the bundle keeps auto', async () => {
    assert.equal(FIT_DEFAULT_WIRE, 'auto');
    const key = createKey({ secret: new Uint8Array(32).fill(12), imageSize: 32, budget: 5000 });
    const data = { path: path.join(dataDir, 'imagenette-val'), labels: 2, perLabel: 3, testFraction: 0, seed: 0 };
    for (const lists of [true, false]) {
      const proxy = await startRecordingProxy(cloud.url, lists ? {} : { fault: (_n, req) => (req.url === '/v2' ? { kind: 'rewrite', rewrite: (m) => ({ ...m, extensions: [] }) } : undefined) });
      try {
        const bundle = path.join(tempDir('owsd-wire-default-'), 'b.bundle');
        await fit({ keys: [key], encoders: ['mobilenetv2-12-int8'], cloud: { url: proxy.url, modelName: MODEL }, data, out: bundle, modelsDir, iin: { epochs: 2, hidden: 8 } });
        assert.equal(readBundle(bundle).cloud.wire, 'auto');
        const posts = proxy.requests.filter((r) => r.method === 'POST');
        assert.ok(posts.length >= 1);
        assert.equal(proxy.imagesForwarded(), 6, 'the proxy counts the images on either wire');
        for (const r of posts) assert.equal(r.headers[HEADER_LENGTH_HEADER] !== undefined, lists, lists ? 'a request went as JSON to a server listing the extension' : 'a request went binary to a server not listing it');
      } finally {
        await proxy.close();
      }
    }
  });

  test('fit with wire binary keeps it in the bundle, every request of fit and predict travels binary, and a bad wire is refused', async () => {
    const proxy = await startRecordingProxy(cloud.url);
    try {
      const dir = tempDir('owsd-wire-');
      const key = createKey({ secret: new Uint8Array(32).fill(11), imageSize: 32, budget: 5000 });
      const data = { path: path.join(dataDir, 'imagenette-val'), labels: 2, perLabel: 4, testFraction: 0, seed: 0 };
      const bundle = path.join(dir, 'b.bundle');
      await fit({ keys: [key], encoders: ['mobilenetv2-12-int8'], cloud: { url: proxy.url, modelName: MODEL, wire: 'binary' }, data, out: bundle, modelsDir, iin: { epochs: 2, hidden: 8 } });
      assert.equal(readBundle(bundle).cloud.wire, 'binary');
      const predictor = await Predictor.open({ bundle, keys: [key], modelsDir });
      try {
        const answers = await predictor.predict(imagenetteFiles(2).map((f) => ({ kind: 'file' as const, path: f })), 1);
        assert.equal(answers.length, 2);
      } finally {
        await predictor.close();
      }
      const posts = proxy.requests.filter((r) => r.method === 'POST');
      assert.ok(posts.length >= 2, `${posts.length} inference requests`);
      for (const r of posts) assert.ok(Number(r.headers[HEADER_LENGTH_HEADER]) > 0, 'a request of fit or predict went on the JSON wire');
    } finally {
      await proxy.close();
    }
    assert.throws(() => openCloud({ url: cloud.url, modelName: MODEL, wire: 'xml' as never }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /--wire must be json, binary or auto, got xml/ });
    assert.throws(() => openCloud({ url: cloud.url, modelName: MODEL, protocol: 'tfserving', wire: 'binary' }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /needs --protocol kserve/ });
  });
});
