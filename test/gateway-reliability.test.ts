/**
 * The gateway (`owsd serve`, its own process) under the promises of SECURITY.md: what it sends the cloud holds no
 * byte of any image, embedding or key (a recording proxy in front of the real cloud); malformed and oversized
 * requests get a 4xx; load from a separate process (autocannon) for a fixed time gives no error, no 5xx and
 * bounded memory; the process still answers afterwards; and slow clients (slowloris) are answered 408 and dropped
 * after the request timeout (fastify's default is none: they were held for ever) while others are served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { imagenetteFiles, modelsDir, startServeProcess, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';
import { Haystack, imageAndKeySecrets, leaks, trafficOf } from './leak-check.js';
import { autocannon, describeLoad, rssMiB } from './load.js';
import { postThenRead, slowClient } from './slow-clients.js';

const ENCODER = 'mobilenetv2-12-int8';
const CLOUD_MODEL = 'cifar10-resnet20';
const dir = tempDir('owsd-gateway-rel-');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
const CLASSES = ['n01440764', 'n02102040', 'n03028079'];
const data = path.join(dir, 'data');
for (const wnid of CLASSES) {
  fs.mkdirSync(path.join(data, wnid), { recursive: true });
  for (const f of imagenetteFiles(5, wnid)) fs.copyFileSync(f, path.join(data, wnid, path.basename(f)));
}
const queryFiles = imagenetteFiles(9, 'n03394916').slice(6);
const REQUEST_TIMEOUT_MS = 2000;

let cloud: RunningCloud;
let proxy: RecordingProxy;
let server: ChildProcess;
let url = '';
let serverLog: string[] = [];

before(async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  writeKeyFile(keyFile, createKey({ imageSize: 64, budget: 100_000 }));
  await fit({ keys: [readKeyFile(keyFile)], encoders: [ENCODER], cloud: { url: cloud.url, modelName: CLOUD_MODEL }, data: { path: data, testFraction: 0, seed: 0 }, out: bundle, modelsDir, iin: { epochs: 3, hidden: 16 } });
  proxy = await startRecordingProxy(cloud.url);
  const started = await startServeProcess(['--bundle', bundle, '--key', keyFile, '--cloud', proxy.url, '--models', modelsDir, '--request-timeout', String(REQUEST_TIMEOUT_MS)], 20_000);
  server = started.server;
  url = started.url;
  serverLog = started.log;
});
after(async () => {
  server?.kill('SIGTERM');
  await proxy?.close();
  await cloud?.close();
});

const b64 = (f: string) => fs.readFileSync(f).toString('base64');

test('the gateway sends the cloud no byte of any image, embedding or key (JSON and multipart requests)', async () => {
  const json = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: queryFiles.slice(0, 2).map(b64), details: true }) });
  assert.equal(json.status, 200, await json.clone().text());
  const form = new FormData();
  form.append('image', new Blob([fs.readFileSync(queryFiles[2]!)]), path.basename(queryFiles[2]!));
  const multi = await fetch(`${url}/v1/classify`, { method: 'POST', body: form });
  assert.equal(multi.status, 200, await multi.clone().text());
  assert.equal(proxy.imagesForwarded(), 3);
  const secrets = await imageAndKeySecrets(queryFiles, keyFile, ENCODER, modelsDir);
  assert.deepEqual(leaks(new Haystack(trafficOf(proxy)), secrets), []);
  // Its answers and log carry no embedding and no key material either.
  const answers = [await json.text(), await multi.text(), serverLog.join('')].map((t) => Buffer.from(t));
  assert.deepEqual(leaks(new Haystack(answers), secrets.filter((s) => /embedding|key|stream|weights/.test(s.what))), []);
});

test('the gateway answers malformed and oversized requests with a 4xx naming the problem, never a 5xx', async () => {
  const post = (body: string | Uint8Array, type = 'application/json') => fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': type }, body });
  const cases: Array<[string | Uint8Array, string, RegExp]> = [
    ['{"images": [', 'application/json', /json|body/i],
    ['{"images": "x"}', 'application/json', /images/],
    ['{"images": ["bm90IGFuIGltYWdl"]}', 'application/json', /images\[0\]/],
    ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', 'application/json', /./],
    ['hello', 'text/plain', /./],
  ];
  for (const [body, type, message] of cases) {
    const r = await post(body, type);
    const text = await r.text();
    assert.ok(r.status >= 400 && r.status < 500, `${type} ${String(body).slice(0, 30)}: ${r.status} ${text.slice(0, 200)}`);
    assert.match(text, message);
    assert.ok(!/\n\s+at /.test(text), text);
  }
  // Oversized (70 MiB against 32 MiB), from a client that reads the answer only after sending it all: the 413 still
  // arrives (the gateway reads and discards the rest instead of resetting the connection), and the gateway answers on.
  const big = await postThenRead(`${url}/v1/classify`, 70 * 1024 * 1024);
  assert.equal(big.status, 413, JSON.stringify(big));
  assert.match(big.body!, /request too large/);
  assert.equal((await fetch(`${url}/v1/status`)).status, 200);
});

test('under load from a separate process the gateway has no errors, no 5xx and bounded memory, and still answers', { timeout: 120_000 }, async () => {
  const body = JSON.stringify({ images: [b64(queryFiles[0]!)] });
  const warm = await autocannon(`${url}/v1/classify`, body, { seconds: 1, connections: 2 });
  const rss0 = rssMiB(server.pid!);
  const valid = await autocannon(`${url}/v1/classify`, body, { seconds: 3, connections: 8 });
  const rss1 = rssMiB(server.pid!);
  const malformed = await autocannon(`${url}/v1/classify`, '{"images": [', { seconds: 3, connections: 8 });
  const rss2 = rssMiB(server.pid!);
  for (const [what, r, rss] of [['warm-up', warm, rss0], ['valid', valid, rss1], ['malformed', malformed, rss2]] as const) console.log(describeLoad(`gateway ${what}`, r, rss));
  assert.ok(valid.status['2xx'] > 0 && valid.status['5xx'] === 0 && valid.errors === 0 && valid.timeouts === 0, JSON.stringify(valid));
  assert.ok(malformed.status['4xx'] > 0 && malformed.status['5xx'] === 0 && malformed.errors === 0, JSON.stringify(malformed));
  assert.ok(rss2 - rss0 < 200, `memory grew ${(rss2 - rss0).toFixed(0)} MiB under load`);
  const after = await fetch(`${url}/v1/status`);
  assert.equal(after.status, 200);
  assert.equal(server.exitCode, null, 'the gateway is still running');
});

test('slow clients (trickled headers or body) get 408 after the request timeout, while others are served', { timeout: 60_000 }, async () => {
  const port = Number(new URL(url).port);
  const slow = Array.from({ length: 10 }, (_, i) => slowClient(port, { path: i % 2 === 0 ? '/v1/classify' : '/v1/status', body: i % 2 === 0, everyMs: 100 }));
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  const r = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [b64(queryFiles[0]!)] }) });
  assert.equal(r.status, 200, await r.text());
  const served = Date.now() - t0;
  const done = await Promise.all(slow);
  for (const d of done) {
    assert.ok(d.ms < REQUEST_TIMEOUT_MS + 3000, `a slow client was held ${d.ms} ms (request timeout ${REQUEST_TIMEOUT_MS} ms)`);
    assert.match(d.answer, /^HTTP\/1\.1 408/, d.answer.slice(0, 100) || '(closed without an answer)');
  }
  assert.ok(served < REQUEST_TIMEOUT_MS, `a normal request took ${served} ms beside 10 slow clients`);
});
