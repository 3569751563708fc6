/** Choosing the samples a fit or eval uses, reproducibly (seeded label choice, per-label sampling, split). */
import path from 'node:path';
import { loadDataset } from '../data/detect.js';
import { prepareDataset } from '../data/split.js';
import type { Dataset, Sample } from '../types.js';
import { screenImages, type BadImagePolicy, type SkippedImage } from './screen.js';

export interface DataSelection {
  path: string;
  labels?: number;
  perLabel?: number;
  /** Share of each label held out for eval (0: train on everything). */
  testFraction: number;
  seed: number;
  /** Unreadable images: 'error' (the default) stops with an error naming the file; 'skip' leaves them out, listed. */
  badImages?: BadImagePolicy;
}

export interface SelectedData {
  dataset: Dataset;
  train: Sample[];
  test: Sample[];
  selection: DataSelection;
  /** With badImages 'skip': the images left out of train and of test, with the reason. */
  skipped: { train: SkippedImage[]; test: SkippedImage[] };
}

export async function selectData(sel: DataSelection): Promise<SelectedData> {
  const ds = await loadDataset(sel.path);
  const prepared = prepareDataset(ds, {
    labels: sel.labels,
    perLabel: sel.perLabel,
    testFraction: sel.testFraction > 0 ? sel.testFraction : undefined,
    seed: sel.seed,
  });
  let train = prepared.split?.train ?? prepared.dataset.samples;
  let test = prepared.split?.test ?? [];
  const skipped = { train: [] as SkippedImage[], test: [] as SkippedImage[] };
  if (sel.badImages === 'skip') {
    // Screened after the split, so the split (and the bundle's record of it) is the same whatever is unreadable.
    const a = await screenImages(train);
    const b = await screenImages(test);
    train = a.ok;
    test = b.ok;
    skipped.train = a.skipped;
    skipped.test = b.skipped;
  }
  return { dataset: prepared.dataset, train, test, selection: { ...sel, path: path.resolve(sel.path) }, skipped };
}
