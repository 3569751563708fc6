/** Choosing the samples a fit or eval uses, reproducibly (seeded label choice, per-label sampling, split). */
import path from 'node:path';
import { loadDataset } from '../data/detect.js';
import { prepareDataset } from '../data/split.js';
import type { Dataset, Sample } from '../types.js';

export interface DataSelection {
  path: string;
  labels?: number;
  perLabel?: number;
  /** Share of each label held out for eval (0: train on everything). */
  testFraction: number;
  seed: number;
}

export interface SelectedData {
  dataset: Dataset;
  train: Sample[];
  test: Sample[];
  selection: DataSelection;
}

export async function selectData(sel: DataSelection): Promise<SelectedData> {
  const ds = await loadDataset(sel.path);
  const prepared = prepareDataset(ds, {
    labels: sel.labels,
    perLabel: sel.perLabel,
    testFraction: sel.testFraction > 0 ? sel.testFraction : undefined,
    seed: sel.seed,
  });
  const train = prepared.split?.train ?? prepared.dataset.samples;
  const test = prepared.split?.test ?? [];
  return { dataset: prepared.dataset, train, test, selection: { ...sel, path: path.resolve(sel.path) } };
}
