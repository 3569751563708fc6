/**
 * What every bench shares: timing, this machine's matmul rate (the "limit" each stage is compared with, measured
 * in the same run), the conditions a run ran under (CPU, cores, load average: colleagues share the cores), peak
 * memory, a table printer, and the JSON record each bench prints and writes to `$BENCH_OUT/<name>.json`
 * (default `reports/bench/`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../src/internal/random.js';
import { IIN_DEFAULTS, type IinWeights } from '../src/iin/index.js';
import { makeGraph, makeModel, makeNode, serializeModel, valueInfo } from '../src/internal/onnx-graph.js';
import { createSession, floatTensor } from '../src/internal/ort.js';
import { settings } from '../src/settings.js';
import { UsageLedger } from '../src/key/ledger.js';
import type { Key } from '../src/key/keyfile.js';
import { modelsDir, repoRoot } from '../test/helpers.js';

/** Seconds each rate measurement runs for (after one warm-up call). */
export const BENCH_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

/** Items/s of `fn` (which handles `n` items per call), over `seconds` after a warm-up call. */
export async function rate(n: number, fn: () => Promise<unknown> | unknown, seconds = BENCH_SECONDS): Promise<number> {
  await fn();
  let items = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await fn();
    items += n;
  }
  return items / ((performance.now() - start) / 1000);
}

/**
 * Items/s of `fn` as `rate` measures it, and the CPU time this process spent per item (all its threads: ORT's
 * intra-op pool and the main thread), in ms. On a shared machine the wall-clock rate depends on the others' load;
 * the CPU time per item much less (onnxruntime's threads sleep rather than spin when idle, settings.ortSpinning),
 * so it is what compares forms and settings across a noisy run.
 */
export async function rateAndCpu(n: number, fn: () => Promise<unknown> | unknown, seconds = BENCH_SECONDS): Promise<{ rate: number; cpuMsPerItem: number }> {
  await fn();
  let items = 0;
  const c0 = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await fn();
    items += n;
  }
  const wall = (performance.now() - start) / 1000;
  const c = process.cpuUsage(c0);
  return { rate: items / wall, cpuMsPerItem: (c.user + c.system) / 1000 / items };
}

/** Seconds one call of `fn` takes. */
export async function time<T>(fn: () => Promise<T> | T): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

export interface Conditions {
  cpu: string;
  cores: number;
  threads: number;
  node: string;
  /** 1-minute load average when the bench started and when it ended. */
  loadAverage: [number, number];
}

const startLoad = os.loadavg()[0]!;
/** The machine and the load this bench ran under (call at the end). */
export function conditions(): Conditions {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    threads: settings.threads,
    node: process.version,
    loadAverage: [+startLoad.toFixed(2), +os.loadavg()[0]!.toFixed(2)],
  };
}

export function describeConditions(c: Conditions): string {
  return `${c.cpu} x${c.cores}, ${c.threads} ORT threads, node ${c.node}, load average ${c.loadAverage[0]} -> ${c.loadAverage[1]} (other processes share these cores)`;
}

/** Peak resident memory of this process so far, MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** GFLOP/s of one ORT MatMul [m,k] @ [k,n] with both operands as inputs: best and median of `reps` runs. */
export async function measureMatmul(m: number, k: number, n: number, reps = 40): Promise<{ best: number; median: number; perCpuSecond: number }> {
  const graph = makeGraph(
    'matmul',
    [makeNode('MatMul', ['a', 'b'], ['c'])],
    [valueInfo('a', 'FLOAT', [m, k]), valueInfo('b', 'FLOAT', [k, n])],
    [valueInfo('c', 'FLOAT', [m, n])],
  );
  const session = await createSession(serializeModel(makeModel(graph)), { what: 'matmul bench' });
  const rng = createRng(7);
  const a = floatTensor(Float32Array.from({ length: m * k }, () => rng.next() - 0.5), [m, k]);
  const b = floatTensor(Float32Array.from({ length: k * n }, () => rng.next() - 0.5), [k, n]);
  const times: number[] = [];
  let cpu = { user: 0, system: 0 };
  for (let i = 0; i < reps + 3; i++) {
    if (i === 3) cpu = process.cpuUsage();
    const t0 = performance.now();
    await session.run({ a, b });
    if (i >= 3) times.push(performance.now() - t0);
  }
  cpu = process.cpuUsage(cpu);
  await session.release();
  times.sort((p, q) => p - q);
  const flop = 2 * m * k * n;
  return { best: flop / (times[0]! * 1e6), median: flop / (times[times.length >> 1]! * 1e6), perCpuSecond: (flop * reps) / ((cpu.user + cpu.system) * 1e3) };
}

/**
 * This machine's sustained float32 matmul rate: a square 1024 MatMul in ORT on all its threads (what every stage's
 * FLOP rate is a share of), median of 30 runs; and its GFLOP per CPU-second (the FLOPs over the CPU time of the 30
 * runs), the load-robust rate that stages' GFLOP per CPU-second are compared with.
 */
export async function machinePeakGflops(): Promise<{ median: number; best: number; perCpuSecond: number; shape: number[] }> {
  const r = await measureMatmul(1024, 1024, 1024, 30);
  return { median: +r.median.toFixed(1), best: +r.best.toFixed(1), perCpuSecond: +r.perCpuSecond.toFixed(1), shape: [1024, 1024, 1024] };
}

/** Print rows as an aligned text table (columns: the keys of the first row unless given). */
export function printTable(rows: Array<Record<string, unknown>>, columns?: string[]): void {
  if (rows.length === 0) return;
  const cols = columns ?? Object.keys(rows[0]!);
  const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

/** Print the bench's JSON record (one line) and write it to `$BENCH_OUT/<name>.json`. */
export function saveResult(name: string, result: Record<string, unknown>): void {
  const record = { bench: name, date: new Date().toISOString(), ...result, conditions: conditions() };
  const dir = process.env.BENCH_OUT ?? path.join(repoRoot, 'reports', 'bench');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
  console.log(describeConditions(record.conditions));
  console.log(JSON.stringify(record));
}

/** `owsd cloud serve` in a child process on a free loopback port; resolves once it says it is serving. */
export function startCloudProcess(model: string, opts: { threads?: string } = {}): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const argv = [main, 'cloud', 'serve', '--model', model, '--port', '0', '--quiet', '--models', modelsDir];
  if (opts.threads) argv.push('--threads', opts.threads);
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let err = '';
    const onData = (d: Buffer): void => {
      err += d.toString();
      const m = /at (http:\/\/\S+) \(KServe/.exec(err);
      if (m) {
        child.stderr!.off('data', onData);
        child.stderr!.on('data', (x: Buffer) => process.stderr.write(x));
        resolve({
          url: m[1]!,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited (${code}) before serving:\n${err}`)));
  });
}

/** True when this module is the process's entry point (so a bench file can be imported by another). */
export function isMain(url: string): boolean {
  return !!process.argv[1] && fileURLToPath(url) === path.resolve(process.argv[1]);
}

/**
 * The key's budget count as the benches time it: `reserve(n)` on two scratch ledgers in `dir`, as the pipeline
 * counts in two copies (by key id in the state folder, and beside the key file), so that the bench writes
 * nothing to this user's state folder.
 */
export function scratchBudgetCount(key: Key, dir: string): (n: number) => void {
  const ledgers = [1, 2].map((i) => UsageLedger.open(key, path.join(dir, `scratch-ledger-${i}.json`)));
  return (n) => {
    for (const l of ledgers) l.reserve(n);
  };
}

/** An IIN of the default width with seeded random weights: for timing (its time does not depend on the values). */
export function randomIin(inputDim: number, numClasses: number): IinWeights {
  const rng = createRng(1);
  const hidden = IIN_DEFAULTS.hidden;
  const r = (k: number, s: number): Float32Array => Float32Array.from({ length: k }, () => (rng.next() - 0.5) * s);
  return {
    inputDim,
    hidden,
    numClasses,
    bnEpsilon: 1e-3,
    gamma: new Float32Array(inputDim).fill(1),
    beta: new Float32Array(inputDim),
    runningMean: new Float32Array(inputDim),
    runningVar: new Float32Array(inputDim).fill(1),
    w1: r(inputDim * hidden, 0.05),
    b1: new Float32Array(hidden),
    w2: r(hidden * numClasses, 0.05),
    b2: new Float32Array(numClasses),
  };
}
