/**
 * A bundle: everything `predict` and `eval` need except the key's secret. A folder holding `bundle.json`
 * (settings, seeds, encoders, the cloud, labels, the three IINs: with the cloud, embedding alone, cloud alone)
 * and `iin.onnx` (the main IIN as a standard ONNX model). Keys are named by id only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import type { CloudProtocol, KServeWire } from '../cloud/client.js';
import { exportIinOnnx, iinWeightsFromJson, iinWeightsToJson, type IinConfig, type IinWeights, type IinEpochRecord } from '../iin/index.js';
import type { FeatureSet } from './features.js';
import { writeFileAtomic } from '../key/files.js';
import type { TrafficBound } from './bound.js';

export const BUNDLE_FORMAT = 'owsd-bundle/1';

export interface BundleIin {
  inputs: FeatureSet;
  config: IinConfig;
  weights: IinWeights;
  history: IinEpochRecord[];
  bestEpoch: number;
  /** Validation accuracy at the best epoch. */
  validationAccuracy: number | null;
}

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  created: string;
  keyIds: string[];
  imageSize: number;
  encoders: Array<{ name: string; sha256?: string; dim: number; tensor: string }>;
  /** `wire`: the KServe wire fit used, when it was not the default JSON (predict, eval, serve and rotate use it too). */
  cloud: { url: string; protocol: CloudProtocol; modelName: string; numClasses: number; wire?: KServeWire };
  classes: string[];
  classNames: string[];
  features: { embeddingDim: number; cloudDim: number; keys: number };
  /** How the training data was chosen, so eval can take the held-out part. */
  data: { path: string; format: string; labels?: number; perLabel?: number; testFraction: number; seed: number; train: number; test: number; badImages?: 'error' | 'skip'; skipped?: number };
  /**
   * The training images by reference (sample ids inside `data.path`, and their label ids), so that a key
   * rotation can re-scramble exactly the same set and refit (absent in bundles written before it was kept).
   */
  training?: { ids: string[]; labels: string[] };
  fit: { submissionsSent: number; seconds: number };
  /**
   * The any-inverter bound fit measured on this training set at the first key's noise (src/pipeline/bound.ts;
   * null when it could not be measured). Absent in bundles written before fit stored it; a rotation's refit
   * stores its own run's. The gateway's status and key page show it.
   */
  bound?: TrafficBound | null;
  iins: Record<FeatureSet, BundleIin>;
}

type StoredIin = Omit<BundleIin, 'weights'> & { weights: unknown };

export function writeBundle(dir: string, bundle: Bundle): void {
  fs.mkdirSync(dir, { recursive: true });
  const stored = {
    ...bundle,
    iins: Object.fromEntries(Object.entries(bundle.iins).map(([k, v]) => [k, { ...v, weights: iinWeightsToJson(v.weights) }])),
  };
  // Exclusive temp files with unpredictable names, fsynced and renamed: a planted symlink is never followed.
  writeFileAtomic(path.join(dir, 'iin.onnx'), exportIinOnnx(bundle.iins.both.weights), { code: 'OWSD_ERR_BUNDLE' });
  writeFileAtomic(path.join(dir, 'bundle.json'), JSON.stringify(stored), { code: 'OWSD_ERR_BUNDLE' });
}

export function readBundle(dir: string): Bundle {
  const file = fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? path.join(dir, 'bundle.json') : dir;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : 'not valid JSON';
    return fail('OWSD_ERR_BUNDLE', `bundle ${file}: ${why} (expected the folder written by owsd fit)`);
  }
  if (json.format !== BUNDLE_FORMAT) return fail('OWSD_ERR_BUNDLE', `bundle ${file}: expected format "${BUNDLE_FORMAT}", got ${JSON.stringify(json.format)}`);
  const iins = json.iins as Record<FeatureSet, StoredIin> | undefined;
  if (!iins?.both) return fail('OWSD_ERR_BUNDLE', `bundle ${file}: has no trained IIN`);
  const parsed = Object.fromEntries(
    Object.entries(iins).map(([k, v]) => [k, { ...v, weights: iinWeightsFromJson(v.weights, `bundle ${file}: iins.${k}.weights`) }]),
  ) as Record<FeatureSet, BundleIin>;
  return { ...(json as unknown as Bundle), iins: parsed };
}
