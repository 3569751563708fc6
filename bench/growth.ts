/**
 * Growth: time and peak memory (max RSS of a fresh child process per point, so points do not share a heap)
 * against batch size, image size, number of labels and training-set size.
 *
 * - batch size: the client overhead (MobileNetV2 + generator 256 + PNG) at batch 1, 8, 32, 128
 * - image size: generator + PNG at 32, 64, 128, 256 px, batch 32
 * - labels: IIN training, 5,000 samples of 1280 + 1000 features, 10 epochs, 10 to 1000 labels
 * - training-set size: the whole `fit` (encoder → generator → PNG → cloud → three IINs) over 1,000 to 10,000
 *   CIFAR-10 images, with the cifar10-resnet20 cloud in another process on loopback; the child's peak RSS is what
 *   the organization's machine needs. Target: under 2 GB at 10,000 images, and flat in the number of images
 *   (images are read lazily and streamed in batches; only the embeddings and cloud vectors are kept).
 *
 *   npm run build && node dist/bench/growth.js [--quick]        (--quick: the smallest points only)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKey, Encoder, resolveModel, Scrambler, loadDataset, trainIin, fit, writeKeyFile, readKeyFile } from '../src/index.js';
import { createRng } from '../src/internal/random.js';
import { dataDir, modelsDir } from '../test/helpers.js';
import { isMain, peakRssMb, printTable, rate, saveResult, startCloudProcess } from './lib.js';

const FIT_ENCODER = 'cifar100-mobilenetv3-small-128';
const FIT_CLOUD = 'cifar10-resnet20';

type Point = { kind: string; value: number; seconds?: number; perItemMs?: number; itemsPerSecond?: number; peakRssMb: number; detail?: Record<string, unknown> };

async function child(kind: string, value: number, cloudUrl?: string): Promise<Point> {
  const secret = new Uint8Array(32).fill(9);
  if (kind === 'batch' || kind === 'image-size') {
    const ds = await loadDataset(`${dataDir}/imagenette-val`);
    const b = kind === 'batch' ? value : 32;
    const size = kind === 'image-size' ? value : 256;
    const images = ds.samples.slice(0, b).map((s) => s.image);
    const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
    const s = await Scrambler.create(createKey({ secret, imageSize: size }), enc.dim);
    let r: number;
    if (kind === 'batch') r = await rate(b, async () => s.scramble(await enc.encode(images), b), 2);
    else {
      const emb = await enc.encode(images);
      r = await rate(b, () => s.scramble(emb, b), 2);
    }
    return { kind, value, itemsPerSecond: +r.toFixed(1), perItemMs: +(1000 / r).toFixed(2), peakRssMb: peakRssMb() };
  }
  if (kind === 'labels') {
    const n = 5000;
    const D = 2280;
    const rng = createRng(value);
    const x = Float32Array.from({ length: n * D }, () => rng.next());
    const y = Int32Array.from({ length: n }, (_, i) => i % value);
    const t0 = performance.now();
    await trainIin(x, y, { inputDim: D, numClasses: value, config: { epochs: 10, earlyStopping: false } });
    const seconds = (performance.now() - t0) / 1000;
    return { kind, value, seconds: +seconds.toFixed(2), perItemMs: +((seconds * 1000) / (n * 10)).toFixed(4), peakRssMb: peakRssMb() };
  }
  if (kind === 'fit') {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-growth-'));
    const keyFile = path.join(work, 'k.key');
    writeKeyFile(keyFile, createKey({ secret, imageSize: 32, budget: 1_000_000 }));
    const t0 = performance.now();
    const r = await fit({
      keys: [readKeyFile(keyFile)],
      encoders: [FIT_ENCODER],
      cloud: { url: cloudUrl!, modelName: FIT_CLOUD },
      data: { path: path.join(dataDir, 'cifar-10'), perLabel: value / 10, testFraction: 0, seed: 0 },
      out: path.join(work, 'b.bundle'),
      modelsDir,
    });
    const seconds = (performance.now() - t0) / 1000;
    fs.rmSync(work, { recursive: true, force: true });
    return {
      kind,
      value,
      seconds: +seconds.toFixed(1),
      perItemMs: +((seconds * 1000) / value).toFixed(2),
      peakRssMb: peakRssMb(),
      detail: { trainSamples: r.trainSamples, submissionsSent: r.submissionsSent, validation: r.validation },
    };
  }
  throw new Error(`unknown growth point ${kind}`);
}

function runChild(kind: string, value: number, cloudUrl?: string): Point {
  const argv = [fileURLToPath(import.meta.url), '--child', kind, '--value', String(value)];
  if (cloudUrl) argv.push('--cloud', cloudUrl);
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('POINT '));
  if (r.status !== 0 || !line) throw new Error(`growth point ${kind}=${value} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(6)) as Point;
}

export async function runGrowth(quick: boolean): Promise<Record<string, unknown>> {
  const plan: Array<[string, number[]]> = [
    ['batch', quick ? [1, 8] : [1, 8, 32, 128]],
    ['image-size', quick ? [32, 64] : [32, 64, 128, 256]],
    ['labels', quick ? [10, 100] : [10, 100, 200, 1000]],
    ['fit', quick ? [200, 500] : [1000, 3000, 10000]],
  ];
  const points: Point[] = [];
  const cloud = await startCloudProcess(FIT_CLOUD);
  try {
    for (const [kind, values] of plan) {
      for (const v of values) {
        const p = runChild(kind, v, kind === 'fit' ? cloud.url : undefined);
        console.log(`  ${kind} = ${v}: ${p.seconds !== undefined ? `${p.seconds} s, ` : ''}${p.perItemMs} ms/item, peak RSS ${p.peakRssMb} MB`);
        points.push(p);
      }
    }
  } finally {
    await cloud.stop();
  }
  const label: Record<string, string> = {
    batch: 'client overhead, batch size (images/s, ms/image)',
    'image-size': 'generator + PNG, image size px, batch 32',
    labels: 'IIN training, labels (5,000 x 2,280, 10 epochs)',
    fit: `fit over N CIFAR-10 images (${FIT_ENCODER} encoder, 32 px key, ${FIT_CLOUD} cloud)`,
  };
  for (const [kind] of plan) {
    console.log(`\n${label[kind]}`);
    printTable(points.filter((p) => p.kind === kind).map((p) => ({ [kind]: p.value, seconds: p.seconds ?? '', 'ms/item': p.perItemMs, 'items/s': p.itemsPerSecond ?? '', 'peak RSS MB': p.peakRssMb })));
  }
  const fits = points.filter((p) => p.kind === 'fit');
  const last = fits[fits.length - 1]!;
  console.log(`\nfit over ${last.value} images: peak RSS ${last.peakRssMb} MB vs target 2048: ${last.peakRssMb < 2048 ? 'MET' : 'MISSED'}; ${fits[0]!.value} -> ${last.value} images: ${fits[0]!.peakRssMb} -> ${last.peakRssMb} MB`);
  const result = { points, fitEncoder: FIT_ENCODER, fitCloud: FIT_CLOUD };
  saveResult(quick ? 'growth-quick' : 'growth', result);
  return result;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { child: { type: 'string' }, value: { type: 'string' }, cloud: { type: 'string' }, quick: { type: 'boolean', default: false } } });
  if (values.child) {
    const p = await child(values.child, Number(values.value), values.cloud);
    console.log(`POINT ${JSON.stringify(p)}`);
  } else {
    await runGrowth(values.quick!);
  }
}
