/**
 * Seeded subsets and splits of a dataset: keep K of its labels, keep at most N samples per label, split each
 * label into train and test in a given proportion. Every result depends only on the input and the seed; sample
 * order within a result is the input order (shuffle afterwards if needed). Inputs are never modified.
 */
import { fail } from '../errors.js';
import { createRng, deriveSeed, shuffle, type Rng } from '../internal/random.js';
import type { Dataset, Sample } from '../types.js';

/** A label that has fewer samples than were asked for. */
export interface ShortLabel {
  label: number;
  class: string;
  name: string;
  available: number;
}

/** Sample indices grouped by label, for labels 0..numLabels-1 (input order inside each group). */
function indicesByLabel(samples: Sample[], numLabels?: number): number[][] {
  const n = numLabels ?? samples.reduce((m, s) => Math.max(m, s.label + 1), 0);
  const groups: number[][] = Array.from({ length: n }, () => []);
  samples.forEach((s, i) => {
    if (!Number.isInteger(s.label) || s.label < 0 || s.label >= n) {
      fail('OWSD_ERR_DATASET', `sample ${s.id} has label ${s.label}, expected 0..${n - 1}`);
    }
    groups[s.label].push(i);
  });
  return groups;
}

function checkCount(value: number, what: string, max?: number): void {
  if (!Number.isInteger(value) || value < 1 || (max !== undefined && value > max)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `${what} must be an integer from 1${max !== undefined ? ` to ${max}` : ''}, got ${value}`);
  }
}

/**
 * Keep `k` labels chosen at random among those that have samples; the others and their samples are dropped.
 * Kept labels stay in their original relative order and are renumbered 0..k-1.
 */
export function selectLabels(ds: Dataset, k: number, rng: Rng): Dataset {
  const groups = indicesByLabel(ds.samples, ds.classes.length);
  const candidates = groups.map((g, label) => (g.length > 0 ? label : -1)).filter((l) => l >= 0);
  checkCount(k, `number of labels (${candidates.length} of ${ds.classes.length} labels of ${ds.root} have samples)`, candidates.length);
  const chosen = shuffle(candidates.slice(), rng).slice(0, k).sort((a, b) => a - b);
  const newIndex = new Map(chosen.map((old, i) => [old, i]));
  const samples: Sample[] = [];
  for (const s of ds.samples) {
    const label = newIndex.get(s.label);
    if (label !== undefined) samples.push({ ...s, label });
  }
  return {
    ...ds,
    classes: chosen.map((l) => ds.classes[l]),
    classNames: chosen.map((l) => ds.classNames[l]),
    samples,
  };
}

/**
 * Keep at most `n` samples of each label, chosen at random. Labels with fewer keep all they have and are listed
 * in `shortLabels` (labels with none included).
 */
export function samplePerLabel(ds: Dataset, n: number, rng: Rng): { dataset: Dataset; shortLabels: ShortLabel[] } {
  checkCount(n, 'samples per label');
  const groups = indicesByLabel(ds.samples, ds.classes.length);
  const keep = new Uint8Array(ds.samples.length);
  const shortLabels: ShortLabel[] = [];
  groups.forEach((g, label) => {
    if (g.length < n) shortLabels.push({ label, class: ds.classes[label], name: ds.classNames[label], available: g.length });
    const picked = g.length > n ? shuffle(g.slice(), rng).slice(0, n) : g;
    for (const i of picked) keep[i] = 1;
  });
  return { dataset: { ...ds, samples: ds.samples.filter((_, i) => keep[i] === 1) }, shortLabels };
}

/**
 * Split samples into train and test, label by label: round(count * testFraction) of each label go to test, but
 * at least one on each side when a label has two or more samples. A label with a single sample goes to train.
 */
export function stratifiedSplit(samples: Sample[], testFraction: number, rng: Rng): { train: Sample[]; test: Sample[] } {
  if (!(testFraction > 0 && testFraction < 1)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `test fraction must be strictly between 0 and 1, got ${testFraction}`);
  }
  const isTest = new Uint8Array(samples.length);
  for (const g of indicesByLabel(samples)) {
    if (g.length < 2) continue;
    const nTest = Math.min(g.length - 1, Math.max(1, Math.round(g.length * testFraction)));
    for (const i of shuffle(g.slice(), rng).slice(0, nTest)) isTest[i] = 1;
  }
  return {
    train: samples.filter((_, i) => isTest[i] === 0),
    test: samples.filter((_, i) => isTest[i] === 1),
  };
}

export interface PrepareOptions {
  /** Keep this many labels (seeded choice). */
  labels?: number;
  /** Keep at most this many samples per label (seeded choice). */
  perLabel?: number;
  /** Also split into train/test with this fraction of each label in test. */
  testFraction?: number;
  seed: number;
}

export interface Prepared {
  dataset: Dataset;
  shortLabels: ShortLabel[];
  /** Present when `testFraction` was given. */
  split?: { train: Sample[]; test: Sample[] };
}

/**
 * selectLabels, then samplePerLabel, then stratifiedSplit, each with its own stream derived from the seed, so
 * changing `perLabel` does not change which labels are chosen.
 */
export function prepareDataset(ds: Dataset, options: PrepareOptions): Prepared {
  const { seed } = options;
  let dataset = options.labels !== undefined ? selectLabels(ds, options.labels, createRng(deriveSeed(seed, 'labels'))) : ds;
  let shortLabels: ShortLabel[] = [];
  if (options.perLabel !== undefined) {
    ({ dataset, shortLabels } = samplePerLabel(dataset, options.perLabel, createRng(deriveSeed(seed, 'per-label'))));
  }
  const split = options.testFraction !== undefined
    ? stratifiedSplit(dataset.samples, options.testFraction, createRng(deriveSeed(seed, 'split')))
    : undefined;
  return split ? { dataset, shortLabels, split } : { dataset, shortLabels };
}
