/**
 * What every experiment shares in one run: the datasets, the embedded clouds (real servers on loopback), the
 * encoders, the experiment keys and their scramblers, and caches of everything computed per image, so that an
 * image encoded, scrambled and sent once is never sent again for another experiment with the same settings.
 *
 * The data path is the library's own: `collectFeatures` (encoder → scrambler(key) → PNG → KServe client over
 * HTTP → cloud vector), with each key's budget reserved in a ledger before anything is sent. Only the journal of
 * answers is in memory instead of on disk.
 *
 * Experiment keys are derived from their names (`k0`, `k1`, ...), like the demo's key, so anyone can re-run the
 * suite and get the same scrambled images: they are demonstration keys, not secrets.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';
import { Encoder } from '../encoder/encoder.js';
import { createKey, PAPER_BASE_CHANNELS, PAPER_DESIGN, type Key } from '../key/keyfile.js';
import { UsageLedger } from '../key/ledger.js';
import { Scrambler } from '../scrambler/scrambler.js';
import { resolveModel } from '../models/registry.js';
import { startCloudServer, type RunningCloud } from '../cloud/server/start.js';
import { createCloudClient, type CloudClient } from '../cloud/client.js';
import { buildLabelMap, createPlaintextCloudProbe, type PlaintextCloudProbe } from '../cloud/accuracy.js';
import { loadDataset } from '../data/detect.js';
import { prepareDataset, selectLabels } from '../data/split.js';
import { createRng, deriveSeed, hashString } from '../internal/random.js';
import { blockPlan, blockScramble } from '../scrambler/blocks.js';
import { encodePng } from '../scrambler/png.js';
import { markScrambled } from '../scrambler/scrambled.js';
import { decodeRgb } from '../image/decode.js';
import { collectFeatures, type EmbeddingSource, type Features } from '../pipeline/features.js';
import { MemoryJournal } from '../pipeline/journal.js';
import { imageName, type Dataset, type ImageInput, type Sample } from '../types.js';

/** Which images are fed through which encoders, keys and cloud. */
export interface FeatureConfig {
  /** Folder name under the data directory (e.g. `imagenette-val`). */
  dataset: string;
  encoders: string[];
  /** Model hosted by the embedded cloud. */
  cloud: string;
  /** Experiment key names (default `['k0']`). */
  keys?: string[];
  /** Scrambled image size (default 256). */
  imageSize?: number;
  /** Channels of the generator's first 4x4 feature map (default 1024, the paper's); halved at each upsampling. */
  baseChannels?: number;
  /**
   * Defence: fresh Gaussian noise added to the embedding before scrambling, per submission, with standard
   * deviation this multiple of the embedding's RMS (default 0: none). The IIN still gets the clean embedding.
   */
  embeddingNoise?: number;
  /**
   * Defence: a pool of this many keys (`k0`..), each image scrambled with ONE of them, chosen by a hash of the
   * image (`poolKeyOf`); replaces `keys`. The IIN gets that key's cloud vector.
   */
  keyPool?: number;
  /**
   * Another scrambler, for the design study only: block-wise scrambling of the image itself (src/scrambler/blocks.ts)
   * at `imageSize` px (default 224) instead of the DCGAN generator on the embedding. The IIN still gets the embedding.
   */
  blocks?: { block: number; transformBlocks?: boolean };
}

/** Index of the pool key an image is scrambled with: a hash of its name, so the same image always uses the same key. */
export function poolKeyOf(img: ImageInput, pool: number): number {
  return deriveSeed(hashString(imageName(img)), 'key-pool') % pool;
}

/** A fixed, seeded choice of images from a dataset. */
export interface Selection {
  dataset: string;
  /** Keep this many labels (seeded choice); all when absent. */
  labels?: number;
  perLabel?: number;
  /**
   * Then keep this many of the chosen labels (seeded): a nested subset, so its images are a subset of the larger
   * selection's and reuse its cloud answers.
   */
  keepLabels?: number;
  /** Seed of the choice (default 0): fixed per experiment so every repetition sees the same images. */
  seed?: number;
}

export interface ContextOptions {
  modelsDir: string;
  dataDir: string;
  /** Where ledgers go (default: a fresh temp folder). */
  workDir?: string;
  log?: (line: string) => void;
  /** Scramblers kept alive at once (each holds its key's weights: about 180 MB at 256 px). */
  maxScramblers?: number;
}

interface CloudHandle {
  server: RunningCloud;
  client: CloudClient;
  probe: PlaintextCloudProbe;
  labelIds?: string[];
}

export const KEY_BUDGET = 1_000_000;

/** The generator design of an experiment key beyond its name and image size. */
export interface KeyVariant {
  baseChannels?: number;
  /** Per-submission embedding noise (multiple of the embedding's RMS; default 0 in experiments: the paper's design). */
  embeddingNoise?: number;
}

/** An experiment key's cache name: `k0@256`, plus `/c256` for another width and `/n2` for noise. */
export function keyTag(name: string, imageSize: number, v: KeyVariant = {}): string {
  const c = v.baseChannels ?? PAPER_BASE_CHANNELS;
  const n = v.embeddingNoise ?? 0;
  return `${name}@${imageSize}${c === PAPER_BASE_CHANNELS ? '' : `/c${c}`}${n === 0 ? '' : `/n${n}`}`;
}

const variantOf = (cfg: FeatureConfig): KeyVariant => ({ baseChannels: cfg.baseChannels, embeddingNoise: cfg.embeddingNoise });

export function experimentSecret(name: string): Uint8Array {
  return crypto.createHash('sha256').update(`owsd experiment key ${name}`).digest();
}

export class ExperimentContext {
  readonly modelsDir: string;
  readonly dataDir: string;
  readonly workDir: string;
  private readonly logFn: (line: string) => void;
  private readonly started = performance.now();
  private readonly datasets = new Map<string, Promise<Dataset>>();
  private readonly clouds = new Map<string, Promise<CloudHandle>>();
  private readonly encoders = new Map<string, Promise<Encoder>>();
  private readonly embeddingCaches = new Map<string, WeakMap<ImageInput, Float32Array>>();
  private readonly journals = new Map<string, MemoryJournal>();
  private readonly plaintext = new Map<string, Map<string, Float32Array>>();
  private readonly keys = new Map<string, { key: Key; ledger: UsageLedger }>();
  private readonly scramblers = new Map<string, Promise<Scrambler>>();
  private readonly maxScramblers: number;
  /** Plaintext images sent to the embedded clouds (reference measurements only). */
  plaintextSent = 0;

  constructor(opts: ContextOptions) {
    this.modelsDir = opts.modelsDir;
    this.dataDir = opts.dataDir;
    this.workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-experiment-'));
    fs.mkdirSync(this.workDir, { recursive: true });
    this.logFn = opts.log ?? (() => undefined);
    this.maxScramblers = opts.maxScramblers ?? 3;
  }

  log(line: string): void {
    this.logFn(`[${((performance.now() - this.started) / 1000).toFixed(0).padStart(5)} s] ${line}`);
  }

  dataset(name: string): Promise<Dataset> {
    let d = this.datasets.get(name);
    if (!d) {
      const dir = path.join(this.dataDir, name);
      if (!fs.existsSync(dir)) return fail('OWSD_ERR_DATASET', `dataset ${dir} does not exist (set OWSD_DATA to the folder holding ${name})`);
      d = loadDataset(dir);
      this.datasets.set(name, d);
    }
    return d;
  }

  /** The seeded choice of images: the same for every repetition of an experiment. */
  async select(sel: Selection): Promise<Dataset> {
    const ds = await this.dataset(sel.dataset);
    const seed = sel.seed ?? 0;
    const chosen = prepareDataset(ds, { labels: sel.labels, perLabel: sel.perLabel, seed }).dataset;
    return sel.keepLabels === undefined ? chosen : selectLabels(chosen, sel.keepLabels, createRng(deriveSeed(seed, 'keep-labels')));
  }

  cloud(model: string): Promise<CloudHandle> {
    let c = this.clouds.get(model);
    if (!c) {
      c = (async () => {
        const server = await startCloudServer({ model, modelsDir: this.modelsDir, port: 0, host: '127.0.0.1', logger: false });
        const spec = await resolveModel(model, { modelsDir: this.modelsDir });
        this.log(`cloud ${model} serving at ${server.url}`);
        return {
          server,
          client: createCloudClient({ protocol: 'kserve', url: server.url, modelName: server.models[0]!.name, concurrency: 2 }),
          probe: createPlaintextCloudProbe({ url: server.url, modelName: server.models[0]!.name, concurrency: 2 }),
          labelIds: spec.labels?.ids,
        };
      })();
      this.clouds.set(model, c);
    }
    return c;
  }

  /** Dataset label → the cloud's class index (-1 where the cloud does not know the label). */
  async cloudLabelMap(model: string, ds: Dataset): Promise<number[]> {
    const ids = (await this.cloud(model)).labelIds;
    return ids ? buildLabelMap(ds.classes, ids, ds.classNames) : ds.classes.map(() => -1);
  }

  encoder(names: string[]): Promise<Encoder> {
    const id = names.join('+');
    let e = this.encoders.get(id);
    if (!e) {
      e = (async () => Encoder.create(await Promise.all(names.map((n) => resolveModel(n, { modelsDir: this.modelsDir })))))();
      this.encoders.set(id, e);
    }
    return e;
  }

  /** The encoder behind a per-image cache: each image is encoded once per encoder set in a run. */
  async embeddingSource(names: string[]): Promise<EmbeddingSource> {
    const enc = await this.encoder(names);
    const id = names.join('+');
    let cache = this.embeddingCaches.get(id);
    if (!cache) this.embeddingCaches.set(id, (cache = new WeakMap()));
    const store = cache;
    const dim = enc.dim;
    return {
      dim,
      async encode(images: ImageInput[]): Promise<Float32Array> {
        const missing = images.filter((img) => !store.has(img));
        if (missing.length > 0) {
          const e = await enc.encode(missing);
          missing.forEach((img, i) => store.set(img, e.slice(i * dim, (i + 1) * dim)));
        }
        const out = new Float32Array(images.length * dim);
        images.forEach((img, i) => out.set(store.get(img)!, i * dim));
        return out;
      },
    };
  }

  key(name: string, imageSize: number, v: KeyVariant = {}): { key: Key; ledger: UsageLedger } {
    const id = keyTag(name, imageSize, v);
    let k = this.keys.get(id);
    if (!k) {
      const key = createKey({ secret: experimentSecret(name), imageSize, budget: KEY_BUDGET, baseChannels: v.baseChannels ?? PAPER_BASE_CHANNELS, design: PAPER_DESIGN, embeddingNoise: v.embeddingNoise ?? 0 });
      k = { key, ledger: UsageLedger.open(key, path.join(this.workDir, `${id.replace(/[@/]/g, '-')}.usage.json`)) };
      this.keys.set(id, k);
    }
    return k;
  }

  /** A scrambler for a key, image size and input dimension; the least recently used ones are released. */
  async scrambler(keyName: string, imageSize: number, inputDim: number, v: KeyVariant = {}): Promise<Scrambler> {
    const tag = keyTag(keyName, imageSize, v);
    const id = `${tag}/${inputDim}`;
    let s = this.scramblers.get(id);
    if (s) {
      this.scramblers.delete(id);
      this.scramblers.set(id, s);
      return s;
    }
    while (this.scramblers.size >= this.maxScramblers) {
      const [oldest, old] = this.scramblers.entries().next().value as [string, Promise<Scrambler>];
      this.scramblers.delete(oldest);
      await (await old).release();
    }
    // Experiment keys are demonstration keys: their noise is seeded too, so runs are reproducible.
    s = Scrambler.create(this.key(keyName, imageSize, v).key, inputDim, { noiseSeed: `experiment ${id}` });
    this.scramblers.set(id, s);
    return s;
  }

  /**
   * Embeddings and cloud vectors of `samples` (in order) under a feature config. Images already sent under the
   * same config in this run come from the in-memory journal; the rest go through `collectFeatures`.
   */
  async features(cfg: FeatureConfig, samples: Sample[]): Promise<Features> {
    if (cfg.keyPool !== undefined && cfg.keyPool > 1) return this.poolFeatures(cfg, cfg.keyPool, samples);
    if (cfg.blocks) return this.blockFeatures(cfg, samples);
    const keys = cfg.keys ?? ['k0'];
    const size = cfg.imageSize ?? 256;
    const v = variantOf(cfg);
    // The embeddings go to the scrambler as they are: the key's design adds the noise.
    const source = await this.embeddingSource(cfg.encoders);
    const { client } = await this.cloud(cfg.cloud);
    const channels = [];
    for (const name of keys) {
      const jid = `${cfg.dataset}|${cfg.encoders.join('+')}|${keyTag(name, size, v)}|${cfg.cloud}`;
      let journal = this.journals.get(jid);
      if (!journal) this.journals.set(jid, (journal = new MemoryJournal()));
      channels.push({ scrambler: await this.scrambler(name, size, source.dim, v), ledger: this.key(name, size, v).ledger, journal });
    }
    const t0 = performance.now();
    const f = await collectFeatures({ samples, encoder: source, channels, client });
    if (f.sent > 0) {
      const rate = f.sent / ((performance.now() - t0) / 1000);
      this.log(`  ${cfg.dataset} via ${cfg.encoders.join('+')} → key ${keys.join('+')} @${size}px → ${cfg.cloud}: ${f.sent} scrambled images sent (${rate.toFixed(0)}/s), ${samples.length * keys.length - f.sent} reused`);
    }
    return f;
  }

  /** Block-scrambled images of the samples (in order), exactly as sent. */
  async blockScrambled(cfg: FeatureConfig, samples: Sample[]): Promise<Uint8Array[]> {
    const b = cfg.blocks ?? fail('OWSD_ERR_BAD_ARGUMENT', 'blockScrambled needs a blocks config');
    const design = { size: cfg.imageSize ?? 224, block: b.block, transformBlocks: b.transformBlocks };
    const name = (cfg.keys ?? ['k0'])[0]!;
    const plan = blockPlan(experimentSecret(name), design);
    const out: Uint8Array[] = [];
    for (const s of samples) {
      const img = await decodeRgb(s.image, { resize: { size: design.size, fit: 'fill' } });
      out.push(blockScramble(img.data, design, plan));
    }
    return out;
  }

  /** Features under the block scrambler: embeddings from the encoder, cloud vectors of the block-scrambled images. */
  private async blockFeatures(cfg: FeatureConfig, samples: Sample[]): Promise<Features> {
    const b = cfg.blocks!;
    const size = cfg.imageSize ?? 224;
    const source = await this.embeddingSource(cfg.encoders);
    const { client } = await this.cloud(cfg.cloud);
    const name = (cfg.keys ?? ['k0'])[0]!;
    const jid = `${cfg.dataset}|${cfg.encoders.join('+')}|blocks ${name}@${size}/b${b.block}${b.transformBlocks === false ? '/permute' : ''}|${cfg.cloud}`;
    let journal = this.journals.get(jid);
    if (!journal) this.journals.set(jid, (journal = new MemoryJournal()));
    // Counted on a ledger of its own (the block plan has no generator design; 256 only names the ledger).
    const ledger = this.key(`${name}-blocks`, 256).ledger;
    const embeddings = await source.encode(samples.map((s) => s.image));
    const vectors = new Array<Float32Array>(samples.length);
    const todo: number[] = [];
    samples.forEach((s, i) => {
      const known = journal.get(s.id);
      if (known) vectors[i] = known;
      else todo.push(i);
    });
    for (let i = 0; i < todo.length; i += 32) {
      const rows = todo.slice(i, i + 32);
      const pixels = await this.blockScrambled(cfg, rows.map((r) => samples[r]!));
      const pngs = (await Promise.all(pixels.map((p) => encodePng(p, size)))).map(markScrambled);
      ledger.reserve(pngs.length);
      const got = await client.classify(pngs);
      journal.append(rows.map((r, j) => ({ id: samples[r]!.id, vector: got[j]! })));
      rows.forEach((r, j) => (vectors[r] = got[j]!));
    }
    if (todo.length) this.log(`  ${cfg.dataset} via block scrambling (${b.block} px blocks) → ${cfg.cloud}: ${todo.length} images sent`);
    const cloudDim = vectors[0]?.length ?? 0;
    const cloud = new Float32Array(samples.length * cloudDim);
    vectors.forEach((v, i) => cloud.set(v, i * cloudDim));
    return { n: samples.length, embeddingDim: source.dim, cloudDim, keys: 1, embeddings, cloud, sent: todo.length, scrambled: undefined };
  }

  /** Features under a key pool: each image through its own pool key, rows stitched back in order. */
  private async poolFeatures(cfg: FeatureConfig, pool: number, samples: Sample[]): Promise<Features> {
    const groups = Array.from({ length: pool }, () => [] as number[]);
    samples.forEach((s, i) => groups[poolKeyOf(s.image, pool)]!.push(i));
    let out: Features | undefined;
    for (const [k, rows] of groups.entries()) {
      if (rows.length === 0) continue;
      const f = await this.features({ ...cfg, keyPool: undefined, keys: [`k${k}`] }, rows.map((i) => samples[i]!));
      out ??= { ...f, n: samples.length, sent: 0, embeddings: new Float32Array(samples.length * f.embeddingDim), cloud: new Float32Array(samples.length * f.cloudDim), scrambled: undefined };
      out.sent += f.sent;
      rows.forEach((i, j) => {
        out!.embeddings.set(f.embeddings.subarray(j * f.embeddingDim, (j + 1) * f.embeddingDim), i * f.embeddingDim);
        out!.cloud.set(f.cloud.subarray(j * f.cloudDim, (j + 1) * f.cloudDim), i * f.cloudDim);
      });
    }
    return out ?? fail('OWSD_ERR_BAD_ARGUMENT', 'no samples to collect features for');
  }

  /** The cloud's vectors for the PLAINTEXT images (reference measurements against our own embedded cloud only). */
  async plaintextVectors(dataset: string, cloud: string, samples: Sample[]): Promise<Float32Array[]> {
    const id = `${dataset}|${cloud}`;
    let cache = this.plaintext.get(id);
    if (!cache) this.plaintext.set(id, (cache = new Map()));
    const missing = samples.filter((s) => !cache.has(s.id));
    if (missing.length > 0) {
      const { probe } = await this.cloud(cloud);
      for await (const part of probe.classifySamples(missing, 64)) {
        part.vectors.forEach((v, i) => cache.set(missing[part.start + i]!.id, v));
      }
      this.plaintextSent += missing.length;
      this.log(`  ${dataset} → ${cloud}: ${missing.length} plaintext reference images classified`);
    }
    return samples.map((s) => cache.get(s.id)!);
  }

  /** Scrambled images sent per experiment key (from the keys' ledgers). */
  submissions(): Record<string, number> {
    return Object.fromEntries([...this.keys.entries()].map(([id, k]) => [id, k.ledger.used]));
  }

  async close(): Promise<void> {
    // The scratch ledgers give back what they counted ahead (`submissions()` stays the same: it counts what was sent).
    for (const k of this.keys.values()) k.ledger.close();
    for (const s of this.scramblers.values()) await (await s).release();
    this.scramblers.clear();
    for (const e of this.encoders.values()) await (await e).release();
    this.encoders.clear();
    for (const c of this.clouds.values()) await (await c).server.close();
    this.clouds.clear();
  }
}
