/**
 * The any-inverter bound study (issue 17): for every shared data set and every shared ONNX encoder, at every
 * noise of the grid, what an observer who could invert the scrambler perfectly learns from the generator's
 * input z = e + σ·rms(e)·n (src/analysis/bound.ts): labels with k = 1, 5, 20, 100 leaked labels per class,
 * labels from public class means with no leak, and which of 100 candidates was sent. Beside it, on Imagenette
 * with MobileNetV2, the pixel PCA-whitened class-mean attacker on really scrambled images.
 *
 * Run: `owsd analyze bound` (writes reports/security/bound/results.json and results.md). Each image is encoded
 * once per encoder (embeddings cached on disk, in `cacheDir`); the noise is cheap. Everything is seeded.
 * Results are written after each data set x encoder, and a re-run keeps the rows it already has for the same
 * settings (`fresh` starts over).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fail } from '../errors.js';
import { createRng, deriveSeed } from '../internal/random.js';
import { cappedPerClass } from '../analysis/label-leak.js';
import { dense, takeRows, type Dense } from '../analysis/numerics/matrix.js';
import type { LabelInferenceResult } from '../analysis/label-inference.js';
import {
  addSubmissionNoise,
  labelBound,
  noiseSource,
  pixelWhitenedMeanAttack,
  publicMeansBound,
  publicSplit,
  reidentificationBound,
  trafficComponents,
  type ReidentificationBound,
} from '../analysis/bound.js';
import { BOUND_COMPONENTS, BOUND_NOISES } from '../analysis/bound.js';
import { ExperimentContext } from './context.js';
import { machineInfo, type Machine } from './run.js';

export { BOUND_COMPONENTS, BOUND_NOISES };
export const BOUND_FORMAT = 'owsd-bound-v1';
export const BOUND_KS = [1, 5, 20, 100];
export const BOUND_DATASETS = ['imagenette-val', 'cifar-10', 'cifar-100', 'tiny-imagenet-val', 'gtsrb-test'];
/** Every shared ONNX model that can serve as an encoder (the tfjs model cannot: encoders must be ONNX). */
export const BOUND_ENCODERS = ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq', 'cifar10-resnet20', 'cifar100-mobilenetv3-small-128'];
/**
 * Images per class kept of each data set (seeded choice; every class kept). Enough for k = 100 with queries left
 * on the 10-class sets and GTSRB's larger classes, k = 20 everywhere; the whole study then runs in well under an
 * hour on the 2-core machine.
 */
export const BOUND_CAPS: Record<string, number> = {
  'imagenette-val': 500, // all 3,925 (at most 409 per class): the issue's figures are on all of them
  'cifar-10': 200,
  'cifar-100': 50,
  'tiny-imagenet-val': 25, // 202 classes: k = 20 leaves 5 queries per class (1,010 in all)
  'gtsrb-test': 120,
};
export const BOUND_QUICK_CAP = 12;
/** The pixel attacker beside the bound: data set, encoder, images per class, noises, PCA size. */
export const BOUND_PIXEL = { dataset: 'imagenette-val', encoder: 'mobilenetv2-12-int8', perClass: 120, noises: [4, 8], components: 64, imageSize: 256 } as const;

export interface BoundStudyOptions {
  modelsDir: string;
  dataDir: string;
  /** Folder of results.json and results.md (default reports/security/bound; quick runs reports/security/bound-quick). */
  out?: string;
  datasets?: string[];
  encoders?: string[];
  noises?: number[];
  /** Images per class instead of BOUND_CAPS (quick runs and tests). */
  perClass?: number;
  quick?: boolean;
  seed?: number;
  /** Skip the pixel attacker (it scrambles real images: the slow part). */
  pixel?: boolean;
  /** Where embeddings are cached (default <tmp>/owsd-bound-cache). */
  cacheDir?: string;
  /** Ignore rows already in results.json. */
  fresh?: boolean;
  /** Write nothing (tests). */
  write?: boolean;
  log?: (line: string) => void;
}

export interface BoundLabelPoint {
  k: number;
  accuracy: number;
  attacker: string;
  components: number;
  queries: number;
  /** Every (classifier, PCA size) tried: accuracy. */
  all: Record<string, number>;
}

export interface BoundRow {
  dataset: string;
  encoder: string;
  dim: number;
  images: number;
  classes: number;
  chance: number;
  noise: number;
  label: BoundLabelPoint[];
  publicMeans: { accuracy: number; attacker: string; all: Record<string, number>; publicImages: number; trafficImages: number };
  reidentification: ReidentificationBound;
  seconds: number;
}

export interface PixelRow {
  dataset: string;
  encoder: string;
  noise: number;
  images: number;
  classes: number;
  imageSize: number;
  components: number;
  /** The pixel attacker on the scrambled images. */
  pixel: Array<{ k: number; accuracy: number; attacker: string }>;
  /** The any-inverter bound on the same images (the generator's inputs of that scrambling). */
  bound: Array<{ k: number; accuracy: number; attacker: string }>;
  seconds: number;
}

export interface BoundStudyResult {
  format: typeof BOUND_FORMAT;
  quick: boolean;
  machine: Machine;
  /** 1-minute load average at the start and the end, and the cores. */
  load: { start: number; end: number; cores: number };
  seed: number;
  noises: number[];
  ks: number[];
  components: number[];
  caps: Record<string, number>;
  pixelSettings: typeof BOUND_PIXEL | null;
  started: string;
  seconds: number;
  encodeSeconds: Record<string, number>;
  rows: BoundRow[];
  pixel: PixelRow[];
}

export interface Embedded {
  labels: number[];
  e: Dense;
  classes: number;
}

function cacheFile(dir: string, dataset: string, encoder: string, ids: string[]): string {
  const h = crypto.createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 16);
  return path.join(dir, `${dataset}--${encoder}--${ids.length}-${h}.f32`);
}

/** Clean embeddings of the capped images, encoded once (cached on disk by data set, encoder and image ids). */
async function embed(ctx: ExperimentContext, dataset: string, encoder: string, perClass: number, seed: number, cacheDir: string, encodeSeconds: Record<string, number>): Promise<Embedded> {
  const ds = await ctx.dataset(dataset);
  const samples = cappedPerClass(ds.samples, (s) => s.label, Infinity, perClass, createRng(deriveSeed(seed, `bound-cap ${dataset}`)));
  const labels = samples.map((s) => s.label);
  const classes = new Set(labels).size;
  const file = cacheFile(cacheDir, dataset, encoder, samples.map((s) => s.id));
  if (fs.existsSync(file)) {
    const buf = fs.readFileSync(file);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const dim = data.length / samples.length;
    if (Number.isInteger(dim)) return { labels, e: dense(samples.length, dim, data), classes };
  }
  const src = await ctx.embeddingSource([encoder]);
  const t0 = performance.now();
  const data = await src.encode(samples.map((s) => s.image));
  const secs = (performance.now() - t0) / 1000;
  encodeSeconds[`${dataset}/${encoder}`] = secs;
  ctx.log(`  encoded ${samples.length} images of ${dataset} with ${encoder} (${src.dim}-d) in ${secs.toFixed(0)} s`);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return { labels, e: dense(samples.length, src.dim, data), classes };
}

const pct = (x: number) => Math.round(x * 1000) / 1000;

/** The bound of one data set x encoder at one noise. */
export async function boundRow(dataset: string, encoder: string, emb: Embedded, noise: number, seed: number, ks = BOUND_KS, components = BOUND_COMPONENTS): Promise<BoundRow> {
  const t0 = performance.now();
  const { e, labels } = emb;
  const n = e.rows;
  const d = e.cols;
  const z = dense(n, d, addSubmissionNoise(e.data, n, d, noise, noiseSource(`bound ${dataset} ${encoder} ${noise} ${seed}`, 0)));
  const label: BoundLabelPoint[] = [];
  const tcs = [];
  for (const p of components) tcs.push(await trafficComponents(z, p, seed));
  for (const k of ks) {
    let best: (LabelInferenceResult & { components: number }) | null = null;
    const all: Record<string, number> = {};
    for (const tc of tcs) {
      const r = await labelBound(tc, labels, k, seed);
      if (!r) continue;
      for (const a of r.all) all[`${a.attacker}/pca${tc.p}`] = pct(a.accuracy);
      if (!best || r.best.accuracy > best.accuracy) best = { ...r.best, components: tc.p };
    }
    if (best) label.push({ k, accuracy: best.accuracy, attacker: best.attacker, components: best.components, queries: best.queries, all });
  }
  const { publicRows, trafficRows } = publicSplit(labels, seed);
  const pm = await publicMeansBound(takeRows(z, trafficRows), trafficRows.map((i) => labels[i]!), takeRows(e, publicRows), publicRows.map((i) => labels[i]!), noise, seed);
  const reid = reidentificationBound(e, z, noise, seed);
  return {
    dataset,
    encoder,
    dim: d,
    images: n,
    classes: emb.classes,
    chance: 1 / emb.classes,
    noise,
    label,
    publicMeans: {
      accuracy: pm.best.accuracy,
      attacker: pm.best.attacker,
      all: Object.fromEntries(pm.all.map((a) => [a.attacker, pct(a.accuracy)])),
      publicImages: publicRows.length,
      trafficImages: trafficRows.length,
    },
    reidentification: reid,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The pixel attacker on really scrambled images, and the bound on the same generator inputs. */
async function pixelRows(ctx: ExperimentContext, opts: { seed: number; cacheDir: string; perClass: number; noises: readonly number[]; encodeSeconds: Record<string, number> }): Promise<PixelRow[]> {
  const s = BOUND_PIXEL;
  const emb = await embed(ctx, s.dataset, s.encoder, opts.perClass, opts.seed, opts.cacheDir, opts.encodeSeconds);
  const { e, labels } = emb;
  const n = e.rows;
  const d = e.cols;
  const out: PixelRow[] = [];
  for (const noise of opts.noises) {
    const t0 = performance.now();
    const scrambler = await ctx.scrambler('k0', s.imageSize, d, { embeddingNoise: noise });
    const per = s.imageSize * s.imageSize * 3;
    const pixels: Uint8Array[] = [];
    for (let i = 0; i < n; i += 64) {
      const count = Math.min(64, n - i);
      const px = await scrambler.pixels(e.data.slice(i * d, (i + count) * d), count);
      for (let j = 0; j < count; j++) pixels.push(px.slice(j * per, (j + 1) * per));
    }
    const ks = BOUND_KS.filter((k) => k < opts.perClass);
    const pixel = pixelWhitenedMeanAttack(pixels, labels, s.imageSize, ks, opts.seed, s.components).map((r) => ({ k: r.k, accuracy: r.accuracy, attacker: r.attacker }));
    const row = await boundRow(s.dataset, s.encoder, emb, noise, opts.seed, ks);
    out.push({
      dataset: s.dataset,
      encoder: s.encoder,
      noise,
      images: n,
      classes: emb.classes,
      imageSize: s.imageSize,
      components: s.components,
      pixel,
      bound: row.label.map((l) => ({ k: l.k, accuracy: l.accuracy, attacker: `${l.attacker}/pca${l.components}` })),
      seconds: (performance.now() - t0) / 1000,
    });
    ctx.log(`  pixel attacker at ${noise}x on ${n} scrambled images: ${pixel.map((p) => `k=${p.k} ${(p.accuracy * 100).toFixed(1)}%`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  return out;
}

export function boundResultPath(out: string): string {
  return path.join(out, 'results.json');
}

/** Run the study (or the missing part of it), writing results.json and results.md after each data set x encoder. */
export async function runBoundStudy(opts: BoundStudyOptions): Promise<BoundStudyResult> {
  const started = new Date();
  const t0 = performance.now();
  const seed = opts.seed ?? 0;
  const quick = opts.quick ?? false;
  const out = opts.out ?? (quick ? 'reports/security/bound-quick' : 'reports/security/bound');
  const write = opts.write ?? true;
  const datasets = opts.datasets?.length ? opts.datasets : BOUND_DATASETS;
  const encoders = opts.encoders?.length ? opts.encoders : BOUND_ENCODERS;
  const noises = opts.noises?.length ? opts.noises : BOUND_NOISES;
  for (const x of datasets) if (!BOUND_DATASETS.includes(x) && !(opts.perClass)) fail('OWSD_ERR_BAD_ARGUMENT', `bound study: unknown data set ${x} (no cap; give perClass): expected ${BOUND_DATASETS.join(', ')}`);
  const cap = (x: string) => opts.perClass ?? (quick ? BOUND_QUICK_CAP : BOUND_CAPS[x]!);
  const caps = Object.fromEntries(datasets.map((x) => [x, cap(x)]));
  const cacheDir = opts.cacheDir ?? path.join(os.tmpdir(), 'owsd-bound-cache');
  const log = opts.log ?? (() => undefined);
  const file = boundResultPath(out);
  const previous: BoundStudyResult | null = !opts.fresh && write && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as BoundStudyResult) : null;
  if (previous) {
    // Rows are only ever mixed with rows of the same settings: a quick or differently capped run must not
    // silently replace (or sit beside) the committed study.
    const same = previous.format === BOUND_FORMAT && previous.seed === seed && previous.quick === quick && previous.components.join() === BOUND_COMPONENTS.join() && previous.ks.join() === BOUND_KS.join();
    const capClash = datasets.filter((x) => previous.caps[x] !== undefined && previous.caps[x] !== caps[x]);
    if (!same || capClash.length > 0) {
      fail('OWSD_ERR_BAD_ARGUMENT', `${file} holds results of other settings (${!same ? 'seed, quick, PCA sizes or k' : `images per class of ${capClash.join(', ')}`}): give another --out, or --fresh to replace them`);
    }
  }
  const kept = previous?.rows ?? [];
  const before = kept.length > 0 ? previous : null;
  const ctx = new ExperimentContext({ modelsDir: opts.modelsDir, dataDir: opts.dataDir, log, maxScramblers: 1 });
  const result: BoundStudyResult = {
    format: BOUND_FORMAT,
    quick,
    machine: machineInfo(),
    load: { start: os.loadavg()[0]!, end: 0, cores: os.availableParallelism() },
    seed,
    noises: [...new Set([...(before?.noises ?? []), ...noises])].sort((a, b) => a - b),
    ks: BOUND_KS,
    components: BOUND_COMPONENTS,
    caps: { ...before?.caps, ...caps },
    pixelSettings: before?.pixelSettings ?? null,
    started: before?.started ?? started.toISOString(),
    seconds: 0,
    encodeSeconds: { ...before?.encodeSeconds },
    rows: [...kept],
    pixel: before?.pixel ?? [],
  };
  const save = () => {
    result.seconds = (performance.now() - t0) / 1000 + (before?.seconds ?? 0);
    result.load.end = os.loadavg()[0]!;
    if (!write) return;
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
    fs.writeFileSync(path.join(out, 'results.md'), renderBoundTable(result));
  };
  try {
    for (const dataset of datasets) {
      for (const encoder of encoders) {
        const todo = noises.filter((nz) => !result.rows.some((r) => r.dataset === dataset && r.encoder === encoder && r.noise === nz));
        if (todo.length === 0) continue;
        ctx.log(`${dataset} x ${encoder}: noises ${todo.join(', ')}`);
        const emb = await embed(ctx, dataset, encoder, cap(dataset), seed, cacheDir, result.encodeSeconds);
        for (const noise of todo) {
          const row = await boundRow(dataset, encoder, emb, noise, seed);
          result.rows.push(row);
          ctx.log(
            `  ${noise}x: ${row.label.map((l) => `k=${l.k} ${(l.accuracy * 100).toFixed(1)}%`).join(', ')}; public means ${(row.publicMeans.accuracy * 100).toFixed(1)}%; re-id ${(row.reidentification.top1 * 100).toFixed(0)}% (chance ${(row.chance * 100).toFixed(1)}%, ${row.seconds.toFixed(0)} s)`,
          );
        }
        save();
      }
    }
    if ((opts.pixel ?? true) && result.pixel.length === 0 && datasets.includes(BOUND_PIXEL.dataset) && encoders.includes(BOUND_PIXEL.encoder)) {
      ctx.log(`pixel attacker on ${BOUND_PIXEL.dataset} with ${BOUND_PIXEL.encoder}`);
      const perClass = quick ? BOUND_QUICK_CAP : BOUND_PIXEL.perClass;
      result.pixel = await pixelRows(ctx, { seed, cacheDir, perClass, noises: BOUND_PIXEL.noises, encodeSeconds: result.encodeSeconds });
      result.pixelSettings = { ...BOUND_PIXEL, perClass } as typeof BOUND_PIXEL;
    }
    save();
  } finally {
    await ctx.close();
  }
  return result;
}

const fmt = (x: number | undefined) => (x === undefined ? '–' : `${(x * 100).toFixed(1)}`);

/** The results as a markdown table: one row per data set x encoder x noise. */
export function renderBoundTable(r: BoundStudyResult): string {
  const lines = [
    '# The any-inverter bound',
    '',
    `Label inference on the generator's input z = e + σ·rms(e)·n (what a perfect inverter of the scrambler sees), % of the scored submissions labelled correctly; best of shrinkage LDA, nearest mean, whitened nearest mean, logistic regression, kNN and self-training on PCA (${r.components.join(' or ')} components) of all the traffic. k: labelled submissions per class. Public: no leak, class means of clean embeddings of a disjoint half (public images). Re-id: which of 100 candidates was sent (chance 1%). Written by \`owsd analyze bound\` (src/experiments/bound.ts); seed ${r.seed}${r.quick ? ', QUICK run' : ''}.`,
    '',
    `Machine: ${r.machine.cpu}, ${r.load.cores} cores, load ${r.load.start.toFixed(1)} at the start and ${r.load.end.toFixed(1)} at the end; ${r.machine.node}, onnxruntime ${r.machine.onnxruntime}. Started ${r.started}, ${(r.seconds / 60).toFixed(1)} min. Images per class: ${Object.entries(r.caps).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    '| data set | encoder | classes | images | chance % | noise | k=1 | k=5 | k=20 | k=100 | public means | re-id top-1 |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const order = (a: BoundRow, b: BoundRow) => BOUND_DATASETS.indexOf(a.dataset) - BOUND_DATASETS.indexOf(b.dataset) || BOUND_ENCODERS.indexOf(a.encoder) - BOUND_ENCODERS.indexOf(b.encoder) || a.noise - b.noise;
  for (const row of [...r.rows].sort(order)) {
    const at = (k: number) => fmt(row.label.find((l) => l.k === k)?.accuracy);
    lines.push(`| ${row.dataset} | ${row.encoder} | ${row.classes} | ${row.images} | ${fmt(row.chance)} | ${row.noise}x | ${at(1)} | ${at(5)} | ${at(20)} | ${at(100)} | ${fmt(row.publicMeans.accuracy)} | ${fmt(row.reidentification.top1)} |`);
  }
  if (r.pixel.length) {
    lines.push('', '## The pixel attacker beside the bound', '');
    lines.push(`${r.pixel[0]!.dataset} with ${r.pixel[0]!.encoder}, ${r.pixel[0]!.images} images really scrambled (${r.pixel[0]!.imageSize} px, experiment key k0): 4x4-pooled pixels (64 x 64 x 3), standardized, PCA (${r.pixel[0]!.components} components) on all the traffic, whitened, nearest class mean of the k leaks; the bound on the same generator inputs beside it.`, '');
    lines.push('| noise | k | pixel attacker % | any-inverter bound % |', '|---:|---:|---:|---:|');
    for (const p of r.pixel) for (const x of p.pixel) lines.push(`| ${p.noise}x | ${x.k} | ${fmt(x.accuracy)} | ${fmt(p.bound.find((b) => b.k === x.k)?.accuracy)} |`);
  }
  return `${lines.join('\n')}\n`;
}
