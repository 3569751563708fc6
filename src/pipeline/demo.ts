/**
 * The demo, the README's main job: start the embedded cloud, fit on Imagenette (10 labels, 50 images per label,
 * 70/30 split: the paper's use-case 2), evaluate on the held-out 30%, and report accuracy beside the baselines
 * that say whether the cloud added anything.
 *
 * The demo's key is derived from the seed (so anyone can re-run it and get the same numbers): it is a
 * demonstration key, not a secret. Real keys come from `owsd key new`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';
import { settings } from '../settings.js';
import { createKey, DEFAULT_IMAGE_SIZE, readKeyFile, writeKeyFile } from '../key/keyfile.js';
import { startCloudServer, type RunningCloud } from '../cloud/server/start.js';
import { fit, type FitResult } from './fit.js';
import { evaluate, type EvalReport } from './evaluate.js';
import type { IinEpochRecord } from '../iin/index.js';
import type { FeatureSet, ProgressFn } from './features.js';

export interface DemoOptions {
  modelsDir?: string;
  dataDir?: string;
  cloudModel?: string;
  encoders?: string[];
  labels?: number;
  perLabel?: number;
  testFraction?: number;
  seed?: number;
  imageSize?: number;
  /** Working folder (key, bundle, journal); default a fresh temp folder. */
  workDir?: string;
  /** An embedded cloud already running (hosting `cloudModel`), left running afterwards; default: one started and stopped here. */
  cloud?: RunningCloud;
  onProgress?: ProgressFn;
  onEpoch?: (which: FeatureSet, e: IinEpochRecord) => void;
}

export interface DemoReport {
  settings: Required<Omit<DemoOptions, 'onProgress' | 'onEpoch' | 'workDir' | 'cloud'>> & { workDir: string; dataset: string; keyId: string; cloudUrl: string };
  /** The fitted bundle and the demo key's file (what `owsd serve` needs). */
  bundleDir: string;
  keyFile: string;
  fit: Omit<FitResult, 'bundle'>;
  eval: EvalReport;
  seconds: number;
}

export function demoSecret(seed: number): Uint8Array {
  return crypto.createHash('sha256').update(`owsd demo key, seed ${seed}`).digest();
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const t0 = performance.now();
  const modelsDir = opts.modelsDir ?? settings.modelsDir;
  const dataDir = opts.dataDir ?? settings.dataDir;
  if (!modelsDir) return fail('OWSD_ERR_BAD_ARGUMENT', 'the demo needs the models: set OWSD_MODELS (or --models) to the folder holding models.json, e.g. ../shared/models');
  if (!dataDir) return fail('OWSD_ERR_BAD_ARGUMENT', 'the demo needs the data: set OWSD_DATA (or --data) to the folder holding imagenette-val, e.g. ../shared/data');
  const dataset = path.join(dataDir, 'imagenette-val');
  if (!fs.existsSync(dataset)) return fail('OWSD_ERR_DATASET', `the demo's dataset ${dataset} does not exist`);
  const s = {
    modelsDir,
    dataDir,
    cloudModel: opts.cloudModel ?? 'shufflenet-v2-12-qdq',
    encoders: opts.encoders ?? ['mobilenetv2-12-int8'],
    labels: opts.labels ?? 10,
    perLabel: opts.perLabel ?? 50,
    testFraction: opts.testFraction ?? 0.3,
    seed: opts.seed ?? 0,
    imageSize: opts.imageSize ?? DEFAULT_IMAGE_SIZE,
  };
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-demo-'));
  fs.mkdirSync(workDir, { recursive: true });
  const keyFile = path.join(workDir, `demo-seed${s.seed}-${s.imageSize}.key`);
  if (!fs.existsSync(keyFile)) writeKeyFile(keyFile, createKey({ secret: demoSecret(s.seed), imageSize: s.imageSize, budget: 100_000 }));
  // The demo's key and its noise are derived from the seed, so anyone gets the same numbers: not secrets.
  const noiseSeed = `owsd demo, seed ${s.seed}`;
  const key = readKeyFile(keyFile);
  const cloud = opts.cloud ?? (await startCloudServer({ model: s.cloudModel, modelsDir, port: 0, host: '127.0.0.1', logger: false }));
  try {
    const cloudSettings = { url: cloud.url, modelName: s.cloudModel };
    const data = { path: dataset, labels: s.labels, perLabel: s.perLabel, testFraction: s.testFraction, seed: s.seed };
    const bundleDir = path.join(workDir, 'demo.bundle');
    const fitted = await fit({ keys: [key], encoders: s.encoders, cloud: cloudSettings, data, out: bundleDir, cloudId: `embedded ${s.cloudModel}`, modelsDir, noiseSeed, onProgress: opts.onProgress, onEpoch: opts.onEpoch });
    const report = await evaluate({ bundle: fitted.bundle, keys: [key], modelsDir, plaintextReference: true, noiseSeed, onProgress: opts.onProgress });
    const { bundle: _bundle, ...fitSummary } = fitted;
    return {
      settings: { ...s, workDir, dataset, keyId: key.id, cloudUrl: cloud.url },
      fit: fitSummary,
      eval: report,
      bundleDir,
      keyFile,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    if (!opts.cloud) await cloud.close();
  }
}
