/**
 * `owsd analyze`: the confidentiality study. Per dataset (CIFAR-10, Imagenette): the paper's section 5 analysis and
 * the label-inference and linkability attacks on the traffic (security-traffic.ts; on the paper's deterministic
 * design and again on the default, noisy one), the known-plaintext inversion,
 * reconstruction and key-recovery attacks against the number of leaked pairs (security-inversion.ts; both designs
 * too, as the parts `inversion` and `inversion-noisy`), and the
 * defences measured for accuracy and attack success (security-defences.ts). One JSON result per dataset in
 * `<out>/results/`, figures in `<out>/figures/`, then the report (src/report/security.ts). `owsd analyze traffic`
 * runs the traffic study alone (`writeTrafficStudy`), e.g. at another noise for the report's extra column.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import { DEFAULT_EMBEDDING_NOISE } from '../key/keyfile.js';
import { ExperimentContext } from './context.js';
import { machineInfo, type Machine } from './run.js';
import { runTrafficStudy, TRAFFIC_CLOUDS, type TrafficDataset, type TrafficStudyResult } from './security-traffic.js';
import { writeFile } from './traffic-figures.js';
import { runInversionStudy, type InversionStudyResult } from './security-inversion.js';
import { runDefenceStudy, type DefenceResult, type SecurityDataset } from './security-defences.js';

export const SECURITY_FORMAT = 'owsd-security/1';
export const SECURITY_DATASETS: SecurityDataset[] = ['cifar-10', 'imagenette-val'];
export const SECURITY_PARTS = ['traffic', 'inversion', 'inversion-noisy', 'defences'] as const;
export type SecurityPart = (typeof SECURITY_PARTS)[number];

export interface SecurityResult {
  format: typeof SECURITY_FORMAT;
  dataset: SecurityDataset;
  quick: boolean;
  seeds: number[];
  /** The traffic attacks on the paper's deterministic design. */
  traffic?: TrafficStudyResult;
  /** The same attacks on the default key design: fresh noise per submission (DEFAULT_EMBEDDING_NOISE). */
  trafficNoisy?: TrafficStudyResult;
  inversion?: InversionStudyResult;
  /** The same known-plaintext attacks on the default key design (fresh noise per submission). */
  inversionNoisy?: InversionStudyResult;
  defences?: DefenceResult;
  machine: Machine;
  started: string;
  seconds: number;
}

export interface AnalyzeOptions {
  modelsDir: string;
  dataDir: string;
  out: string;
  datasets?: string[];
  parts?: string[];
  quick?: boolean;
  repetitions?: number;
  log?: (line: string) => void;
}

function checkNames<T extends string>(given: string[] | undefined, allowed: readonly T[], what: string): T[] {
  if (!given || given.length === 0) return [...allowed];
  for (const g of given) if (!(allowed as readonly string[]).includes(g)) fail('OWSD_ERR_BAD_ARGUMENT', `unknown ${what} "${g}": expected one of ${allowed.join(', ')}`);
  return given as T[];
}

/** Seconds the parts a result holds took, each by its own clock: right when only some parts were re-run. */
export function securityResultSeconds(r: SecurityResult): number {
  const sum = (rec: Record<string, number>) => Object.values(rec).reduce((x, y) => x + y, 0);
  return (r.traffic ? sum(r.traffic.seconds) : 0) + (r.trafficNoisy ? sum(r.trafficNoisy.seconds) : 0) + (r.inversion?.seconds.total ?? 0) + (r.inversionNoisy?.seconds.total ?? 0) + (r.defences?.seconds ?? 0);
}

export function securityResultPath(out: string, dataset: string): string {
  return path.join(out, 'results', `${dataset}.json`);
}

export async function runSecurityStudy(opts: AnalyzeOptions): Promise<{ results: SecurityResult[]; seconds: number }> {
  const t0 = performance.now();
  const datasets = checkNames(opts.datasets, SECURITY_DATASETS, 'dataset');
  const parts = checkNames(opts.parts, SECURITY_PARTS, 'part');
  const quick = opts.quick ?? false;
  const reps = opts.repetitions ?? (quick ? 2 : 5);
  const seeds = Array.from({ length: reps }, (_, i) => i);
  const figures = path.join(opts.out, 'figures');
  fs.mkdirSync(figures, { recursive: true });
  fs.mkdirSync(path.join(opts.out, 'results'), { recursive: true });
  const ctx = new ExperimentContext({ modelsDir: opts.modelsDir, dataDir: opts.dataDir, log: opts.log });
  const results: SecurityResult[] = [];
  try {
    for (const dataset of datasets) {
      const started = new Date().toISOString();
      const short = dataset.replace(/-val$/, '');
      // Earlier parts' results for this dataset are kept when only some parts are re-run.
      const file = securityResultPath(opts.out, dataset);
      const previous = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as SecurityResult) : undefined;
      const keep = previous && previous.format === SECURITY_FORMAT && previous.quick === quick ? previous : undefined;
      const r: SecurityResult = { format: SECURITY_FORMAT, dataset, quick, seeds, traffic: keep?.traffic, trafficNoisy: keep?.trafficNoisy, inversion: keep?.inversion, inversionNoisy: keep?.inversionNoisy, defences: keep?.defences, machine: machineInfo(), started, seconds: 0 };
      if (parts.includes('traffic')) {
        ctx.log(`analyze ${dataset}: traffic (paper section 5, label inference, linkability)`);
        r.traffic = await runTrafficStudy(ctx, { dataset, quick, seed: 0, sideBySidePath: path.join(figures, `${short}-side-by-side.png`), pcaPath: path.join(figures, `${short}-pca.svg`) });
        ctx.log(`analyze ${dataset}: traffic again, on the default key design (noise ${DEFAULT_EMBEDDING_NOISE}x)`);
        r.trafficNoisy = await runTrafficStudy(ctx, { dataset, quick, seed: 0, embeddingNoise: DEFAULT_EMBEDDING_NOISE });
      }
      if (parts.includes('inversion')) {
        ctx.log(`analyze ${dataset}: inversion, reconstruction and key recovery`);
        r.inversion = await runInversionStudy(ctx, { dataset, quick, seed: 0, figurePath: path.join(figures, `${short}-reconstructions.png`) });
      }
      if (parts.includes('inversion-noisy')) {
        ctx.log(`analyze ${dataset}: inversion, reconstruction and key recovery on the default key design (noise ${DEFAULT_EMBEDDING_NOISE}x)`);
        r.inversionNoisy = await runInversionStudy(ctx, { dataset, quick, seed: 0, embeddingNoise: DEFAULT_EMBEDDING_NOISE });
      }
      if (parts.includes('defences')) {
        ctx.log(`analyze ${dataset}: defences`);
        r.defences = await runDefenceStudy(ctx, { dataset, quick, seeds });
      }
      r.seconds = securityResultSeconds(r);
      fs.writeFileSync(file, JSON.stringify(r, null, 1) + '\n');
      ctx.log(`analyze ${dataset} done → ${file}`);
      results.push(r);
    }
  } finally {
    await ctx.close();
    fs.rmSync(ctx.workDir, { recursive: true, force: true });
  }
  return { results, seconds: (performance.now() - t0) / 1000 };
}

export interface TrafficRunOptions {
  modelsDir: string;
  dataDir: string;
  /** Folder for traffic-<dataset>.json and the two figures (created). */
  out: string;
  /** Default ['cifar-10']. */
  datasets?: string[];
  quick?: boolean;
  /** Default 0. */
  seed?: number;
  /** The key's per-submission embedding noise, a multiple of the embedding's RMS (default 0, the paper's design). */
  embeddingNoise?: number;
  log?: (line: string) => void;
}

/**
 * `owsd analyze traffic`: the traffic study alone for each dataset, written as `<out>/traffic-<dataset>.json` with
 * its section 5.1 figure (`traffic-<dataset>-side-by-side.png`) and PCA scatter (`traffic-<dataset>-pca.svg`). The
 * report reads `<out>/noise-8/traffic-*.json` written this way as its 8x column. Returns the JSON files.
 */
export async function writeTrafficStudy(opts: TrafficRunOptions): Promise<{ files: string[]; seconds: number }> {
  const t0 = performance.now();
  const datasets = checkNames(opts.datasets?.length ? opts.datasets : ['cifar-10'], Object.keys(TRAFFIC_CLOUDS) as TrafficDataset[], 'dataset');
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) fail('OWSD_ERR_BAD_ARGUMENT', `traffic study: seed must be a non-negative integer, got ${seed}`);
  const embeddingNoise = opts.embeddingNoise ?? 0;
  if (!(embeddingNoise >= 0) || !Number.isFinite(embeddingNoise)) fail('OWSD_ERR_BAD_ARGUMENT', `traffic study: the noise must be a non-negative number (a multiple of the embedding's RMS), got ${embeddingNoise}`);
  const ctx = new ExperimentContext({ modelsDir: opts.modelsDir, dataDir: opts.dataDir, log: opts.log });
  const files: string[] = [];
  try {
    for (const dataset of datasets) {
      const result = await runTrafficStudy(ctx, {
        dataset,
        quick: opts.quick ?? false,
        seed,
        embeddingNoise,
        sideBySidePath: path.join(opts.out, `traffic-${dataset}-side-by-side.png`),
        pcaPath: path.join(opts.out, `traffic-${dataset}-pca.svg`),
      });
      const file = path.join(opts.out, `traffic-${dataset}.json`);
      writeFile(file, JSON.stringify(result, null, 1));
      ctx.log(`traffic study on ${dataset} done → ${file}`);
      files.push(file);
    }
  } finally {
    await ctx.close();
    fs.rmSync(ctx.workDir, { recursive: true, force: true });
  }
  return { files, seconds: (performance.now() - t0) / 1000 };
}
