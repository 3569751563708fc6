/**
 * The cloud transport side by side, in one run: owsd's (`requestJson` in src/cloud/clients/http.ts, over node:http
 * since issue 20; over Node's built-in fetch before) and the npm `undici` package as a port would use it (`request()` through a `RetryAgent` over an
 * `Agent` with `maxResponseSize`, `headersTimeout` and `bodyTimeout`, plus a whole-request `AbortSignal.timeout`,
 * which undici has no option for).
 *
 * 1. Faults: the misbehaving clouds of test/cloud-client.test.ts and test/faults.test.ts (503 with a message, 429
 *    with Retry-After: 3600, a declared 1 TiB answer, an answer without end, an answer trickled a byte at a time),
 *    each sent once through owsd (timeoutMs 300, retries 2, maxResponseBytes 1 MiB) and once through undici set up
 *    the same way (headersTimeout and bodyTimeout 300 ms, maxRetries 2, maxResponseSize 1 MiB, POST and owsd's
 *    statuses retried); prints what each gives, how many requests the cloud saw and how long it took.
 * 2. Speed: one KServe V2 JSON inference request of one noise PNG, the answer read, its nesting checked, parsed and
 *    its probabilities read; a third row is Node's fetch with none of owsd's wrapper. The three take turns request
 *    by request (the first one rotating) at concurrency 1, against `echo`, a loopback server in this process
 *    answering a fixed 1000-class vector at once (the transport alone), and `cloud`, the embedded cloud with a real
 *    model in a child process (`owsd cloud serve`), the batch-1 HTTP figure. Prints median, p90 and mean latency
 *    per transport and its p50 over owsd's, then one JSON line.
 *
 * undici is not a dependency of owsd (docs/architecture.md, "The cloud transport", says why); install it outside
 * the repo and pass its entry file:
 *
 *   npm install --prefix /tmp/undici6 undici@6 && npm run build && \
 *     node dist/bench/transport.js --undici /tmp/undici6/node_modules/undici/index.js [--requests 300] [--size 256]
 *     [--model mobilenetv2-12-int8]
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { requestJson, DEFAULT_MAX_RESPONSE_BYTES, parseJsonLenient } from '../src/cloud/clients/http.js';
import { describe, isOwsdError } from '../src/errors.js';
import { buildImageInferenceRequest, parseProbabilitiesResponse } from '../src/cloud/protocol.js';
import { nestsDeeperThan } from '../src/internal/json-depth.js';
import { noisePngBytes } from '../test/helpers.js';
import { printTable, saveResult, startCloudProcess } from './lib.js';

const { values: args } = parseArgs({
  options: {
    undici: { type: 'string' },
    requests: { type: 'string', default: '300' },
    size: { type: 'string', default: '256' },
    model: { type: 'string', default: 'mobilenetv2-12-int8' },
  },
});
const requests = Number(args.requests);
const size = Number(args.size);

/** The undici module: --undici's file, else a resolvable `undici`; a clear message when neither is there. */
async function loadUndici(): Promise<any> {
  const spec = args.undici ? pathToFileURL(path.resolve(args.undici)).href : 'undici';
  try {
    return await import(spec);
  } catch (e) {
    console.error(`bench/transport: cannot load undici from ${args.undici ?? "'undici'"} (${(e as Error).message.split('\n')[0]}); install it outside the repo, e.g. npm install --prefix /tmp/undici6 undici@6, and pass --undici /tmp/undici6/node_modules/undici/index.js`);
    process.exit(2);
  }
}
const undici = await loadUndici();
const undiciVersion: string = (() => {
  if (!args.undici) return 'unknown';
  try {
    return (JSON.parse(fs.readFileSync(path.join(path.dirname(path.resolve(args.undici)), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

const TIMEOUT_MS = 30_000;
const agent = new undici.Agent({ maxResponseSize: DEFAULT_MAX_RESPONSE_BYTES, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
const retryAgent = new undici.RetryAgent(agent, { maxRetries: 4, minTimeout: 200, maxTimeout: 10_000, methods: ['GET', 'POST'], statusCodes: [408, 429, 500, 502, 503, 504] });

const png = await noisePngBytes(1, size);
const body = JSON.stringify(buildImageInferenceRequest([Buffer.from(png).toString('base64')]));
const headers = { accept: 'application/json', 'content-type': 'application/json' };

async function viaOwsd(url: string): Promise<Float32Array[]> {
  const res = await requestJson(url, { method: 'POST', body }, {});
  return parseProbabilitiesResponse(res.body, 1, { where: `POST ${url}` });
}

/** Node's fetch with none of owsd's wrapper (no per-attempt controller, no capped stream reader): where the time goes. */
async function viaFetch(url: string): Promise<Float32Array[]> {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  if (nestsDeeperThan(text)) throw new Error('too deep');
  return parseProbabilitiesResponse(parseJsonLenient(text), 1, { where: `POST ${url}` });
}

async function viaUndici(url: string): Promise<Float32Array[]> {
  const res = await undici.request(url, { method: 'POST', body, headers, dispatcher: retryAgent, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text: string = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
  if (nestsDeeperThan(text)) throw new Error('too deep');
  return parseProbabilitiesResponse(parseJsonLenient(text), 1, { where: `POST ${url}` });
}

function stats(ms: number[]): { p50: number; p90: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: at(0.5), p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** `requests` requests per transport after 20 warm-up ones each, taking turns. */
async function compare(target: string, url: string): Promise<Array<Record<string, unknown>>> {
  const paths = { owsd: viaOwsd, fetch: viaFetch, undici: viaUndici };
  const names = Object.keys(paths) as Array<keyof typeof paths>;
  for (let i = 0; i < 20; i++) for (const name of names) await paths[name](url);
  const times: Record<string, number[]> = { owsd: [], fetch: [], undici: [] };
  for (let i = 0; i < requests; i++) {
    // Rotate which transport goes first, so none always follows the same one.
    const order = names.map((_, k) => names[(k + i) % names.length]!);
    for (const name of order) {
      const t0 = performance.now();
      const v = await paths[name](url);
      times[name]!.push(performance.now() - t0);
      if (v.length !== 1 || v[0]!.length === 0) throw new Error(`${name}: no vector`);
    }
  }
  const o = stats(times.owsd!);
  const f = stats(times.fetch!);
  const u = stats(times.undici!);
  return [
    { target, transport: 'owsd requestJson (node:http since issue 20)', p50: o.p50, p90: o.p90, mean: o.mean, ratio: 1 },
    { target, transport: 'bare fetch', p50: f.p50, p90: f.p90, mean: f.mean, ratio: f.p50 / o.p50 },
    { target, transport: 'undici RetryAgent', p50: u.p50, p90: u.p90, mean: u.mean, ratio: u.p50 / o.p50 },
  ];
}

// 1. Faults.
async function faults(): Promise<Array<Record<string, unknown>>> {
  let seen = 0;
  const cloud = http.createServer((req, res) => {
    seen++;
    req.resume();
    req.on('end', () => {
      const kind = req.url!.slice(1);
      if (kind === 'ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      if (kind === '503') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
      if (kind === '429') return void res.writeHead(429, { 'retry-after': '3600' }).end('{"error":"slow down"}');
      if (kind === 'declared') return void res.writeHead(200, { 'content-length': String(2 ** 40) }).write('{"outputs":');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"outputs":');
      if (kind === 'endless') {
        const chunk = Buffer.alloc(1 << 16, 0x20);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 20); // trickle
      res.on('close', () => clearInterval(t));
    });
  });
  await new Promise<void>((ok) => cloud.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(cloud.address() as AddressInfo).port}`;
  const small = new undici.Agent({ maxResponseSize: 1 << 20, headersTimeout: 300, bodyTimeout: 300 });
  const retrying = new undici.RetryAgent(small, { maxRetries: 2, minTimeout: 5, maxTimeout: 50, methods: ['GET', 'POST'], statusCodes: [408, 429, 500, 502, 503, 504] });
  const giveUpMs = 5000;
  const rows: Array<Record<string, unknown>> = [];
  const run = async (fault: string, transport: string, fn: () => Promise<unknown>): Promise<void> => {
    seen = 0;
    const t0 = performance.now();
    let outcome: string;
    let deadline: NodeJS.Timeout | undefined;
    try {
      await Promise.race([fn(), new Promise((_, reject) => (deadline = setTimeout(() => reject(new Error(`still reading after ${giveUpMs} ms (given up by the bench)`)), giveUpMs)))]);
      outcome = 'answered';
    } catch (e) {
      const code = isOwsdError(e) ? e.code : (e as { code?: string }).code;
      const status = (e as { statusCode?: number }).statusCode;
      outcome = `${code ? `${code}: ` : ''}${describe(e).replace(base, '').slice(0, 110)}${status ? ` (status ${status})` : ''}`;
    } finally {
      clearTimeout(deadline);
    }
    rows.push({ fault, transport, outcome, requests: seen, ms: Math.round(performance.now() - t0) });
  };
  // Warm both up (Node loads its built-in fetch on first use), then the faults.
  await requestJson(`${base}/ok`, { method: 'POST', body: '{}' });
  await (await undici.request(`${base}/ok`, { method: 'POST', body: '{}', dispatcher: retrying })).body.arrayBuffer();
  for (const [kind, fault] of [
    ['503', '503 {"error":"overloaded"}, always'],
    ['429', '429 Retry-After: 3600'],
    ['declared', 'Content-Length 1 TiB, then silence'],
    ['endless', 'an answer without end'],
    ['trickle', 'a byte every 20 ms, without end'],
  ] as const) {
    await run(fault, 'owsd', () => requestJson(`${base}/${kind}`, { method: 'POST', body: '{}' }, { timeoutMs: 300, retries: 2, backoffMs: 5, maxBackoffMs: 50, maxResponseBytes: 1 << 20 }));
    await run(fault, 'undici', async () => {
      const res = await undici.request(`${base}/${kind}`, { method: 'POST', body: '{}', dispatcher: retrying });
      await res.body.arrayBuffer();
    });
  }
  await run('503, RetryAgent default methods', 'undici', () => undici.request(`${base}/503`, { method: 'POST', body: '{}', dispatcher: new undici.RetryAgent(small, { minTimeout: 5 }) }));
  await small.destroy();
  cloud.closeAllConnections();
  cloud.close();
  return rows;
}
const faultRows = await faults();
console.log(`faults: owsd (timeoutMs 300, retries 2, maxResponseBytes 1 MiB) and undici ${undiciVersion} (RetryAgent maxRetries 2 over an Agent with headersTimeout/bodyTimeout 300 ms, maxResponseSize 1 MiB)`);
printTable(faultRows, ['fault', 'transport', 'requests', 'ms', 'outcome']);

// 2. Speed. The transport alone: a fixed 1000-class answer, at once.
const answer = JSON.stringify({ model_name: 'm', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 1000], data: Array.from({ length: 1000 }, (_, i) => (i + 1) / 500500) }] });
const echo = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(answer));
});
await new Promise<void>((ok) => echo.listen(0, '127.0.0.1', ok));
const rows = await compare('echo', `http://127.0.0.1:${(echo.address() as AddressInfo).port}/v2/models/m/infer`);
echo.closeAllConnections();
echo.close();

// The embedded cloud with a real model.
const server = await startCloudProcess(args.model!);
rows.push(...(await compare(`cloud ${args.model}`, `${server.url}/v2/models/${encodeURIComponent(args.model!)}/infer`)));
await server.stop();
await agent.close();

console.log(`speed: batch 1 KServe JSON, ${size}x${size} noise PNG (${Math.round(png.length / 1024)} KiB), ${requests} requests per transport, taking turns; undici ${undiciVersion}, Node ${process.version} (built-in fetch: undici ${process.versions.undici}); latency ms, ratio = p50 / owsd's p50`);
printTable(rows, ['target', 'transport', 'p50', 'p90', 'mean', 'ratio']);
saveResult('transport', { requests, imageSize: size, pngBytes: png.length, model: args.model, undici: undiciVersion, builtinUndici: process.versions.undici, faults: faultRows, rows });
