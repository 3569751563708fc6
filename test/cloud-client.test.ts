/**
 * Cloud clients against small real HTTP servers (node:http on loopback, port 0) that misbehave on purpose:
 * the leak guard, retries (429 + Retry-After, 503), giving up, timeouts, network errors, bad answers, the
 * concurrency limit, and the TF-Serving and generic protocols.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { assertScrambled, createCloudClient, isScrambled, type ScrambledImage } from '../src/index.js';
import { evalJsonPath, parseJsonPath } from '../src/cloud/clients/generic.js';
import { parseJsonLenient, parseRetryAfter } from '../src/cloud/clients/http.js';
import { markScrambled } from '../src/scrambler/scrambled.js';
import { isOwsdError } from '../src/errors.js';
import { noisePng as noise } from './helpers.js';

/** Small seeded noise PNGs, `width` wide so fake servers can tell images apart. */
const noisePng = (seed: number, width = 8, height = 8) => noise(seed, width, height);

// ---------------------------------------------------------------------------------------------------------------
// helpers



/** Width of a base64 PNG (IHDR), which the tests use as the image's id. */
function pngWidth(b64: string): number {
  return Buffer.from(b64, 'base64').readUInt32BE(16);
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Raw text instead of JSON. */
  text?: string;
  delayMs?: number;
}

interface Fake {
  url: string;
  requests: Array<{ method: string; url: string; body: any; at: number }>;
  maxInFlight: number;
  close(): Promise<void>;
}

const servers: Fake[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function fakeServer(handler: (req: { method: string; url: string; body: any }, n: number) => Reply | Promise<Reply>): Promise<Fake> {
  let inFlight = 0;
  const fake: Fake = { url: '', requests: [], maxInFlight: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    inFlight++;
    fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const entry = { method: req.method!, url: req.url!, body: text ? JSON.parse(text) : undefined, at: Date.now() };
      fake.requests.push(entry);
      const r = await handler(entry, fake.requests.length);
      if (r.delayMs) await new Promise((ok) => setTimeout(ok, r.delayMs));
      inFlight--;
      if (res.destroyed) return;
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
      res.end(r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body)));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  servers.push(fake);
  return fake;
}

/** A KServe answer: one vector of `c` values per image, v[0] = the image's PNG width (its id), rest equal. */
function kserveAnswer(body: any, c = 10): Reply {
  const data: number[] = [];
  const imgs = body.inputs[0].data as string[];
  for (const b64 of imgs) {
    const v = new Array(c).fill(0.01);
    v[0] = pngWidth(b64);
    data.push(...v);
  }
  return { body: { model_name: 'm', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [imgs.length, c], data }] } };
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isOwsdError(e), `expected an OwsdError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

const fast = { backoffMs: 5, maxBackoffMs: 20 };

// ---------------------------------------------------------------------------------------------------------------

describe('leak guard: only ScrambledImages leave the process', () => {
  test('markScrambled accepts PNGs only', async () => {
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    assert.throws(() => markScrambled(new Uint8Array(jpeg)), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_LEAK' && /a JPEG/.test(e.message));
    assert.throws(() => markScrambled(new Uint8Array(10)), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_LEAK');
    const ok = await noisePng(1);
    assert.ok(isScrambled(ok));
    assert.ok(Object.isFrozen(ok));
  });

  test('a raw JPEG passed in by force is refused before any request is sent', async () => {
    const fake = await fakeServer((req) => kserveAnswer(req.body));
    const client = createCloudClient({ url: fake.url, modelName: 'm' });
    const jpeg = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer());
    const good = await noisePng(2);
    await rejectsWith(client.classify([good, jpeg as unknown as ScrambledImage]), 'OWSD_ERR_LEAK', /image 1: it is raw bytes \(a JPEG\)/);
    // forged objects: a copy, a cast object holding a JPEG, an ImageInput
    await rejectsWith(client.classify([{ ...good } as ScrambledImage]), 'OWSD_ERR_LEAK', /not made by markScrambled/);
    await rejectsWith(client.classify([{ png: jpeg } as unknown as ScrambledImage]), 'OWSD_ERR_LEAK', /holding a JPEG/);
    await rejectsWith(client.classify([{ kind: 'file', path: '/etc/x.jpg' } as unknown as ScrambledImage]), 'OWSD_ERR_LEAK', /kind 'file'/);
    // the bytes of a marked image overwritten with a JPEG after marking
    const marked = await noisePng(3);
    marked.png.set(jpeg.subarray(0, 16));
    await rejectsWith(client.classify([marked]), 'OWSD_ERR_LEAK');
    assert.equal(fake.requests.length, 0, 'nothing was sent');
    assert.throws(() => assertScrambled([new Uint8Array(4)]), /OWSD|refusing/);
    // all three protocols share the guard
    for (const c of [
      createCloudClient({ protocol: 'tfserving', url: fake.url, modelName: 'm' }),
      createCloudClient({ protocol: 'generic', url: fake.url, requestTemplate: { img: '{{image_b64}}' }, responsePath: 'p' }),
    ]) {
      await rejectsWith(c.classify([jpeg as unknown as ScrambledImage]), 'OWSD_ERR_LEAK');
    }
    assert.equal(fake.requests.length, 0);
  });
});

describe('KServe client', () => {
  test('sends a BYTES tensor of base64 PNGs to /v2/models/{m}/infer and keeps order', async () => {
    const fake = await fakeServer((req) => kserveAnswer(req.body));
    const client = createCloudClient({ url: `${fake.url}/`, modelName: 'my model', maxBatch: 3 });
    const images = await Promise.all([10, 11, 12, 13, 14, 15, 16].map((w) => noisePng(w, w)));
    const out = await client.classify(images);
    assert.deepEqual(out.map((v) => v[0]), [10, 11, 12, 13, 14, 15, 16]);
    assert.equal(fake.requests.length, 3);
    const r = fake.requests[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/v2/models/my%20model/infer');
    assert.equal(r.body.inputs[0].datatype, 'BYTES');
    assert.equal(r.body.inputs[0].name, 'image');
    assert.deepEqual(r.body.inputs.map((i: any) => i.shape.length), [1]);
    assert.ok(fake.requests.every((q) => q.body.inputs[0].data.length <= 3));
    assert.deepEqual(await client.classify([]), []);
  });

  test('retries 429 honouring Retry-After, then 503, then succeeds', async () => {
    const fake = await fakeServer((req, n) => {
      if (n === 1) return { status: 429, headers: { 'retry-after': '1' }, body: { error: 'slow down' } };
      if (n === 2) return { status: 503, body: { error: 'warming up' } };
      return kserveAnswer(req.body);
    });
    const retries: string[] = [];
    const client = createCloudClient({ url: fake.url, modelName: 'm', ...fast, onRetry: (i) => retries.push(`${i.attempt}:${Math.round(i.delayMs)}:${i.reason}`) });
    const out = await client.classify([await noisePng(1, 21)]);
    assert.equal(out[0]![0], 21);
    assert.equal(fake.requests.length, 3);
    const gap = fake.requests[1]!.at - fake.requests[0]!.at;
    assert.ok(gap >= 990, `waited ${gap} ms after Retry-After: 1`);
    assert.equal(retries.length, 2);
    assert.match(retries[0]!, /^1:1\d{3}:POST http:\/\/127\.0\.0\.1:\d+\/v2\/models\/m\/infer: HTTP 429 Too Many Requests: slow down$/);
    assert.match(retries[1]!, /HTTP 503.*warming up/);
  });

  test('gives up after max retries with a clear error; 4xx is not retried', async () => {
    const fake = await fakeServer(() => ({ status: 503, body: { error: 'overloaded' } }));
    const client = createCloudClient({ url: fake.url, modelName: 'm', retries: 2, ...fast });
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_HTTP', /POST http:\/\/127\.0\.0\.1:\d+\/v2\/models\/m\/infer: HTTP 503 Service Unavailable: overloaded \(gave up after 3 attempts\)/);
    assert.equal(fake.requests.length, 3);

    const bad = await fakeServer(() => ({ status: 400, body: { error: 'inputs[0].data[0]: cannot decode image' } }));
    const c2 = createCloudClient({ url: bad.url, modelName: 'm', ...fast });
    await rejectsWith(c2.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_HTTP', /HTTP 400 Bad Request: inputs\[0\]\.data\[0\]: cannot decode image$/);
    assert.equal(bad.requests.length, 1);

    const tooLong = await fakeServer(() => ({ status: 429, headers: { 'retry-after': '3600' } }));
    const c3 = createCloudClient({ url: tooLong.url, modelName: 'm', ...fast });
    await rejectsWith(c3.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_HTTP', /retry after 3600 s, longer than the 60 s limit/);
    assert.equal(tooLong.requests.length, 1);
  });

  test('a redirect is not followed: the images go to the address given or nowhere', async () => {
    const elsewhere = await fakeServer((req) => kserveAnswer(req.body));
    const fake = await fakeServer(() => ({ status: 307, headers: { location: `${elsewhere.url}/v2/models/m/infer` } }));
    const client = createCloudClient({ url: fake.url, modelName: 'm', ...fast });
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_HTTP', /\/v2\/models\/m\/infer: HTTP 307 Temporary Redirect$/);
    assert.equal(fake.requests.length, 1);
    assert.equal(elsewhere.requests.length, 0);
  });

  test('times out (and retries the timeout)', async () => {
    const fake = await fakeServer((req) => ({ ...kserveAnswer(req.body), delayMs: 1500 }));
    const client = createCloudClient({ url: fake.url, modelName: 'm', timeoutMs: 150, retries: 1, ...fast });
    const t0 = Date.now();
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_TIMEOUT', /POST http:\/\/127\.0\.0\.1:\d+\/v2\/models\/m\/infer: no answer within 150 ms \(gave up after 2 attempts\)/);
    assert.ok(Date.now() - t0 < 1200, 'did not wait for the slow server');
    assert.equal(fake.requests.length, 2);
  });

  test('the timeout covers reading the whole answer: a cloud trickling its answer a byte at a time is cut off', async () => {
    // Headers at once, then one byte every 20 ms without end: no gap is long enough for an idle (between-chunks)
    // timeout, so only a deadline on the whole attempt stops it.
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"outputs":');
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 20);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const client = createCloudClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, modelName: 'm', timeoutMs: 300, retries: 1, ...fast });
      const t0 = Date.now();
      await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_TIMEOUT', /\/v2\/models\/m\/infer: no answer within 300 ms \(gave up after 2 attempts\)/);
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      assert.equal(requests, 2);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('network errors are retried, then reported', async () => {
    const fake = await fakeServer(() => ({}));
    const url = fake.url;
    await fake.close();
    const retried: number[] = [];
    const client = createCloudClient({ url, modelName: 'm', retries: 2, ...fast, onRetry: (i) => retried.push(i.attempt) });
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_NETWORK', /cannot reach the cloud: ECONNREFUSED.*gave up after 3 attempts/);
    assert.deepEqual(retried, [1, 2]);
  });

  test('answers of the wrong shape are OWSD_ERR_CLOUD_RESPONSE naming the URL', async () => {
    const answers: Array<[string, Reply, RegExp]> = [
      ['wrong vector length', { body: { outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 9], data: new Array(9).fill(0.1) }] } }, /vectors have 9 values, expected 10 classes/],
      ['NaN', { text: '{"outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,10],"data":[NaN,0,0,0,0,0,0,0,0,1]}]}' }, /image 0 class 0: expected a finite number, got null \(NaN or Infinity\?\)/],
      ['Infinity', { text: '{"outputs":[{"name":"probabilities","shape":[1,10],"data":[0,0,0,0,0,0,0,0,0,Infinity]}]}' }, /class 9: expected a finite number/],
      ['missing output', { body: { outputs: [{ name: 'a', data: [] }, { name: 'b', data: [] }] } }, /no output 'probabilities' \(outputs: a, b\)/],
      ['no outputs', { body: { model_name: 'm' } }, /no "outputs" array/],
      ['batch size mismatch', { body: { outputs: [{ name: 'probabilities', shape: [2, 10], data: new Array(20).fill(0.1) }] } }, /shape \[2,10\], expected \[1, C\]/],
      ['not JSON', { text: '<html>gateway</html>', headers: { 'content-type': 'text/html' } }, /answer is not JSON/],
      ['strings', { body: { outputs: [{ name: 'probabilities', shape: [1, 10], data: ['0.1', 0, 0, 0, 0, 0, 0, 0, 0, 0] }] } }, /expected a finite number, got "0.1"/],
    ];
    for (const [what, reply, re] of answers) {
      const fake = await fakeServer(() => reply);
      const client = createCloudClient({ url: fake.url, modelName: 'm', numClasses: 10, ...fast });
      const e = await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_RESPONSE', re);
      assert.match(e.message, new RegExp(`${fake.url.replace(/\./g, '\\.')}/v2/models/m/infer`), what);
      assert.equal(fake.requests.length, 1, `${what}: not retried`);
    }
    // vectors of different lengths across batches
    const fake = await fakeServer((req, n) => kserveAnswer(req.body, n === 1 ? 10 : 11));
    const client = createCloudClient({ url: fake.url, modelName: 'm', maxBatch: 1, concurrency: 1 });
    await rejectsWith(client.classify([await noisePng(1), await noisePng(2)]), 'OWSD_ERR_CLOUD_RESPONSE', /11 values, expected 10 classes/);
  });

  test('the concurrency limit holds across classify calls', async () => {
    const fake = await fakeServer((req) => ({ ...kserveAnswer(req.body), delayMs: 40 }));
    const client = createCloudClient({ url: fake.url, modelName: 'm', maxBatch: 2, concurrency: 3 });
    const images = await Promise.all(Array.from({ length: 20 }, (_, i) => noisePng(i, 8 + i)));
    const [a, b] = await Promise.all([client.classify(images.slice(0, 12)), client.classify(images.slice(12))]);
    assert.deepEqual([...a, ...b].map((v) => v[0]), images.map((_, i) => 8 + i));
    assert.equal(fake.requests.length, 10);
    assert.equal(fake.maxInFlight, 3, `max in flight ${fake.maxInFlight}`);
  });

  test('health and metadata', async () => {
    const fake = await fakeServer((req) => {
      if (req.url === '/v2/health/ready' || req.url === '/v2/models/m/ready') return { status: 200 };
      if (req.url === '/v2/models/m') return { body: { name: 'm', platform: 'x', inputs: [], outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 7] }], labels: { ids: ['a', 'b'], names: ['a', 'b'] } } };
      return { status: 404, body: { error: `unknown model` } };
    });
    const client = createCloudClient({ url: fake.url, modelName: 'm' });
    const h = await client.health();
    assert.equal(h.ok, true, h.detail);
    assert.equal(h.numClasses, 7);
    assert.deepEqual(await client.labels!(), ['a', 'b']);
    const missing = await createCloudClient({ url: fake.url, modelName: 'other' }).health();
    assert.equal(missing.ok, false);
    assert.match(missing.detail, /v2\/models\/other\/ready: HTTP 404.*unknown model/);
  });

  test('bad configuration is refused', () => {
    assert.throws(() => createCloudClient({ url: 'not a url', modelName: 'm' }), /not a URL/);
    assert.throws(() => createCloudClient({ url: 'ftp://x', modelName: 'm' }), /http/);
    assert.throws(() => createCloudClient({ url: 'http://x', modelName: '' }), /modelName is required/);
    assert.throws(() => createCloudClient({ url: 'http://x', modelName: 'm', concurrency: 0 }), /concurrency/);
    assert.throws(() => createCloudClient({ protocol: 'generic', url: 'http://x', requestTemplate: {}, responsePath: 'a' }), /no \{\{image_b64\}\}/);
    assert.throws(() => createCloudClient({ protocol: 'generic', url: 'http://x', requestTemplate: { i: '{{image_b64}}' }, responsePath: 'a', responseKind: 'topk' }), /needs the list of labels/);
  });
});

describe('TensorFlow Serving client', () => {
  test('POST /v1/models/{m}:predict with {"instances": [{"b64"}]} -> predictions', async () => {
    const fake = await fakeServer((req) => {
      if (req.method === 'GET') return { body: { model_version_status: [{ version: '3', state: 'AVAILABLE', status: { error_code: 'OK' } }] } };
      return { body: { predictions: req.body.instances.map((i: any) => [pngWidth(i.b64), 0.5, 0.25]) } };
    });
    const client = createCloudClient({ protocol: 'tfserving', url: fake.url, modelName: 'resnet', maxBatch: 2 });
    const out = await client.classify(await Promise.all([30, 31, 32].map((w) => noisePng(w, w))));
    assert.deepEqual(out.map((v) => Array.from(v)), [[30, 0.5, 0.25], [31, 0.5, 0.25], [32, 0.5, 0.25]]);
    assert.equal(fake.requests[0]!.url, '/v1/models/resnet:predict');
    assert.equal(fake.requests.length, 2);
    assert.deepEqual(Object.keys(fake.requests[0]!.body.instances[0]), ['b64']);
    const h = await client.health();
    assert.equal(h.ok, true, h.detail);
    assert.match(h.detail, /3:AVAILABLE/);
  });

  test('named input and output, versions, and bad answers', async () => {
    const fake = await fakeServer((req, n) => {
      if (n === 1) return { body: { predictions: req.body.instances.map(() => ({ probabilities: [0.9, 0.1], classes: [0, 1] })) } };
      if (n === 2) return { body: { predictions: [] } };
      return { status: 500, body: { error: 'Tensor name: probs has no shape' } };
    });
    const client = createCloudClient({ protocol: 'tfserving', url: fake.url, modelName: 'm', modelVersion: '2', inputName: 'image_bytes', outputName: 'probabilities', signatureName: 'serving_default', retries: 0 });
    const [v] = await client.classify([await noisePng(1)]);
    assert.deepEqual(Array.from(v!).map((x) => Math.round(x * 10) / 10), [0.9, 0.1]);
    assert.equal(fake.requests[0]!.url, '/v1/models/m/versions/2:predict');
    assert.ok(typeof fake.requests[0]!.body.instances[0].image_bytes.b64 === 'string');
    assert.equal(fake.requests[0]!.body.signature_name, 'serving_default');
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_RESPONSE', /0 predictions for 1 images/);
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_HTTP', /:predict: HTTP 500.*has no shape \(gave up after 1 attempt\)/);
  });
});

describe('generic JSON client', () => {
  test('one image per request, probability vector at a JSON path', async () => {
    const fake = await fakeServer((req) => ({ body: { result: { scores: [[pngWidth(req.body.payload.image.data), 1, 2]] } } }));
    const client = createCloudClient({
      protocol: 'generic',
      url: `${fake.url}/classify?key=abc`,
      headers: { authorization: 'Bearer secret' },
      requestTemplate: { payload: { image: { data: '{{image_b64}}' }, topK: 5 } },
      responsePath: '$.result.scores[0]',
      concurrency: 2,
    });
    const out = await client.classify(await Promise.all([40, 41, 42].map((w) => noisePng(w, w))));
    assert.deepEqual(out.map((v) => Array.from(v)), [[40, 1, 2], [41, 1, 2], [42, 1, 2]]);
    assert.equal(fake.requests.length, 3);
    assert.equal(fake.requests[0]!.url, '/classify?key=abc');
    assert.equal(fake.requests[0]!.body.payload.topK, 5);
  });

  test('batched top-k {label, score} answers become a fixed-length sparse vector over the labels', async () => {
    const fake = await fakeServer((req) => ({
      body: {
        responses: req.body.requests.map((r: any) => ({
          labelAnnotations: [
            { description: 'Cat', score: 0.9 },
            { description: 'whiskers', score: 0.8 },
            { description: 'dog', score: pngWidth(r.image.content) / 100 },
          ],
        })),
      },
    }));
    const labels = ['dog', 'cat', 'car'];
    const client = createCloudClient({
      protocol: 'generic',
      url: fake.url,
      requestTemplate: { requests: '{{items}}' },
      itemTemplate: { image: { content: '{{image_b64}}' }, features: [{ type: 'LABEL_DETECTION' }] },
      responsePath: 'responses[*].labelAnnotations',
      responseKind: 'topk',
      labels,
      labelField: 'description',
      maxBatch: 4,
    });
    assert.equal(await client.numClasses!(), 3);
    const out = await client.classify(await Promise.all([50, 51, 52, 53, 54].map((w) => noisePng(w, w))));
    assert.equal(fake.requests.length, 2);
    assert.equal(fake.requests[0]!.body.requests.length, 4);
    assert.deepEqual(out.map((v) => Array.from(v).map((x) => Math.round(x * 100) / 100)), [50, 51, 52, 53, 54].map((w) => [w / 100, 0.9, 0]));
  });

  test('a missing path is OWSD_ERR_CLOUD_RESPONSE naming it', async () => {
    const fake = await fakeServer(() => ({ body: { result: {} } }));
    const client = createCloudClient({ protocol: 'generic', url: fake.url, requestTemplate: { i: '{{image_b64}}' }, responsePath: 'result.scores[0]' });
    await rejectsWith(client.classify([await noisePng(1)]), 'OWSD_ERR_CLOUD_RESPONSE', /answer has no \$\.result\.scores/);
  });

  test('JSON paths, Retry-After and lenient JSON', () => {
    assert.deepEqual(parseJsonPath('$.a["b c"][2][*].d'), [{ key: 'a' }, { key: 'b c' }, { index: 2 }, { each: true }, { key: 'd' }]);
    assert.deepEqual(evalJsonPath({ a: [{ b: 1 }, { b: 2 }] }, parseJsonPath('a[*].b'), 'x'), [1, 2]);
    assert.throws(() => parseJsonPath('a..b'), /cannot read/);
    assert.equal(parseRetryAfter('2'), 2000);
    assert.ok((parseRetryAfter(new Date(Date.now() + 5000).toUTCString()) ?? 0) > 3000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.deepEqual(parseJsonLenient('{"a":[NaN, -Infinity, 1]}'), { a: [null, null, 1] });
  });
});
