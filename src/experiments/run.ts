/**
 * Running experiments: each one's settings in turn in one shared context, a JSON result per experiment (every
 * setting, seed and per-repetition number) in `<out>/results/<name>.json`, then the report re-rendered from all
 * results in the folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fail } from '../errors.js';
import { pairedTTest, type TTest } from '../analysis/stats.js';
import { ExperimentContext } from './context.js';
import { EXPERIMENTS, findExperiment, type Experiment } from './catalog.js';
import { runSetting, type SettingResult } from './setting.js';

export const RESULT_FORMAT = 'owsd-experiment/1';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  onnxruntime: string;
  platform: string;
}

export interface Comparison {
  a: string;
  b: string;
  /** Paired over repetitions: top-1 with the cloud of a minus that of b. */
  test: TTest;
}

export interface ExperimentResult {
  format: typeof RESULT_FORMAT;
  name: string;
  paper: string;
  title: string;
  description: string;
  quick: boolean;
  seeds: number[];
  settings: SettingResult[];
  comparisons: Comparison[];
  machine: Machine;
  started: string;
  seconds: number;
}

export interface RunOptions {
  modelsDir: string;
  dataDir: string;
  /** Report folder: results go to `<out>/results/`. */
  out: string;
  quick?: boolean;
  /** Repetitions (default 5; quick 2): seeds 0..n-1. */
  repetitions?: number;
  log?: (line: string) => void;
}

export function machineInfo(): Machine {
  const require = createRequire(import.meta.url);
  let ort = 'unknown';
  try {
    ort = (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    /* not resolvable through exports: leave unknown */
  }
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime: ort,
    platform: `${os.platform()} ${os.arch()}`,
  };
}

export function experimentNames(): string[] {
  return EXPERIMENTS.map((e) => e.name);
}

/** `all` or experiment names → experiments, failing clearly on an unknown name. */
export function resolveExperiments(names: string[]): Experiment[] {
  if (names.length === 0 || names.includes('all')) return EXPERIMENTS;
  return names.map((n) => findExperiment(n) ?? fail('OWSD_ERR_BAD_ARGUMENT', `unknown experiment "${n}": expected all or one of ${experimentNames().join(', ')}`));
}

export function resultPath(out: string, name: string): string {
  return path.join(out, 'results', `${name}.json`);
}

/** IIN settings of quick runs: a few epochs are enough to exercise training. */
export const QUICK_IIN = { epochs: 5 };

export async function runExperiment(ctx: ExperimentContext, exp: Experiment, opts: { quick: boolean; seeds: number[] }): Promise<ExperimentResult> {
  const t0 = performance.now();
  const started = new Date().toISOString();
  ctx.log(`experiment ${exp.name}: ${exp.title}${opts.quick ? ' (quick)' : ''}`);
  const settings: SettingResult[] = [];
  for (const s of exp.settings(opts.quick)) settings.push(await runSetting(ctx, opts.quick ? { ...s, iin: { ...s.iin, ...QUICK_IIN } } : s, opts.seeds));
  const byId = new Map(settings.map((s) => [s.id, s]));
  const comparisons: Comparison[] = [];
  for (const [a, b] of exp.compare ?? []) {
    const ra = byId.get(a);
    const rb = byId.get(b);
    if (!ra || !rb || opts.seeds.length < 2) continue;
    comparisons.push({ a, b, test: pairedTTest(ra.repetitions.map((r) => r.accuracy.both!.top1), rb.repetitions.map((r) => r.accuracy.both!.top1)) });
  }
  return {
    format: RESULT_FORMAT,
    name: exp.name,
    paper: exp.paper,
    title: exp.title,
    description: exp.description,
    quick: opts.quick,
    seeds: opts.seeds,
    settings,
    comparisons,
    machine: machineInfo(),
    started,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Run the named experiments (or all), writing each result as soon as it is done. */
export async function runExperiments(names: string[], opts: RunOptions): Promise<{ results: ExperimentResult[]; seconds: number; submissions: Record<string, number> }> {
  const t0 = performance.now();
  const experiments = resolveExperiments(names);
  const quick = opts.quick ?? false;
  const reps = opts.repetitions ?? (quick ? 2 : 5);
  if (!Number.isInteger(reps) || reps < 1) return fail('OWSD_ERR_BAD_ARGUMENT', `repetitions must be a positive integer, got ${reps}`);
  const seeds = Array.from({ length: reps }, (_, i) => i);
  fs.mkdirSync(path.join(opts.out, 'results'), { recursive: true });
  const ctx = new ExperimentContext({ modelsDir: opts.modelsDir, dataDir: opts.dataDir, log: opts.log });
  const results: ExperimentResult[] = [];
  try {
    for (const exp of experiments) {
      const r = await runExperiment(ctx, exp, { quick, seeds });
      fs.writeFileSync(resultPath(opts.out, exp.name), JSON.stringify(r, null, 1) + '\n');
      ctx.log(`experiment ${exp.name} done in ${r.seconds.toFixed(0)} s → ${resultPath(opts.out, exp.name)}`);
      results.push(r);
    }
  } finally {
    await ctx.close();
    fs.rmSync(ctx.workDir, { recursive: true, force: true });
  }
  return { results, seconds: (performance.now() - t0) / 1000, submissions: ctx.submissions() };
}
