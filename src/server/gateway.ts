/**
 * The organization's gateway: one process that holds the key(s) and a fitted bundle, and answers "what is in
 * this image?" with true labels. Images from concurrent requests are batched (./batcher.ts) through the
 * project's `Predictor` (encode → scramble → cloud → IIN); the secret never leaves the process.
 *
 * Key lifecycle: every batch is counted against each key's budget (the key's usage ledger); when a key passes
 * `warnAt` of its budget the gateway warns (log line, `status().warning`). `rotate()` makes new keys, refits the
 * bundle's stored training set with them (`rotateKeys`) while the old bundle keeps answering, then swaps the new
 * one in between two batches: no request is dropped or answered with a mix of keys. The old predictor is closed
 * once its last batch is done.
 *
 * Local mode (`local: true`, `owsd serve --local`): the bundle's embedding-alone IIN answers, through
 * `LocalPredictor`, which opens no key, no scrambler and no cloud client: nothing is sent anywhere, no cloud health
 * is checked, no submission is counted, and rotation is refused (there is no key in use). Use it when fit's
 * verdict says the cloud adds nothing measurable (docs/local-serving.md).
 */
import { fail, OwsdError } from '../errors.js';
import { readKeyFile, type Key } from '../key/keyfile.js';
import type { KeyLedger } from '../key/ledger.js';
import type { ResolveOptions } from '../models/registry.js';
import { KServeClient } from '../cloud/clients/kserve.js';
import type { CloudHealth } from '../cloud/client.js';
import { topK } from '../iin/model.js';
import { LocalPredictor, Predictor, type KeyUsage } from '../pipeline/predict.js';
import { readBundle, type Bundle } from '../pipeline/bundle.js';
import { boundText, type TrafficBound } from '../pipeline/bound.js';
import { currentBundle, rotateKeys } from '../pipeline/rotate.js';
import type { CloudSettings } from '../pipeline/session.js';
import type { ImageInput, ImagePredictions } from '../types.js';
import { Batcher } from './batcher.js';

export interface GatewayOptions extends ResolveOptions {
  /** Bundle folder (a rotated bundle is followed to its successor). */
  bundle: string;
  /** The bundle's key files, in order (with `local`: accepted and not read, since no key is used). */
  keyFiles?: string[];
  /**
   * Serve the bundle's embedding-alone IIN and send nothing to any cloud: no key is read, no cloud client is
   * opened (no health checks, no connection), no submission is counted, and rotation is refused.
   */
  local?: boolean;
  /** Override the cloud the bundle names (`--cloud URL`). */
  cloud?: Partial<CloudSettings>;
  /** Share of a key's budget after which the gateway warns (default 0.9). */
  warnAt?: number;
  /** Log sink, one line per event (default stderr); never given a secret. */
  log?: ((line: string) => void) | false;
  maxBatch?: number;
  maxWaitMs?: number;
  /** Count submissions here instead of each key's file ledger: a RedisLedger shared by replicas and workers. */
  ledgerFor?: (key: Key) => KeyLedger | Promise<KeyLedger>;
}

export interface ClassifyItem {
  image: ImageInput;
  /** Labels to return (clamped to the bundle's classes). */
  top: number;
  /** Also return the scrambled PNG exactly as sent. */
  details: boolean;
}

export interface CloudLabel {
  index: number;
  label: string;
  name: string;
  score: number;
}

/**
 * One image's outcome in the process (`Gateway.classify`): the per-image result of src/types.ts without its name
 * (the request knows it), with the cloud's answer, the keys and the scrambled bytes. POST /v1/classify sends it as
 * `ImagePredictions` with `cloud`, `keyId` and `scrambled` as a data: URL (./schemas.ts `ClassifiedImage`).
 */
export interface ClassifyResult extends Omit<ImagePredictions, 'name'> {
  /** The cloud's own top-5 for the scrambled image (first key): what it "sees". Empty in local mode (nothing was sent). */
  cloud: CloudLabel[];
  /** The key that scrambled the image sent (the first key of the bundle); absent in local mode (no key is used). */
  keyId?: string;
  /** All the keys of the bundle that answered (several keys: one submission each); empty in local mode. */
  keyIds: string[];
  /** With `details`: the PNG sent to the cloud, byte for byte. */
  scrambled?: Uint8Array;
}

/** One image's outcome: its result, or its own error (naming the image); the others in its batch are unaffected. */
export type ClassifyOutcome = ClassifyResult | { error: OwsdError };

export interface KeyStatus extends KeyUsage {
  /** Share of the budget used, 0..1. */
  fraction: number;
  warning: string | null;
}

export interface GatewayStatus {
  service: 'owsd-gateway';
  /** `local`: the embedding-alone IIN answers and nothing is sent to any cloud (`owsd serve --local`). */
  mode: 'local' | 'cloud';
  started: string;
  /** Empty in local mode: no key is used and no submission is spent. */
  keys: KeyStatus[];
  /** Set when any key is past `warnAt` of its budget. */
  warning: string | null;
  warnAt: number;
  /**
   * The any-inverter bound the serving bundle's fit measured on its training set (src/pipeline/bound.ts):
   * `figures` as fit returned them (null when the bundle has none: `measured` false), `text` in the words
   * `owsd fit` prints, or "not measured (refit with this version)" for a bundle written before fit stored it.
   */
  bound: { measured: boolean; figures: TrafficBound | null; text: string };
  bundle: {
    created: string;
    classes: Array<{ label: string; name: string }>;
    encoders: string[];
    imageSize: number;
    trainImages: number;
    /** Validation top-1 as `owsd fit --json` gives it: `{top1}` per IIN (null when not measured), and the cloud gain. */
    validation: { both: { top1: number | null }; embedding: { top1: number | null }; cloud: { top1: number | null }; cloudGain: number | null };
    rotatable: boolean;
  };
  /** The cloud and its health; null in local mode (no cloud is contacted, not even for its health). */
  cloud: { url: string; model: string; protocol: string; health: CloudHealth } | null;
  /** No file paths here: any client may read the status. */
  rotation: { state: 'idle' | 'running' | 'failed'; last: Omit<RotationSummary, 'keyFiles' | 'bundle'> | null; error: string | null };
  /** `skipped`: requests dropped before their batch because their client was gone. */
  served: { images: number; batches: number; skipped: number };
}

export interface RotationSummary {
  replaced: string[];
  keyIds: string[];
  keyFiles: string[];
  bundle: string;
  trainImages: number;
  submissionsSent: number;
  seconds: number;
  finished: string;
}

interface Slot {
  /** A LocalPredictor in local mode: it has no key, no scrambler and no cloud client. */
  predictor: Predictor | LocalPredictor;
  bundle: Bundle;
  bundleDir: string;
  keyFiles: string[];
  keys: Key[];
  cloudLabels: { ids: string[]; names: string[] } | undefined;
  active: number;
  retired: boolean;
  closed?: Promise<void>;
}

/** A rotation summary without its file paths (for `status`, which any client may read). */
function publicSummary(r: RotationSummary): Omit<RotationSummary, 'keyFiles' | 'bundle'> {
  const { keyFiles: _k, bundle: _b, ...rest } = r;
  return rest;
}

/** Why a local gateway refuses rotation (the API's 403 and the library's error). */
export const LOCAL_NO_ROTATION =
  'this gateway serves locally (owsd serve --local): it uses no key, so there is none to rotate; rotate the bundle\'s key with owsd key rotate, or serve with the cloud (without --local) to rotate from here';

const stderrLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export class Gateway {
  private slot: Slot;
  private readonly batcher: Batcher<ClassifyItem, ClassifyOutcome>;
  private readonly warned = new Set<string>();
  private rotation: { state: GatewayStatus['rotation']['state']; last: RotationSummary | null; error: string | null } = { state: 'idle', last: null, error: null };
  private rotating: Promise<RotationSummary> | undefined;
  private readonly started = new Date().toISOString();
  private readonly log: (line: string) => void;

  private constructor(
    private readonly opts: GatewayOptions,
    slot: Slot,
  ) {
    this.slot = slot;
    this.log = opts.log === false ? () => undefined : (opts.log ?? stderrLog);
    this.batcher = new Batcher((items) => this.runBatch(items), { maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs });
    this.checkBudgets();
  }

  static async open(opts: GatewayOptions): Promise<Gateway> {
    const warnAt = opts.warnAt ?? 0.9;
    if (!(warnAt > 0 && warnAt <= 1)) fail('OWSD_ERR_BAD_ARGUMENT', `warnAt must be in (0, 1], got ${warnAt}`);
    const log = opts.log === false ? undefined : (opts.log ?? stderrLog);
    if (opts.local) {
      // No key is read (its secret stays on disk): a rotation's successor is followed by its record alone.
      if ((opts.keyFiles ?? []).length > 0) log?.('local mode: the key file(s) given are not used (nothing is scrambled or sent)');
      const cur = currentBundle(opts.bundle, []);
      if (cur.skipped.length > 0) log?.(`bundle ${opts.bundle} was rotated: serving its successor ${cur.bundle}`);
      const slot = await Gateway.openSlot(cur.bundle, [], opts);
      return new Gateway({ ...opts, warnAt }, slot);
    }
    const keyFiles = opts.keyFiles ?? [];
    if (keyFiles.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'give the bundle\'s key file(s) with --key (or serve the embedding-alone IIN with --local, which needs none)');
    const cur = currentBundle(opts.bundle, keyFiles);
    if (cur.skipped.length > 0) log?.(`bundle ${opts.bundle} was rotated: serving its successor ${cur.bundle}`);
    const slot = await Gateway.openSlot(cur.bundle, cur.keyFiles, opts);
    return new Gateway({ ...opts, warnAt }, slot);
  }

  private static async openSlot(bundleDir: string, keyFiles: string[], opts: GatewayOptions): Promise<Slot> {
    if (opts.local) {
      const predictor = await LocalPredictor.open({ bundle: bundleDir, modelsDir: opts.modelsDir });
      return { predictor, bundle: predictor.bundle, bundleDir, keyFiles: [], keys: [], cloudLabels: undefined, active: 0, retired: false };
    }
    const keys = keyFiles.map((f) => readKeyFile(f));
    const bundle = readBundle(bundleDir);
    const predictor = await Predictor.open({ bundle, keys, modelsDir: opts.modelsDir, cloud: opts.cloud, ledgerFor: opts.ledgerFor });
    let cloudLabels: Slot['cloudLabels'];
    if (predictor.client instanceof KServeClient) {
      const meta = await predictor.client.metadata().catch(() => undefined);
      if (meta?.labels && meta.labels.ids.length === bundle.cloud.numClasses) cloudLabels = meta.labels;
    }
    return { predictor, bundle, bundleDir, keyFiles, keys, cloudLabels, active: 0, retired: false };
  }

  get bundle(): Bundle {
    return this.slot.bundle;
  }

  get keyIds(): string[] {
    return this.slot.keys.map((k) => k.id);
  }

  /** `local`: nothing is sent to any cloud (see GatewayOptions.local). */
  get mode(): 'local' | 'cloud' {
    return this.opts.local ? 'local' : 'cloud';
  }

  /** The encoders' preprocessing (the size arrival decoding resizes to). */
  get preprocess() {
    return this.slot.predictor.preprocess;
  }

  /**
   * Classify images (batched with other requests'), in order: each image's result, or its own error (an image that
   * fails in the encoder fails alone). With `signal`, a request whose client is gone is dropped before its batch.
   */
  classify(items: ClassifyItem[], signal?: AbortSignal): Promise<ClassifyOutcome[]> {
    return this.batcher.submit(items, signal);
  }

  private async runBatch(items: ClassifyItem[]): Promise<ClassifyOutcome[]> {
    const slot = this.slot;
    slot.active++;
    try {
      const c = slot.bundle.classes.length;
      const k = Math.min(c, Math.max(...items.map((i) => i.top)));
      if (slot.predictor instanceof LocalPredictor) {
        // Local: the embedding-alone IIN; no key, no cloud answer, no scrambled image (nothing was made or sent).
        const { predictions, errors } = await slot.predictor.classifySettled(items.map((i) => i.image), k);
        return items.map((item, i): ClassifyOutcome => (errors[i] ? { error: errors[i] } : { predictions: predictions[i]!.slice(0, item.top), cloud: [], keyIds: [] }));
      }
      const details = items.some((i) => i.details);
      const { predictions, errors, features: f, row } = await slot.predictor.classifySettled(
        items.map((i) => i.image),
        k,
        { keepScrambled: details },
      );
      if (!f) return items.map((_, i) => ({ error: errors[i]! }));
      const cd = f.cloudDim;
      const firstKey = new Float32Array(f.n * cd);
      for (let i = 0; i < f.n; i++) firstKey.set(f.cloud.subarray(i * f.keys * cd, i * f.keys * cd + cd), i * cd);
      const cloudTop = topK(firstKey, f.n, cd, 5);
      const names = slot.cloudLabels;
      return items.map((item, i): ClassifyOutcome => {
        const r = row[i]!;
        if (errors[i] || r < 0) return { error: errors[i]! };
        return {
          predictions: predictions[i]!.slice(0, item.top),
          cloud: cloudTop[r]!.map(({ index, score }) => ({ index, score, label: names?.ids[index] ?? String(index), name: names?.names[index] ?? `class ${index}` })),
          keyId: slot.keys[0]!.id,
          keyIds: slot.keys.map((key) => key.id),
          ...(item.details && f.scrambled ? { scrambled: f.scrambled[r] } : {}),
        };
      });
    } finally {
      slot.active--;
      this.checkBudgets();
      if (slot.retired && slot.active === 0) await this.closeSlot(slot);
    }
  }

  private keyStatus(): KeyStatus[] {
    const warnAt = this.opts.warnAt ?? 0.9;
    const p = this.slot.predictor;
    if (p instanceof LocalPredictor) return []; // no key in use: nothing is spent
    return p.usage().map((u) => {
      const fraction = u.used / u.budget;
      const warning =
        fraction >= warnAt
          ? `key ${u.keyId} has used ${u.used} of its ${u.budget} submissions (${(100 * fraction).toFixed(0)}%): rotate it (owsd key rotate) before it runs out`
          : null;
      return { ...u, fraction, warning };
    });
  }

  private checkBudgets(): void {
    for (const k of this.keyStatus()) {
      if (k.warning && !this.warned.has(k.keyId)) {
        this.warned.add(k.keyId);
        this.log(`warning: ${k.warning}`);
      }
    }
  }

  async status(): Promise<GatewayStatus> {
    const s = this.slot;
    const p = s.predictor;
    if (p instanceof Predictor) await p.refreshUsage(); // a shared ledger: what every replica and worker has used
    const keys = this.keyStatus();
    const v = (w: 'both' | 'embedding' | 'cloud') => s.bundle.iins[w].validationAccuracy;
    const both = v('both');
    const emb = v('embedding');
    return {
      service: 'owsd-gateway',
      mode: this.mode,
      started: this.started,
      keys,
      warning: keys.find((k) => k.warning)?.warning ?? null,
      warnAt: this.opts.warnAt ?? 0.9,
      bound: { measured: Boolean(s.bundle.bound), figures: s.bundle.bound ?? null, text: boundText(s.bundle.bound) },
      bundle: {
        created: s.bundle.created,
        classes: s.bundle.classes.map((label, i) => ({ label, name: s.bundle.classNames[i]! })),
        encoders: s.bundle.encoders.map((e) => e.name),
        imageSize: s.bundle.imageSize,
        trainImages: s.bundle.data.train,
        validation: { both: { top1: both }, embedding: { top1: emb }, cloud: { top1: v('cloud') }, cloudGain: both !== null && emb !== null ? both - emb : null },
        rotatable: p instanceof Predictor && Boolean(s.bundle.training),
      },
      // Local mode: no cloud client exists, so nothing is asked of any cloud, not even its health.
      cloud: p instanceof Predictor ? { url: p.client.url, model: s.bundle.cloud.modelName, protocol: p.client.protocol, health: await p.client.health() } : null,
      rotation: { ...this.rotation, last: this.rotation.last ? publicSummary(this.rotation.last) : null },
      served: { images: this.batcher.items, batches: this.batcher.batches, skipped: this.batcher.skipped },
    };
  }

  /**
   * Replace the keys: new key files beside the old ones, the stored training set scrambled again and the IINs
   * refitted (the old bundle answers meanwhile), then the new bundle swapped in between batches.
   */
  rotate(opts: { budget?: number; secrets?: Uint8Array[]; onProgress?: (stage: string, done: number, total: number) => void } = {}): Promise<RotationSummary> {
    if (this.opts.local) return fail('OWSD_ERR_FORBIDDEN', LOCAL_NO_ROTATION);
    if (this.rotating) return fail('OWSD_ERR_BUSY', 'a key rotation is already running: wait for it to finish (GET /v1/status shows its state)');
    const t0 = performance.now();
    const old = this.slot;
    this.rotation = { ...this.rotation, state: 'running', error: null };
    this.log(`rotating key(s) ${old.keys.map((k) => k.id).join(', ')}: re-scrambling ${old.bundle.data.train} training images and refitting`);
    const run = (async (): Promise<RotationSummary> => {
      const r = await rotateKeys({ bundle: old.bundleDir, keys: old.keys, cloud: this.opts.cloud, modelsDir: this.opts.modelsDir, budget: opts.budget, secrets: opts.secrets, onProgress: opts.onProgress });
      const next = await Gateway.openSlot(r.bundleDir, r.keyFiles, this.opts);
      // The swap: batches that start from here on use the new bundle; the one running finishes on the old.
      this.slot = next;
      old.retired = true;
      if (old.active === 0) await this.closeSlot(old);
      const summary: RotationSummary = {
        replaced: r.replaced,
        keyIds: r.keys.map((k) => k.id),
        keyFiles: r.keyFiles,
        bundle: r.bundleDir,
        trainImages: r.fit.trainSamples,
        submissionsSent: r.fit.submissionsSent,
        seconds: (performance.now() - t0) / 1000,
        finished: new Date().toISOString(),
      };
      this.log(`rotated: key(s) ${summary.replaced.join(', ')} → ${summary.keyIds.join(', ')}; serving ${summary.bundle} (${summary.seconds.toFixed(1)} s)`);
      this.checkBudgets();
      return summary;
    })();
    this.rotating = run;
    run.then(
      (summary) => {
        this.rotation = { state: 'idle', last: summary, error: null };
      },
      (e: unknown) => {
        this.rotation = { ...this.rotation, state: 'failed', error: e instanceof Error ? e.message : String(e) };
        this.log(`key rotation failed (still serving the old key): ${this.rotation.error}`);
      },
    ).finally(() => {
      this.rotating = undefined;
    });
    return run;
  }

  private closeSlot(slot: Slot): Promise<void> {
    slot.closed ??= slot.predictor.close().catch((e: unknown) => this.log(`closing the old bundle's models failed: ${e instanceof Error ? e.message : String(e)}`));
    return slot.closed;
  }

  async close(): Promise<void> {
    await this.rotating?.catch(() => undefined);
    await this.closeSlot(this.slot);
  }
}
