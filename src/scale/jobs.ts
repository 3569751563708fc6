/**
 * Batch jobs on a BullMQ queue in Redis. A batch is a dataset split into jobs of `chunk` images; a job carries the
 * images' references within the dataset (relative path, or the sample id for CIFAR-style binaries) and their
 * indices in the batch. Results are written per image, keyed by its index, with HSETNX (first write wins), into
 * one Redis hash per batch, and gathered in input order. Where things live in Redis:
 *
 * - `bull:<queue>:*`: BullMQ's own keys (jobs, locks, retries);
 * - `owsd:batch:<id>`: the batch's description (data root, total, chunk, created);
 * - `owsd:batch:<id>:results`: index -> JSON `BatchResult` (its predictions, or its error); `owsd:batch:<id>:failed`: job
 *   id -> reason (given up); `owsd:batch:<id>:image-errors`: index -> reason, for images refused on their own (a
 *   reference outside the data root, a missing file) while the rest of their job went on;
 * - `owsd:ledger:<keyId>`: the key's shared usage counter (redis-ledger.ts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, fail, OwsdError } from '../errors.js';
import { loadDataset } from '../data/detect.js';
import { prepareDataset } from '../data/split.js';
import type { ImageResult } from '../types.js';

export const DEFAULT_QUEUE = 'owsd-batch';

export interface JobItem {
  /** Position in the batch (0-based, input order). */
  index: number;
  /** The sample's id in its dataset (for folders: its path relative to the dataset root). */
  id: string;
  /** Path relative to the data root, when the image is a file. */
  file?: string;
}

export interface BatchJob {
  batchId: string;
  start: number;
  items: JobItem[];
}

export interface BatchInfo {
  id: string;
  queue: string;
  /** The dataset's root as given at submission (workers may override it with --data-root). */
  root: string;
  total: number;
  chunk: number;
  jobs: number;
  created: string;
}

/**
 * One image's result in a batch: the one per-image result type (`ImageResult` of src/types.ts, as predict --json and
 * the gateway give it: `{name, predictions}` or `{name, error, code, field}`) with its place in the batch (`index`)
 * and the worker that stored it (host:pid). `name` is the sample's id (a file's path as given at submission). An
 * image refused or unreadable on its own (a reference outside the data root, a missing or undecodable file) has its
 * error in place and still counts as done.
 */
export type BatchResult = ImageResult & { index: number; worker: string };

export interface BatchStatus extends BatchInfo {
  /** Images with an outcome: predictions, or an error of their own (counted in failedImages). */
  done: number;
  failedImages: number;
  failedJobs: Array<{ job: string; reason: string }>;
  complete: boolean;
}

export const batchKey = (id: string): string => `owsd:batch:${id}`;
export const resultsKey = (id: string): string => `owsd:batch:${id}:results`;
export const failedKey = (id: string): string => `owsd:batch:${id}:failed`;
export const imageErrorsKey = (id: string): string => `owsd:batch:${id}:image-errors`;

/**
 * An ioredis connection. Workers and gateways (`failFast` false, as BullMQ wants) wait through a Redis restart;
 * one-shot commands (`failFast`) give up after a few seconds with an error naming the address.
 */
export function connectRedis(url: string, o: { failFast?: boolean } = {}): Redis {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('OWSD_ERR_BAD_ARGUMENT', `--redis must be a URL such as redis://127.0.0.1:6379, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail('OWSD_ERR_BAD_ARGUMENT', `--redis must be a redis:// or rediss:// URL, got ${u.protocol}`);
  if (!o.failFast) return new Redis(url, { maxRetriesPerRequest: null });
  return new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 3000, retryStrategy: (times) => (times > 3 ? null : 300) });
}

/** Connection failures (ECONNREFUSED, retries exhausted) as one clear error naming the Redis address. */
export function redisError(url: string, e: unknown): never {
  if (e instanceof OwsdError) throw e;
  const m = e instanceof Error ? e.message : String(e);
  return fail('OWSD_ERR_BATCH', `cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//')}: ${m}`);
}

export interface SubmitOptions {
  redis: Redis;
  queue?: string;
  /** A dataset (class folders, CIFAR binary, ...), as for fit; or give `images`. */
  data?: string;
  /**
   * Image files instead of a dataset (unlabelled). Each image's id is its path as given; the data root is the
   * deepest folder holding every image after links are resolved, and each reference is relative to it.
   */
  images?: string[];
  labels?: number;
  perLabel?: number;
  seed?: number;
  /** Images per job (default 16). */
  chunk?: number;
  /** Attempts per job before it is given up (default 5). */
  attempts?: number;
}

/**
 * Items for image files: each file's real path (links resolved now, so workers, which refuse references leading
 * out of the data root, read the same files) relative to the deepest folder that holds them all.
 */
function imageItems(images: string[]): { root: string; items: JobItem[] } {
  const reals = images.map((p) => {
    try {
      return fs.realpathSync(p);
    } catch (e) {
      return fail('OWSD_ERR_FILE', `${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : describe(e)}`, e);
    }
  });
  let common = path.dirname(reals[0]!).split(path.sep);
  for (const r of reals) {
    const parts = path.dirname(r).split(path.sep);
    let n = 0;
    while (n < common.length && n < parts.length && common[n] === parts[n]) n++;
    if (n < common.length) common = common.slice(0, n);
  }
  const root = common.join(path.sep) || path.sep;
  return { root, items: images.map((p, index) => ({ index, id: p, file: path.relative(root, reals[index]!) })) };
}

/** Split a dataset (or a list of image files) into jobs on the queue; returns the batch's description. */
export async function submitBatch(o: SubmitOptions): Promise<BatchInfo> {
  const chunk = o.chunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 1) fail('OWSD_ERR_BAD_ARGUMENT', `--chunk must be a positive integer, got ${chunk}`);
  let root: string;
  let items: JobItem[];
  if (o.images !== undefined) {
    if (o.data !== undefined) fail('OWSD_ERR_BAD_ARGUMENT', 'give a dataset (--data) or image files, not both');
    if (o.labels !== undefined || o.perLabel !== undefined) fail('OWSD_ERR_BAD_ARGUMENT', '--labels and --per-label choose from a dataset\'s labels: they need --data, not image files');
    if (o.images.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'no images to submit');
    ({ root, items } = imageItems(o.images));
  } else {
    if (o.data === undefined) return fail('OWSD_ERR_BAD_ARGUMENT', 'give a dataset (--data) or image files to submit');
    const ds = await loadDataset(o.data);
    const prepared = o.labels !== undefined || o.perLabel !== undefined ? prepareDataset(ds, { labels: o.labels, perLabel: o.perLabel, seed: o.seed ?? 0 }).dataset : ds;
    root = path.resolve(ds.root);
    items = prepared.samples.map((s, index) => ({
      index,
      id: s.id,
      ...(s.image.kind === 'file' ? { file: path.relative(root, s.image.path) } : {}),
    }));
    if (items.length === 0) fail('OWSD_ERR_DATASET', `dataset ${o.data} has no images`);
  }
  const id = `${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
  const queueName = o.queue ?? DEFAULT_QUEUE;
  const info: BatchInfo = { id, queue: queueName, root, total: items.length, chunk, jobs: Math.ceil(items.length / chunk), created: new Date().toISOString() };
  await o.redis.set(batchKey(id), JSON.stringify(info));
  const queue = new Queue<BatchJob>(queueName, { connection: o.redis });
  try {
    let jobs = [];
    for (let start = 0; start < items.length; start += chunk) {
      jobs.push({
        name: 'predict',
        data: { batchId: id, start, items: items.slice(start, start + chunk) },
        opts: { jobId: `${id}.${start}`, attempts: o.attempts ?? 5, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: true, removeOnFail: false },
      });
      if (jobs.length === 500) {
        await queue.addBulk(jobs);
        jobs = [];
      }
    }
    if (jobs.length > 0) await queue.addBulk(jobs);
  } finally {
    await queue.close();
  }
  return info;
}

export async function batchInfo(redis: Redis, id: string): Promise<BatchInfo> {
  const raw = await redis.get(batchKey(id));
  if (raw === null) return fail('OWSD_ERR_BAD_ARGUMENT', `no batch ${id} in this Redis (owsd batch submit prints the id)`);
  return JSON.parse(raw) as BatchInfo;
}

export async function batchStatus(redis: Redis, id: string): Promise<BatchStatus> {
  const info = await batchInfo(redis, id);
  const done = await redis.hlen(resultsKey(id));
  const failed = await redis.hgetall(failedKey(id));
  const failedJobs = Object.entries(failed).map(([job, reason]) => ({ job, reason }));
  const failedImages = await redis.hlen(imageErrorsKey(id));
  return { ...info, done, failedImages, failedJobs, complete: done === info.total };
}

/** Wait until every image has a result, or a job was given up (then throw naming it), or the timeout. */
export async function waitForBatch(redis: Redis, id: string, o: { timeoutMs?: number; pollMs?: number; onProgress?: (s: BatchStatus) => void } = {}): Promise<BatchStatus> {
  const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
  for (;;) {
    const s = await batchStatus(redis, id);
    o.onProgress?.(s);
    if (s.complete) return s;
    if (s.failedJobs.length > 0) fail('OWSD_ERR_BATCH', `batch ${id}: ${s.failedJobs.length} job(s) given up, first ${s.failedJobs[0]!.job}: ${s.failedJobs[0]!.reason}`);
    if (Date.now() > deadline) fail('OWSD_ERR_BATCH', `batch ${id}: ${s.done} of ${s.total} images done after ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, o.pollMs ?? 250));
  }
}

/**
 * Stored results in input order, read in slices of 1000 (a batch of millions is never held at once). Throws naming
 * the first missing image unless `partial` (then missing ones are left out).
 */
export async function* iterateResults(redis: Redis, id: string, o: { partial?: boolean } = {}): AsyncGenerator<BatchResult> {
  const info = await batchInfo(redis, id);
  if (!o.partial) {
    const done = await redis.hlen(resultsKey(id));
    if (done < info.total) {
      let first = -1;
      for (let s = 0; s < info.total && first < 0; s += 1000) {
        const fields = Array.from({ length: Math.min(1000, info.total - s) }, (_, i) => String(s + i));
        const have = await redis.hmget(resultsKey(id), ...fields);
        const j = have.indexOf(null);
        if (j >= 0) first = s + j;
      }
      fail('OWSD_ERR_BATCH', `batch ${id}: ${info.total - done} of ${info.total} images have no result yet (first index ${first}); wait (owsd batch status --wait) or pass --partial`);
    }
  }
  for (let s = 0; s < info.total; s += 1000) {
    const fields = Array.from({ length: Math.min(1000, info.total - s) }, (_, i) => String(s + i));
    for (const raw of await redis.hmget(resultsKey(id), ...fields)) if (raw !== null) yield JSON.parse(raw) as BatchResult;
  }
}

/** Every stored result in input order, as an array (see iterateResults). */
export async function batchResults(redis: Redis, id: string, o: { partial?: boolean } = {}): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for await (const r of iterateResults(redis, id, o)) out.push(r);
  return out;
}
