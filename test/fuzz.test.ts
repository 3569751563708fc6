/**
 * Fuzzing, bounded in time (OWSD_FUZZ_MS per property, default 3 s; seed OWSD_FUZZ_SEED, printed) with fast-check:
 * the request parsers (KServe V2 requests, tensors, cloud answers, JSON paths, Retry-After, lenient JSON), the
 * embedded cloud end to end (app.inject: never a 5xx, always {"error"} on 4xx), and the image loaders (mutated
 * and truncated PNG/JPEG/PPM bytes, random Netpbm headers). Every input must give a result or an OwsdError:
 * never another exception, never a crash, never a hang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { createCloudClient, decodeRgb } from '../src/index.js';
import { buildCloudApp, parseInferenceRequest, tensorToImageBatch } from '../src/server/index.js';
import { evalJsonPath, parseJsonPath } from '../src/cloud/clients/generic.js';
import { parseJsonLenient, parseRetryAfter } from '../src/cloud/clients/http.js';
import { markScrambled } from '../src/scrambler/scrambled.js';
import { loadHostedModels } from '../src/cloud/server/start.js';
import { parseProbabilitiesResponse } from '../src/cloud/protocol.js';
import { decodeNetpbm } from '../src/image/netpbm.js';
import { isOwsdError } from '../src/errors.js';
import { imagenetteFiles, modelsDir, noisePngBytes } from './helpers.js';

const MS = Number(process.env.OWSD_FUZZ_MS ?? 3000);
const SEED = Number(process.env.OWSD_FUZZ_SEED ?? 4242);
/** Run for MS (or until numRuns), seeded; a time-out is not a failure. */
const bounded = { seed: SEED, numRuns: 1_000_000, interruptAfterTimeLimit: MS, markInterruptAsFailure: false };

/** Only OwsdErrors (clear, coded) may escape. */
function onlyOwsdErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isOwsdError(e)) throw new Error(`not an OwsdError: ${String(e)}`, { cause: e });
  }
}
async function onlyOwsdErrorsAsync(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!isOwsdError(e)) throw new Error(`not an OwsdError: ${String(e)}`, { cause: e });
  }
}

// Structured requests reach deeper than random JSON: real field names, plausible shapes and datatypes.
const shapeArb = fc.array(fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constant(3), fc.double()), { maxLength: 5 });
const datatypeArb = fc.oneof(fc.constantFrom('BYTES', 'UINT8', 'FP32', 'INT32', 'FLOAT', 'FP16'), fc.string());
const elementArb = fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double(), fc.string(), fc.base64String(), fc.boolean(), fc.constant(null), fc.record({ b64: fc.base64String() }));
const dataArb = fc.oneof(fc.array(elementArb, { maxLength: 60 }), fc.array(fc.array(elementArb, { maxLength: 6 }), { maxLength: 6 }), fc.anything());
const inputArb = fc.record({ name: fc.oneof(fc.string(), fc.integer()), shape: fc.oneof(shapeArb, fc.anything()), datatype: datatypeArb, data: dataArb, parameters: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.anything()))) }, { requiredKeys: [] });
const requestArb = fc.oneof(
  fc.record({ id: fc.option(fc.oneof(fc.string(), fc.integer())), inputs: fc.oneof(fc.array(inputArb, { maxLength: 3 }), fc.anything()), outputs: fc.option(fc.array(fc.record({ name: fc.oneof(fc.string(), fc.constant('probabilities')) }))) }, { requiredKeys: [] }),
  fc.jsonValue(),
  fc.anything(),
);

test('fuzz: parseInferenceRequest + tensorToImageBatch give a batch or an OwsdError', (t) => {
  t.diagnostic(`seed ${SEED}, ${MS} ms per property`);
  fc.assert(
    fc.property(requestArb, (body) => {
      onlyOwsdErrors(() => {
        const r = parseInferenceRequest(body);
        for (const input of r.inputs) tensorToImageBatch(input, 'inputs[0]', 64);
      });
    }),
    bounded,
  );
});

test('fuzz: cloud answers, JSON paths, Retry-After and lenient JSON never throw anything unclear', () => {
  fc.assert(
    fc.property(fc.anything(), fc.integer({ min: 0, max: 5 }), fc.option(fc.integer({ min: 1, max: 12 })), (body, n, c) => {
      onlyOwsdErrors(() => parseProbabilitiesResponse(body, n, { where: 'fuzz', numClasses: c ?? undefined }));
      const outputs = { outputs: [{ name: 'probabilities', shape: [n, c ?? 3], data: body }] };
      onlyOwsdErrors(() => parseProbabilitiesResponse(outputs, n, { where: 'fuzz' }));
    }),
    bounded,
  );
  fc.assert(
    fc.property(fc.string(), fc.anything(), (p, v) => {
      onlyOwsdErrors(() => evalJsonPath(v, parseJsonPath(p), 'fuzz'));
      const ms = parseRetryAfter(p);
      assert.ok(ms === undefined || (Number.isFinite(ms) && ms >= 0), `Retry-After '${p}' -> ${ms}`);
      try {
        parseJsonLenient(p);
      } catch (e) {
        assert.ok(e instanceof SyntaxError, String(e));
      }
    }),
    bounded,
  );
});

let app: FastifyInstance;
let good: string;
before(async () => {
  app = buildCloudApp({ models: await loadHostedModels(['cifar10-resnet20'], { modelsDir }), logger: false, maxBodyBytes: 1 << 20, maxImagesPerRequest: 8 });
  good = Buffer.from(await noisePngBytes(3, 8, 8)).toString('base64');
});
after(() => app?.close());

test('fuzz: the embedded cloud answers every request with 200 or a 4xx {"error"}, never a 5xx', async () => {
  const urls = fc.constantFrom('/v2/models/cifar10-resnet20/infer', '/v2/models/cifar10-resnet20/versions/1/infer', '/v2/models/nope/infer', '/v2', '/v2/models/cifar10-resnet20', '/v2/health/ready');
  const bodies = fc.oneof(
    requestArb.map((b) => JSON.stringify(b) ?? ''),
    fc.string(),
    fc.constant(null).map(() => JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [good] }] })),
    fc.tuple(fc.integer({ min: 0, max: 200 }), fc.string({ maxLength: 4 })).map(([cut, junk]) => JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [good] }] }).slice(0, cut) + junk),
  );
  await fc.assert(
    fc.asyncProperty(urls, fc.constantFrom('POST', 'GET', 'PUT'), bodies, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'), async (url, method, payload, type) => {
      const r = await app.inject({ method, url, payload: method === 'GET' ? undefined : payload, headers: { 'content-type': type } });
      assert.ok(r.statusCode === 200 || (r.statusCode >= 400 && r.statusCode < 500), `${method} ${url} ${payload.slice(0, 200)} -> ${r.statusCode} ${r.body.slice(0, 200)}`);
      if (r.statusCode >= 400) assert.equal(typeof JSON.parse(r.body).error, 'string');
    }),
    bounded,
  );
});

test('fuzz: image loaders give RGB or an OwsdError on mutated, truncated and mislabelled bytes', async () => {
  const jpeg = fs.readFileSync(imagenetteFiles(1)[0]!);
  const png = Buffer.from(await noisePngBytes(5, 24, 16));
  const gif = await sharp(png).gif().toBuffer();
  const ppm = Buffer.concat([Buffer.from('P6\n24 16\n255\n'), (await sharp(png).raw().toBuffer())]);
  const seeds = [jpeg, png, gif, ppm];
  const mutated = fc.tuple(fc.constantFrom(...seeds.keys()), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.option(fc.nat())).map(([k, flips, cut]) => {
    const b = Buffer.from(seeds[k]!);
    for (const [at, v] of flips) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });
  await fc.assert(
    fc.asyncProperty(mutated, fc.constantFrom('x.png', 'x.jpg', 'x.ppm'), async (bytes, name) => {
      await onlyOwsdErrorsAsync(async () => {
        const img = await decodeRgb({ kind: 'encoded', bytes, name }, { resize: { size: 32, fit: 'fill' } });
        assert.equal(img.data.length, 32 * 32 * 3);
      });
    }),
    bounded,
  );
  // Netpbm headers with random sizes: never an allocation bigger than the file, never a non-OwsdError.
  const header = fc.tuple(fc.constantFrom('P2', 'P3', 'P5', 'P6'), fc.oneof(fc.nat(), fc.constant(1e9)), fc.oneof(fc.nat(), fc.constant(1e9)), fc.integer({ min: -1, max: 70000 }), fc.uint8Array({ maxLength: 300 }));
  fc.assert(
    fc.property(header, ([magic, w, h, max, body]) => {
      onlyOwsdErrors(() => decodeNetpbm(Buffer.concat([Buffer.from(`${magic}\n${w} ${h}\n${max}\n`), body])));
    }),
    bounded,
  );
});

test('EXPECTED FAILURE - JSON nested 100,000 deep: the server answers 400 (it was a 500 stack overflow), a client gets a clear error', async () => {
  const deep = (d: number) => '['.repeat(d) + '1' + ']'.repeat(d);
  for (const body of [`{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":${deep(100_000)}}]}`, `{"parameters":{"a":${deep(100_000)}},"inputs":[]}`, deep(100_000)]) {
    const r = await app.inject({ method: 'POST', url: '/v2/models/cifar10-resnet20/infer', payload: body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 400, r.body.slice(0, 200));
    assert.match(JSON.parse(r.body).error, /nests arrays or objects more than 64 levels deep/);
  }
  // Nesting that real requests use still works: [N,H,W,3] as nested arrays.
  const nested = Array.from({ length: 1 }, () => Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => [10, 20, 30])));
  const ok = await app.inject({ method: 'POST', url: '/v2/models/cifar10-resnet20/infer', payload: { inputs: [{ name: 'x', shape: [1, 4, 4, 3], datatype: 'UINT8', data: nested }] } });
  assert.equal(ok.statusCode, 200, ok.body);
  // A hostile cloud answering with deep JSON: OWSD_ERR_CLOUD_RESPONSE, not a RangeError.
  const http = await import('node:http');
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"outputs":${deep(100_000)}}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = createCloudClient({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, modelName: 'm', retries: 0 });
    await assert.rejects(client.classify([markScrambled(await noisePngBytes(4, 8, 8))]), { code: 'OWSD_ERR_CLOUD_RESPONSE', message: /more than 64 levels deep/ });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
