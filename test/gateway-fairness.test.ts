/**
 * Arrival decoding under attack (issue 16 item 4, the gateway's half): `owsd serve` as its own process, several
 * clients sending the crafted corpus (test/crafted-images.ts) again and again, each request on a new connection,
 * while a normal client classifies real Imagenette images one at a time. The normal client's p99 latency and the
 * gateway's peak RSS must stay under the bounds below (generous: the test machine is shared and loaded), and a
 * client that goes away has its waiting decodes skipped. Prints the figures.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { imagenetteFiles, modelsDir, startServeProcess, tempDir } from './helpers.js';
import { cmykTiff, craftedCorpus, type CraftedImage } from './crafted-images.js';
import { rssMiB } from './load.js';

/**
 * The normal client's p99 latency bound while attacked, and the gateway's peak memory bound. With the image
 * hardening (formats sniffed, thin images refused from the header, a decode deadline) the crafted corpus is refused
 * in milliseconds, so each attack request also carries two accepted 40-megapixel CMYK TIFFs. Measured on the shared
 * 2-core machine at load 4.5: the normal client's p99 2.6 s (median 0.6 s; unattacked 0.09 s), gateway RSS 310 ->
 * 564 MiB. Before issue 16 (SVG decoded, no deadline, no fair queue) no normal request was answered within 10
 * minutes (RSS 743 MiB), and the gateway kept decoding its gone clients' backlog after SIGTERM. The bounds leave
 * about 6x and 2x room for a loaded CI machine.
 */
const P99_BOUND_MS = 15_000;
const RSS_BOUND_MIB = 1_000;
const ATTACKERS = 4;
const NORMAL_REQUESTS = 12;

const dir = tempDir('owsd-gw-fair-');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
const data = path.join(dir, 'data');
for (const wnid of ['n01440764', 'n02102040', 'n03028079']) {
  fs.mkdirSync(path.join(data, wnid), { recursive: true });
  for (const f of imagenetteFiles(4, wnid)) fs.copyFileSync(f, path.join(data, wnid, path.basename(f)));
}
const normalFiles = imagenetteFiles(12, 'n03394916').slice(4);

let cloud: RunningCloud;
let server: ChildProcess;
let port = 0;

before(async () => {
  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  writeKeyFile(keyFile, createKey({ imageSize: 64, budget: 1_000_000 }));
  await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data: { path: data, testFraction: 0, seed: 0 }, out: bundle, modelsDir, iin: { epochs: 3, hidden: 16 } });
  const started = await startServeProcess(['--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--models', modelsDir, '--quiet']);
  server = started.server;
  port = started.port;
});
after(async () => {
  server?.kill('SIGTERM');
  await cloud?.close();
});

function multipart(files: Array<{ name: string; bytes: Uint8Array }>): { body: Buffer; type: string } {
  const boundary = 'fairnessboundary';
  const parts: Buffer[] = [];
  for (const f of files) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${f.name}"\r\n\r\n`), Buffer.from(f.bytes), Buffer.from('\r\n'));
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** One POST on its own connection; resolves with the status (0 when the connection failed, was dropped on purpose or timed out). */
function post(body: Buffer, type: string, opts: { dropAfterMs?: number; timeoutMs?: number } = {}): Promise<{ status: number; ms: number; text: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/classify?top=1', headers: { 'content-type': type, 'content-length': String(body.length) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, ms: performance.now() - t0, text }));
      res.on('error', () => resolve({ status: 0, ms: performance.now() - t0, text }));
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0, text: '' }));
    req.end(body);
    if (opts.dropAfterMs !== undefined) setTimeout(() => req.destroy(), opts.dropAfterMs);
    if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy());
  });
}

async function status(): Promise<Record<string, any>> {
  return (await (await fetch(`http://127.0.0.1:${port}/v1/status`)).json()) as Record<string, any>;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
}

test(`a normal client keeps its latency (p99 < ${P99_BOUND_MS} ms) and the gateway its memory (< ${RSS_BOUND_MIB} MiB) while ${ATTACKERS} clients send the crafted corpus`, { timeout: 600_000 }, async () => {
  const corpus: CraftedImage[] = await craftedCorpus();
  // The crafted corpus is refused from its first bytes or header in milliseconds; what still costs decoding time is
  // an accepted image at the pixel limit, so each attack request also carries two 40-megapixel CMYK TIFFs (2.5 KB).
  const heavy = cmykTiff();
  const attack = multipart([...corpus, { name: 'cmyk-40mp-a.tiff', bytes: heavy }, ...corpus, { name: 'cmyk-40mp-b.tiff', bytes: heavy }].map((c) => ({ name: c.name, bytes: c.bytes })));
  const normal = normalFiles.map((f) => multipart([{ name: path.basename(f), bytes: fs.readFileSync(f) }]));
  // Unattacked latency, for the record.
  const quiet: number[] = [];
  for (const n of normal.slice(0, 4)) {
    const r = await post(n.body, n.type);
    assert.equal(r.status, 200, r.text);
    quiet.push(r.ms);
  }
  const rss0 = rssMiB(server.pid!);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.pid!))), 100);
  let stop = false;
  const attackStatus = new Map<number, number>();
  const attackers = Array.from({ length: ATTACKERS }, async () => {
    while (!stop) {
      const r = await post(attack.body, attack.type);
      attackStatus.set(r.status, (attackStatus.get(r.status) ?? 0) + 1);
    }
  });
  await new Promise((r) => setTimeout(r, 1500)); // the attack is under way
  const latencies: number[] = [];
  const statuses: number[] = [];
  for (let i = 0; i < NORMAL_REQUESTS; i++) {
    const n = normal[i % normal.length]!;
    // A request not answered in 60 s counts as 60 s (and fails the status check): the figures are printed anyway.
    const r = await post(n.body, n.type, { timeoutMs: 60_000 });
    statuses.push(r.status);
    latencies.push(r.ms);
  }
  stop = true;
  await Promise.all(attackers);
  clearInterval(sampler);
  const s = await status();
  const figures = {
    normalP99Ms: Math.round(p99(latencies)),
    normalMedianMs: Math.round([...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)]!),
    quietMedianMs: Math.round([...quiet].sort((a, b) => a - b)[Math.floor(quiet.length / 2)]!),
    rssBeforeMiB: Math.round(rss0),
    rssPeakMiB: Math.round(peak),
    attackRequests: Object.fromEntries(attackStatus),
    decode: s.decode,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
  console.log(`gateway under the crafted corpus: ${JSON.stringify(figures)}`);
  assert.deepEqual(statuses, statuses.map(() => 200), 'every normal request answered 200');
  assert.ok(figures.normalP99Ms < P99_BOUND_MS, `normal client p99 ${figures.normalP99Ms} ms (bound ${P99_BOUND_MS} ms)`);
  assert.ok(peak < RSS_BOUND_MIB, `gateway peak RSS ${peak.toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB)`);
  assert.ok(!attackStatus.has(500) && !attackStatus.has(0), `attack answers ${JSON.stringify(figures.attackRequests)}`);
  assert.equal(server.exitCode, null, 'the gateway is still running');
});

test('a client that goes away: its waiting decodes are skipped, not run', { timeout: 120_000 }, async () => {
  // Accepted but slow to decode (40 megapixels of CMYK): with 2 decodes at a time, most of the 16 are still waiting
  // when the client goes.
  const tiff = cmykTiff();
  const heavy = multipart(Array.from({ length: 16 }, (_, i) => ({ name: `cmyk-${i}.tiff`, bytes: tiff })));
  const before = (await status()).decode;
  const r = await post(heavy.body, heavy.type, { dropAfterMs: 400 });
  assert.equal(r.status, 0, 'the client dropped its connection');
  // Wait for the decodes that had started to finish.
  let after = before;
  for (let i = 0; i < 100; i++) {
    after = (await status()).decode;
    if (after.waiting === 0 && after.skipped > before.skipped) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  const skipped = after.skipped - before.skipped;
  const started = after.started - before.started;
  console.log(`a gone client's 16 images: ${started} decodes started, ${skipped} skipped`);
  assert.ok(skipped >= 10, `only ${skipped} of 16 waiting decodes were skipped (${started} started)`);
  assert.equal(started + skipped, 16);
});
