/**
 * The organisation's side of the flow for a set of samples: image → encoder → embedding → scrambler(key) → PNG
 * → cloud → vector, batched, with the key's budget reserved durably before each batch leaves and the answers
 * journaled so nothing that came back is sent again. Returns the IIN's inputs: embeddings and cloud vectors.
 */
import { fail } from '../errors.js';
import type { Encoder } from '../encoder/encoder.js';
import type { ImageInput } from '../types.js';
import type { Scrambler } from '../scrambler/scrambler.js';
import type { ScrambledImage } from '../scrambler/scrambled.js';
import type { KeyLedger } from '../key/ledger.js';
import type { CloudClient } from '../cloud/client.js';
import type { Sample } from '../types.js';
import type { AnswerJournal } from './journal.js';

/** One key's path to the cloud. */
export interface KeyChannel {
  scrambler: Scrambler;
  ledger: KeyLedger;
  /** Absent when answers are not journaled (predict). */
  journal?: AnswerJournal;
}

export interface Features {
  n: number;
  embeddingDim: number;
  /** Cloud vector length per key. */
  cloudDim: number;
  keys: number;
  /** n x embeddingDim */
  embeddings: Float32Array;
  /** n x (keys * cloudDim), keys in order. */
  cloud: Float32Array;
  /** Submissions actually sent (not taken from the journal). */
  sent: number;
  /** With `keepScrambled`: the first key's PNG of each sample, exactly as sent (for attack measurements). */
  scrambled?: Uint8Array[];
}

/** What `collectFeatures` needs of an encoder (an `Encoder`, or a cache in front of one). */
export type EmbeddingSource = Pick<Encoder, 'dim'> & { encode(images: ImageInput[]): Promise<Float32Array> };

export interface CollectOptions {
  samples: Sample[];
  encoder: EmbeddingSource;
  channels: KeyChannel[];
  client: CloudClient;
  /** Images encoded and scrambled per step (default 32). */
  batchSize?: number;
  /** Keep the first key's scrambled PNGs in the result (memory: about 200 KB per 256px image). */
  keepScrambled?: boolean;
  /** Running totals: 'encode' (images), 'scramble' and 'send' (submissions this run makes, all keys), 'reuse' (answers taken from the journals, once). */
  onProgress?: ProgressFn;
}

/**
 * Progress of a long step: `done` of `total` so far in a phase (running totals, never increments); `detail` says
 * more (an IIN's epoch). Phases: encode, scramble, send, reuse (fit, eval, predict), train, check (fit), rotate,
 * plaintext (eval's reference).
 */
export type ProgressFn = (phase: string, done: number, total: number, detail?: string) => void;

/** How many submissions `collect` would send: per key, samples not already in its journal. */
export function pendingSubmissions(samples: Sample[], channels: KeyChannel[]): number[] {
  return channels.map((c) => samples.filter((s) => !c.journal?.has(s.id)).length);
}

/** Check every key's budget up front, so nothing is sent for a run that cannot finish. */
export function checkBudgets(samples: Sample[], channels: KeyChannel[]): void {
  const pending = pendingSubmissions(samples, channels);
  channels.forEach((c, k) => {
    if (pending[k]! > c.ledger.remaining) {
      fail(
        'OWSD_ERR_BUDGET',
        `key ${c.ledger.keyId} has ${c.ledger.remaining} of ${c.ledger.budget} submissions left, but this run needs ${pending[k]}: nothing was sent; use a new key (owsd key new) or fewer images`,
      );
    }
  });
}

export async function collectFeatures(opts: CollectOptions): Promise<Features> {
  const { samples, encoder, channels, client } = opts;
  const n = samples.length;
  const batchSize = opts.batchSize ?? 32;
  // Before any budget is reserved: a cloud that is down, not ready or without the model fails here, costing nothing.
  if (n > 0) await client.ready?.();
  for (const c of channels) await c.ledger.refresh?.();
  checkBudgets(samples, channels);
  const pending = pendingSubmissions(samples, channels).reduce((a, b) => a + b, 0);
  const reused = n * channels.length - pending;
  if (reused > 0 && channels.some((c) => c.journal)) opts.onProgress?.('reuse', reused, n * channels.length);
  let scrambledCount = 0;
  let answeredCount = 0;
  const embeddingDim = encoder.dim;
  const embeddings = new Float32Array(n * embeddingDim);
  const perKey: Float32Array[][] = channels.map(() => new Array<Float32Array>(n));
  let sent = 0;
  const scrambled: Uint8Array[] | undefined = opts.keepScrambled ? new Array<Uint8Array>(n) : undefined;
  const inflight: Promise<void>[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const batch = samples.slice(start, start + batchSize);
    const emb = await encoder.encode(batch.map((s) => s.image));
    embeddings.set(emb, start * embeddingDim);
    opts.onProgress?.('encode', Math.min(n, start + batchSize), n);
    for (const [k, ch] of channels.entries()) {
      const todo: number[] = [];
      batch.forEach((s, i) => {
        const known = ch.journal?.get(s.id);
        if (known) perKey[k]![start + i] = known;
        else todo.push(i);
      });
      const keep = scrambled !== undefined && k === 0;
      if (todo.length === 0 && !keep) continue;
      let pngs: ScrambledImage[];
      if (keep) {
        // The attack measurement needs every image, journaled ones included: scramble the whole batch once and
        // send the part that has not come back yet.
        const all = await ch.scrambler.scramble(emb, batch.length);
        all.forEach((p, i) => (scrambled[start + i] = p.png));
        pngs = todo.map((i) => all[i]!);
      } else {
        const sub = new Float32Array(todo.length * embeddingDim);
        todo.forEach((i, j) => sub.set(emb.subarray(i * embeddingDim, (i + 1) * embeddingDim), j * embeddingDim));
        pngs = await ch.scrambler.scramble(sub, todo.length);
      }
      if (pngs.length === 0) continue;
      scrambledCount += pngs.length;
      opts.onProgress?.('scramble', scrambledCount, pending);
      // Counted durably before anything leaves: a crash can over-count, never under-count. A retry resends images
      // the cloud may already have received, so each resend is counted (and can hit the budget) too.
      await ch.ledger.reserve(pngs.length);
      sent += pngs.length;
      const answered = client.classify(pngs, {
        beforeResend: (m) => ch.ledger.reserve(m),
        // An attempt refused before any byte left (the cloud went down meanwhile): its images are given back.
        notSent: (m) => ch.ledger.release?.(m),
      }).then((vectors) => {
        ch.journal?.append(todo.map((i, j) => ({ id: batch[i]!.id, vector: vectors[j]! })));
        todo.forEach((i, j) => (perKey[k]![start + i] = vectors[j]!));
        answeredCount += todo.length;
        opts.onProgress?.('send', answeredCount, pending);
      });
      // Marked handled here; the failure still surfaces through Promise.all below. Without this, a second failing
      // request after the first error would be an unhandled rejection that kills the process.
      answered.catch(() => undefined);
      inflight.push(answered);
    }
    // Keep encoding while the cloud answers, but bound what is held in memory.
    if (inflight.length >= 4 * channels.length) await Promise.all(inflight.splice(0, channels.length));
  }
  await Promise.all(inflight);
  const cloudDim = perKey[0]?.[0]?.length ?? 0;
  const cloud = new Float32Array(n * channels.length * cloudDim);
  perKey.forEach((vectors, k) =>
    vectors.forEach((v, i) => {
      if (v.length !== cloudDim) fail('OWSD_ERR_CLOUD_RESPONSE', `cloud vectors differ in length (${v.length} vs ${cloudDim}) between answers`);
      cloud.set(v, i * channels.length * cloudDim + k * cloudDim);
    }),
  );
  return { n, embeddingDim, cloudDim, keys: channels.length, embeddings, cloud, sent, scrambled };
}

export type FeatureSet = 'both' | 'embedding' | 'cloud';

/** The IIN input matrix for a feature set: [embedding, cloud vectors], or either alone. */
export function featureMatrix(f: Features, which: FeatureSet): { x: Float32Array; dim: number } {
  if (which === 'embedding') return { x: f.embeddings, dim: f.embeddingDim };
  const cloudWidth = f.keys * f.cloudDim;
  if (which === 'cloud') return { x: f.cloud, dim: cloudWidth };
  const dim = f.embeddingDim + cloudWidth;
  const x = new Float32Array(f.n * dim);
  for (let i = 0; i < f.n; i++) {
    x.set(f.embeddings.subarray(i * f.embeddingDim, (i + 1) * f.embeddingDim), i * dim);
    x.set(f.cloud.subarray(i * cloudWidth, (i + 1) * cloudWidth), i * dim + f.embeddingDim);
  }
  return { x, dim };
}
