/**
 * The embedded cloud under load and abuse. `owsd cloud serve` runs as its own process; autocannon, in another,
 * sends valid inference requests, then malformed ones, then valid ones again, for a fixed few seconds each on
 * 127.0.0.1. The test prints requests/s, p99 latency, errors and the server's RSS, and asserts: no socket errors,
 * valid requests all 200, malformed ones all 4xx (never 5xx), the server alive, RSS growth bounded.
 * Slow clients (slowloris: headers or a body trickled a byte at a time) are answered 408 and dropped after the
 * request timeout while others are served. Malformed and oversized single requests are in cloud-server.test.ts.
 * The gateway's own tests (gateway-reliability.test.ts) use the same `autocannon`/`rssMiB` and `slowClient`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createCloudClient } from '../src/index.js';
import { startCloudServer } from '../src/server/index.js';
import { modelsDir, noisePng, noisePngBytes, repoRoot } from './helpers.js';
import { autocannon, describeLoad, rssMiB } from './load.js';
import { slowClient } from './slow-clients.js';

const MODEL = 'cifar10-resnet20';
const SECONDS = Number(process.env.OWSD_LOAD_SECONDS ?? 3);

test('load from a separate process: valid, malformed, valid again; no errors, no 5xx, bounded memory', async (t) => {
  const main = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const server = spawn(process.execPath, [main, 'cloud', 'serve', '--model', MODEL, '--models', modelsDir, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
  try {
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      server.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
        const m = /at (http:\/\/\S+) \(KServe/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`server exited: ${stderr}`)));
    });
    const infer = `${url}/v2/models/${MODEL}/infer`;
    const png = Buffer.from(await noisePngBytes(11, 32, 32)).toString('base64');
    const valid = JSON.stringify({ inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [png, png] }] });
    const malformed = `${valid.slice(0, valid.length / 2)}`;
    const rss0 = rssMiB(server.pid!);
    const warm = await autocannon(infer, valid, { seconds: 1, connections: 4 });
    const rssWarm = rssMiB(server.pid!);
    t.diagnostic(describeLoad('warm-up, valid', warm, rssWarm));
    const phases: Array<[string, string, (r: Awaited<ReturnType<typeof autocannon>>) => void]> = [
      ['valid', valid, (r) => assert.equal(r.status['2xx'], r.requests)],
      ['malformed (truncated JSON)', malformed, (r) => assert.equal(r.status['4xx'], r.requests)],
      ['valid again', valid, (r) => assert.equal(r.status['2xx'], r.requests)],
    ];
    let rss = rssWarm;
    for (const [what, body, check] of phases) {
      const r = await autocannon(infer, body, { seconds: SECONDS, connections: 8 });
      rss = rssMiB(server.pid!);
      t.diagnostic(describeLoad(what, r, rss));
      assert.ok(r.requests > 10, `${what}: only ${r.requests} requests`);
      assert.equal(r.errors, 0, what);
      assert.equal(r.timeouts, 0, what);
      assert.equal(r.status['5xx'], 0, what);
      check(r);
    }
    t.diagnostic(`server RSS: ${rss0.toFixed(0)} MiB at start, ${rssWarm.toFixed(0)} after warm-up, ${rss.toFixed(0)} at the end`);
    // Three runs of thousands of requests after the warm-up: a leak of even a few KB a request would show.
    assert.ok(rss - rssWarm < 120, `RSS grew ${(rss - rssWarm).toFixed(0)} MiB after the warm-up`);
    // Still alive and correct.
    const [v] = await createCloudClient({ url, modelName: MODEL }).classify([await noisePng(12, 32, 32)]);
    assert.equal(v!.length, 10);
    assert.equal(server.exitCode, null);
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
});

test('slow clients (trickled headers or body) get 408 after the request timeout, while others are served', async () => {
  const cloud = await startCloudServer({ model: MODEL, modelsDir, logger: false, requestTimeoutMs: 1200 });
  try {
    const slow = Array.from({ length: 20 }, (_, i) => slowClient(cloud.port, { path: i % 2 === 0 ? `/v2/models/${MODEL}/infer` : '/v2/health/ready', body: i % 2 === 0, everyMs: 100 }));
    await new Promise((r) => setTimeout(r, 300));
    const client = createCloudClient({ url: cloud.url, modelName: MODEL, retries: 0 });
    const t0 = Date.now();
    const [v] = await client.classify([await noisePng(13, 32, 32)]);
    assert.equal(v!.length, 10);
    assert.ok(Date.now() - t0 < 1000, `a normal request took ${Date.now() - t0} ms beside 20 slow clients`);
    const done = await Promise.all(slow);
    for (const d of done) {
      assert.ok(d.ms < 3500, `a slow client was held ${d.ms} ms`);
      assert.match(d.answer, /^HTTP\/1\.1 408/, d.answer.slice(0, 100) || '(closed without an answer)');
    }
    const [w] = await client.classify([await noisePng(14, 32, 32)]);
    assert.equal(w!.length, 10);
  } finally {
    await cloud.close();
  }
});
