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
  /** Runs of some settings (`owsd experiment run --only`) merged into this result, oldest first. */
  merged?: Array<{ settings: string[]; started: string; seconds: number; machine: Machine }>;
}

export interface RunOptions {
  modelsDir: string;
  dataDir: string;
  /** Report folder: results go to `<out>/results/`. */
  out: string;
  quick?: boolean;
  /** Repetitions (default 5; quick 2): seeds 0..n-1. */
  repetitions?: number;
  /**
   * Setting ids (`experiment`'s own ids, e.g. `imagenette-weak/size-96-width-256`): run only these settings and
   * merge them into the experiment's results file already in `<out>/results/` (see mergeResults).
   */
  only?: string[];
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

function readResult(file: string): ExperimentResult {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ExperimentResult;
  } catch (e) {
    return fail('OWSD_ERR_BAD_ARGUMENT', `${file}: cannot read the earlier results (${(e as Error).message.split('\n')[0]})`);
  }
}

/** IIN settings of quick runs: a few epochs are enough to exercise training. */
export const QUICK_IIN = { epochs: 5 };

/** The paired t-tests of `exp.compare` over the settings present (both rows there, at least two repetitions). */
function compareSettings(exp: Experiment, settings: readonly SettingResult[], seeds: readonly number[]): Comparison[] {
  const byId = new Map(settings.map((s) => [s.id, s]));
  const comparisons: Comparison[] = [];
  for (const [a, b] of exp.compare ?? []) {
    const ra = byId.get(a);
    const rb = byId.get(b);
    if (!ra || !rb || seeds.length < 2) continue;
    comparisons.push({ a, b, test: pairedTTest(ra.repetitions.map((r) => r.accuracy.both!.top1), rb.repetitions.map((r) => r.accuracy.both!.top1)) });
  }
  return comparisons;
}

export async function runExperiment(ctx: ExperimentContext, exp: Experiment, opts: { quick: boolean; seeds: number[]; only?: ReadonlySet<string> }): Promise<ExperimentResult> {
  const t0 = performance.now();
  const started = new Date().toISOString();
  const chosen = exp.settings(opts.quick).filter((s) => !opts.only || opts.only.has(s.id));
  ctx.log(`experiment ${exp.name}: ${exp.title}${opts.quick ? ' (quick)' : ''}${opts.only ? `; only ${chosen.map((s) => s.id).join(', ')}` : ''}`);
  const settings: SettingResult[] = [];
  for (const s of chosen) settings.push(await runSetting(ctx, opts.quick ? { ...s, iin: { ...s.iin, ...QUICK_IIN } } : s, opts.seeds));
  const comparisons = compareSettings(exp, settings, opts.seeds);
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

/** Whether a run of `fresh.quick` mode and `fresh.seeds` may be merged into `old` (see mergeResults); a clear error naming `file` if not. */
function checkMergeable(old: ExperimentResult, fresh: Pick<ExperimentResult, 'quick' | 'seeds'>, exp: Experiment, file: string): void {
  if (old.format !== RESULT_FORMAT || old.name !== exp.name || !Array.isArray(old.settings)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `${file}: not a ${RESULT_FORMAT} result of experiment ${exp.name}; run the whole experiment first (without --only)`);
  }
  if (old.quick !== fresh.quick) {
    fail('OWSD_ERR_BAD_ARGUMENT', `${file} holds a ${old.quick ? 'quick' : 'full'} run; --only ran ${fresh.quick ? 'quick' : 'full'}: use the same mode`);
  }
  if (old.seeds.join(',') !== fresh.seeds.join(',')) {
    fail('OWSD_ERR_BAD_ARGUMENT', `${file} used seeds ${old.seeds.join(',')}; --only ran seeds ${fresh.seeds.join(',')}: pass --repetitions ${old.seeds.length}`);
  }
}

/**
 * Merge a run of some settings (`fresh`) into the experiment's earlier full result (`old`): each fresh setting
 * replaces the old row of the same id or is added; rows follow the catalog's order (`order`: the experiment's
 * setting ids), rows the catalog no longer has keep their place at the end; the comparisons are recomputed over
 * the merged rows. The two runs must be of the same experiment, the same mode (quick or full) and the same seeds,
 * or the rows would not be comparable: that is a clear error naming the file. The merged result keeps the old
 * run's start and machine, adds the fresh run's seconds, and lists each merged run in `merged`.
 */
export function mergeResults(old: ExperimentResult, fresh: ExperimentResult, exp: Experiment, file = resultPath('.', exp.name)): ExperimentResult {
  checkMergeable(old, fresh, exp, file);
  const order = exp.settings(fresh.quick).map((s) => s.id);
  const rank = (id: string) => {
    const i = order.indexOf(id);
    return i < 0 ? order.length : i;
  };
  const freshIds = new Set(fresh.settings.map((s) => s.id));
  const kept = old.settings.filter((s) => !freshIds.has(s.id));
  const settings = [...kept, ...fresh.settings]
    .map((s, i) => ({ s, i }))
    .sort((x, y) => rank(x.s.id) - rank(y.s.id) || x.i - y.i)
    .map((x) => x.s);
  return {
    ...old,
    settings,
    comparisons: compareSettings(exp, settings, old.seeds),
    seconds: old.seconds + fresh.seconds,
    merged: [...(old.merged ?? []), { settings: fresh.settings.map((s) => s.id), started: fresh.started, seconds: fresh.seconds, machine: fresh.machine }],
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
  const only = opts.only && opts.only.length > 0 ? new Set(opts.only) : undefined;
  if (only) {
    const known = new Set(experiments.flatMap((e) => e.settings(quick).map((s) => s.id)));
    const unknown = [...only].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      return fail('OWSD_ERR_BAD_ARGUMENT', `--only: no setting ${unknown.map((u) => `"${u}"`).join(', ')} in ${experiments.map((e) => e.name).join(', ')}${quick ? ' (quick)' : ''}; its settings: ${[...known].join(', ')}`);
    }
    for (const exp of experiments) {
      const file = resultPath(opts.out, exp.name);
      if (exp.settings(quick).some((s) => only.has(s.id)) && !fs.existsSync(file)) {
        return fail('OWSD_ERR_BAD_ARGUMENT', `--only merges into ${file}, which does not exist: run the whole experiment ${exp.name} first`);
      }
    }
  }
  fs.mkdirSync(path.join(opts.out, 'results'), { recursive: true });
  const ctx = new ExperimentContext({ modelsDir: opts.modelsDir, dataDir: opts.dataDir, log: opts.log });
  const results: ExperimentResult[] = [];
  try {
    for (const exp of experiments) {
      if (only && !exp.settings(quick).some((s) => only.has(s.id))) continue;
      const file = resultPath(opts.out, exp.name);
      // Read (and check) the earlier result before spending minutes on the run.
      const old = only ? readResult(file) : undefined;
      if (old) checkMergeable(old, { quick, seeds }, exp, file);
      const fresh = await runExperiment(ctx, exp, { quick, seeds, only });
      const r = old ? mergeResults(old, fresh, exp, file) : fresh;
      fs.writeFileSync(file, JSON.stringify(r, null, 1) + '\n');
      ctx.log(`experiment ${exp.name} done in ${fresh.seconds.toFixed(0)} s → ${file}${old ? ` (merged ${fresh.settings.length} setting(s))` : ''}`);
      results.push(r);
    }
  } finally {
    await ctx.close();
    fs.rmSync(ctx.workDir, { recursive: true, force: true });
  }
  return { results, seconds: (performance.now() - t0) / 1000, submissions: ctx.submissions() };
}
