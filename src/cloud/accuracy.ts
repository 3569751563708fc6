/**
 * PLAINTEXT accuracy of a cloud classifier: a test harness for the cloud itself (is the server we stand up, or
 * a remote one, a good classifier on ordinary images?). It sends unscrambled dataset images to the cloud, which
 * owsd's pipeline never does; that is why it does not use a `CloudClient` (which refuses anything but
 * `ScrambledImage`s) but a separate `PlaintextCloudProbe` speaking the same KServe V2 protocol over the same
 * transport. Never point it at a cloud that must not see your images.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, fail } from '../errors.js';
import { imageName, type ImageInput, type Sample } from '../types.js';
import type { KServeClientOptions } from './client.js';
import { base64Of, httpOptionsOf, Limiter, trimUrl } from './clients/base.js';
import { kserveInfer, kserveModelUrl } from './clients/kserve.js';
import { requestJson, type HttpOptions } from './clients/http.js';
import type { ModelMetadataResponse } from './protocol.js';

/** Bytes to send for an image: files and encoded images as they are, raw pixels as a (lossless) PNG. */
export async function encodeForSending(img: ImageInput): Promise<Uint8Array> {
  try {
    if (img.kind === 'file') return new Uint8Array(await readFile(img.path));
    if (img.kind === 'encoded') return img.bytes;
    const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } }).png({ compressionLevel: 1 }).toBuffer();
    return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
  } catch (e) {
    return fail('OWSD_ERR_IMAGE', `${imageName(img)}: cannot read or encode image: ${describe(e)}`, e);
  }
}

/**
 * Sends PLAINTEXT images to a KServe V2 cloud (test harness only; see the module doc). Batches, concurrency limit,
 * timeouts and retries as the KServe CloudClient.
 */
export class PlaintextCloudProbe {
  readonly url: string;
  readonly modelUrl: string;
  private readonly http: HttpOptions;
  private readonly limiter: Limiter;
  private readonly maxBatch: number;

  constructor(private readonly opts: KServeClientOptions) {
    this.url = trimUrl(opts.url);
    this.modelUrl = kserveModelUrl(this.url, opts.modelName, opts.modelVersion);
    this.http = httpOptionsOf(opts);
    this.limiter = new Limiter(opts.concurrency ?? 4);
    this.maxBatch = opts.maxBatch ?? 16;
  }

  async metadata(): Promise<ModelMetadataResponse> {
    return (await requestJson(this.modelUrl, { method: 'GET' }, this.http)).body as ModelMetadataResponse;
  }

  /** Class probabilities of plaintext images (encoded bytes), one vector per image. */
  async classifyPlaintext(encoded: Uint8Array[]): Promise<Float32Array[]> {
    const batches: string[][] = [];
    for (let i = 0; i < encoded.length; i += this.maxBatch) batches.push(encoded.slice(i, i + this.maxBatch).map(base64Of));
    const out = await Promise.all(
      batches.map((b) => this.limiter.run(() => kserveInfer(this.modelUrl, b, { http: this.http, inputName: this.opts.inputName, outputName: this.opts.outputName, numClasses: this.opts.numClasses }))),
    );
    return out.flat();
  }

  /** Plaintext probabilities of samples, read, encoded and sent `chunk` at a time, yielded in order. */
  async *classifySamples(samples: Sample[], chunk = 128): AsyncGenerator<{ start: number; vectors: Float32Array[] }> {
    for (let start = 0; start < samples.length; start += chunk) {
      const encoded = await Promise.all(samples.slice(start, start + chunk).map((s) => encodeForSending(s.image)));
      yield { start, vectors: await this.classifyPlaintext(encoded) };
    }
  }
}

export function createPlaintextCloudProbe(opts: KServeClientOptions): PlaintextCloudProbe {
  return new PlaintextCloudProbe(opts);
}

const fold = (s: string): string => s.toLowerCase().replace(/[\s_-]+/g, ' ').trim();

/**
 * Dataset class index → model class index (-1 where the model does not know the class): label ids equal
 * (ImageNet wnids, CIFAR names), else equal after folding case, `_` and `-`; then dataset class names likewise.
 */
export function buildLabelMap(datasetClasses: string[], modelLabelIds: string[], datasetClassNames?: string[]): number[] {
  const exact = new Map<string, number>();
  const folded = new Map<string, number>();
  modelLabelIds.forEach((id, i) => {
    if (!exact.has(id)) exact.set(id, i);
    if (!folded.has(fold(id))) folded.set(fold(id), i);
  });
  return datasetClasses.map((c, k) => {
    const name = datasetClassNames?.[k];
    return exact.get(c) ?? folded.get(fold(c)) ?? (name !== undefined ? (exact.get(name) ?? folded.get(fold(name))) : undefined) ?? -1;
  });
}

export interface PlaintextAccuracy {
  /** Samples sent and scored (their class is known to the model). */
  evaluated: number;
  /** Samples left out because the model does not know their class. */
  skipped: number;
  /** Share of evaluated images whose class is strictly in the top 1 / top 5 (a tie at the boundary is a miss). */
  accuracy: { top1: number; top5: number };
  /** Images counted in `accuracy`. */
  correct: { top1: number; top5: number };
  /**
   * Images whose class ties with other classes at the boundary (same score; common with int8 models): counted as
   * misses above, and hits in `accuracyTiesAsHits`.
   */
  ties: { top1: number; top5: number };
  /** The accuracy if every tie counted as a hit: the two bracket what a tie-breaking rule could give. */
  accuracyTiesAsHits: { top1: number; top5: number };
  seconds: number;
  imagesPerSecond: number;
}

export interface PlaintextAccuracyOptions {
  probe: PlaintextCloudProbe;
  samples: Sample[];
  /** Dataset label → model class index, -1 when unknown (buildLabelMap). */
  labelMap: number[];
  /** Images encoded and sent per round (default 128). */
  chunk?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Rank of `target` in `v` (0 = highest); ties count against the target. */
export function rankOf(v: Float32Array, target: number): number {
  const t = v[target]!;
  let rank = 0;
  for (let i = 0; i < v.length; i++) if (i !== target && v[i]! >= t) rank++;
  return rank;
}

/** Classes scored strictly above `target`: its rank when ties are broken in its favour. */
export function rankOfTiesFirst(v: Float32Array, target: number): number {
  const t = v[target]!;
  let rank = 0;
  for (let i = 0; i < v.length; i++) if (v[i]! > t) rank++;
  return rank;
}

/** Top-1 / top-5 of the cloud on PLAINTEXT samples (test harness for the cloud; see the module doc). */
export async function measurePlaintextCloudAccuracy(opts: PlaintextAccuracyOptions): Promise<PlaintextAccuracy> {
  const t0 = performance.now();
  const known = opts.samples.filter((s) => (opts.labelMap[s.label] ?? -1) >= 0);
  const skipped = opts.samples.length - known.length;
  let correct1 = 0;
  let correct5 = 0;
  let ties1 = 0;
  let ties5 = 0;
  for await (const { start, vectors } of opts.probe.classifySamples(known, opts.chunk)) {
    vectors.forEach((v, i) => {
      const target = opts.labelMap[known[start + i]!.label]!;
      if (target >= v.length) fail('OWSD_ERR_CLOUD_RESPONSE', `the cloud answers ${v.length} classes, but the label map points at class ${target}`);
      const r = rankOf(v, target);
      const best = rankOfTiesFirst(v, target);
      if (r === 0) correct1++;
      else if (best === 0) ties1++;
      if (r < 5) correct5++;
      else if (best < 5) ties5++;
    });
    opts.onProgress?.(start + vectors.length, known.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  const n = known.length;
  return {
    evaluated: n,
    skipped,
    accuracy: { top1: n ? correct1 / n : 0, top5: n ? correct5 / n : 0 },
    correct: { top1: correct1, top5: correct5 },
    ties: { top1: ties1, top5: ties5 },
    accuracyTiesAsHits: { top1: n ? (correct1 + ties1) / n : 0, top5: n ? (correct5 + ties5) / n : 0 },
    seconds,
    imagesPerSecond: seconds > 0 ? n / seconds : 0,
  };
}

/** `limit` samples spread evenly over the dataset (datasets like CIFAR are ordered by class), deterministic. */
export function spreadSample<T>(items: T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= items.length) return items;
  const out: T[] = [];
  for (let i = 0; i < limit; i++) out.push(items[Math.floor((i * items.length) / limit)]!);
  return out;
}
