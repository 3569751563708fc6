/**
 * A batch worker: takes jobs from the queue, and for each image of the job that has no stored result yet runs the
 * ordinary pipeline (`Predictor`: encode, scramble, reserve in the shared ledger, send, IIN), then stores each
 * image's result under its index with HSETNX. Any number of workers, on any machines that reach Redis and hold
 * the key file (and the bundle, the models and the data), may run at once.
 *
 * A worker killed mid-job loses nothing: BullMQ's lock on the job expires (`lockMs`), another worker's stalled-job
 * check puts it back on the queue, and the retry re-sends only the images with no stored result (those the dead
 * worker had in flight; the ledger counted them when they were reserved, so the count stays an upper bound of
 * what the cloud received, exact unless a worker dies between reserving and sending).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe, OwsdError } from '../errors.js';
import { loadDataset } from '../data/detect.js';
import type { Key } from '../key/keyfile.js';
import { imageResult, Predictor } from '../pipeline/predict.js';
import type { CloudSettings } from '../pipeline/session.js';
import type { ImageFailure, ImageInput } from '../types.js';
import { batchInfo, DEFAULT_QUEUE, failedKey, imageErrorsKey, resultsKey, type BatchJob, type BatchResult, type JobItem } from './jobs.js';
import { RedisLedger } from './redis-ledger.js';

export interface WorkerOptions {
  redis: Redis;
  bundle: string;
  keys: Key[];
  queue?: string;
  modelsDir?: string;
  cloud?: Partial<CloudSettings>;
  /** Replace the data root recorded at submission (the dataset is elsewhere on this machine). */
  dataRoot?: string;
  /** Labels per image in results (default 5). */
  top?: number;
  /** Jobs processed at once by this worker (default 1; start more processes to use more cores). */
  concurrency?: number;
  /** How long a job's lock lives without renewal before the job counts as stalled and is retried (default 30 s). */
  lockMs?: number;
  /** How often this worker looks for stalled jobs (default lockMs / 2). */
  stalledIntervalMs?: number;
  onJob?: (e: { job: string; images: number; sent: number; failed: number; firstError?: string }) => void;
}

export interface RunningWorker {
  id: string;
  /** Finish the jobs in hand, then stop. */
  close(): Promise<void>;
}

/** The largest image file a worker reads (a job's images are read whole, several at once). */
const MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024;

/** A refused or unreadable image of a job: stored as that image's outcome, the job's other images go on. */
class ImageRefused extends Error {
  constructor(
    readonly code: 'OWSD_ERR_FORBIDDEN' | 'OWSD_ERR_FILE',
    message: string,
  ) {
    super(message);
  }
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/**
 * The bytes of a job's file reference, read only if the file really lies inside the data root. Job data lives in
 * Redis, so whoever can write to Redis can write any reference: `../../etc/passwd`, an absolute path, a symbolic
 * link inside the root that points outside, `link/..` (resolved by the kernel after the link, not lexically). The
 * reference is resolved with realpath (every link followed) and must land strictly inside the root's own
 * realpath; the file is then opened without following a link, must be a regular file, and its descriptor's path
 * (/proc/self/fd) is checked again, so a link swapped in between the check and the open is refused too. Nothing
 * outside the root is opened.
 */
export async function readConfined(rootReal: string, ref: unknown): Promise<Uint8Array> {
  const shown = JSON.stringify(ref);
  const outside = (how: string): never => {
    throw new ImageRefused('OWSD_ERR_FORBIDDEN', `image reference ${shown} ${how}, outside the data root ${rootReal}: refused, nothing was read`);
  };
  if (typeof ref !== 'string' || ref === '' || ref.includes('\0')) throw new ImageRefused('OWSD_ERR_FORBIDDEN', `image reference ${shown} is not a relative file path: refused`);
  if (path.isAbsolute(ref)) outside('is an absolute path');
  if (!isInside(rootReal, path.join(rootReal, ref))) outside('climbs out with ".."');
  let real: string;
  try {
    // Not path.join: the kernel resolves "link/.." after the link, and so must the check.
    real = await fs.promises.realpath(`${rootReal}${path.sep}${ref}`);
  } catch (e) {
    throw new ImageRefused('OWSD_ERR_FILE', `image reference ${shown}: cannot read ${path.join(rootReal, ref)}: ${describe(e)}`);
  }
  if (!isInside(rootReal, real)) outside('leads through a symbolic link');
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') outside('was swapped for a symbolic link');
    throw new ImageRefused('OWSD_ERR_FILE', `image reference ${shown}: cannot open ${real}: ${describe(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ImageRefused('OWSD_ERR_FILE', `image reference ${shown}: ${real} is not a regular file`);
    if (st.size > MAX_IMAGE_FILE_BYTES) throw new ImageRefused('OWSD_ERR_FILE', `image reference ${shown}: ${real} has ${st.size} bytes, more than an image file may have here (${MAX_IMAGE_FILE_BYTES})`);
    const viaFd = await fs.promises.realpath(`/proc/self/fd/${fh.fd}`).catch(() => real);
    if (!isInside(rootReal, viaFd)) outside('was moved by a symbolic link while it was opened');
    try {
      return await fh.readFile();
    } catch (e) {
      throw new ImageRefused('OWSD_ERR_FILE', `image reference ${shown}: cannot read ${real}: ${describe(e)}`);
    }
  } finally {
    await fh.close();
  }
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const id = `${os.hostname()}:${process.pid}`;
  const predictor = await Predictor.open({ bundle: o.bundle, keys: o.keys, modelsDir: o.modelsDir, cloud: o.cloud, ledgerFor: (k) => RedisLedger.open(o.redis, k) });
  const datasets = new Map<string, Promise<Map<string, ImageInput>>>();
  const realRoots = new Map<string, Promise<string>>();
  const realRoot = (root: string): Promise<string> => {
    if (!realRoots.has(root)) {
      const p = fs.promises.realpath(root).catch((e: unknown) => {
        realRoots.delete(root);
        throw new UnrecoverableError(`the data root ${root} cannot be read on this worker: ${describe(e)} (pass --data-root)`);
      });
      realRoots.set(root, p);
    }
    return realRoots.get(root)!;
  };
  const imageOf = async (root: string, item: BatchJob['items'][number]): Promise<ImageInput> => {
    if (item.file !== undefined) return { kind: 'encoded', bytes: await readConfined(await realRoot(root), item.file), name: String(item.file) };
    if (!datasets.has(root)) datasets.set(root, loadDataset(root).then((ds) => new Map(ds.samples.map((s) => [s.id, s.image]))));
    const img = (await datasets.get(root)!).get(item.id);
    if (!img) throw new UnrecoverableError(`image ${item.id} is not in the dataset at ${root}`);
    return img;
  };

  const handle = async (job: Job<BatchJob>): Promise<{ images: number; sent: number }> => {
    const { batchId, items } = job.data;
    const info = await batchInfo(o.redis, batchId);
    const root = o.dataRoot ?? info.root;
    for (const it of items) {
      if (!Number.isInteger(it.index) || it.index < 0 || it.index >= info.total) throw new UnrecoverableError(`job ${job.id ?? '?'}: image index ${JSON.stringify(it.index)} is outside the batch (0 to ${info.total - 1}): refused`);
    }
    const have = await o.redis.hmget(resultsKey(batchId), ...items.map((it) => String(it.index)));
    const todo = items.filter((_, j) => have[j] === null);
    // Each image is read (confined to the data root) on its own: a refused or missing file becomes that image's
    // outcome, stored like a result, and the job's other images are still sent.
    const ok: Array<{ it: JobItem; image: ImageInput }> = [];
    const refused: Array<{ it: JobItem; error: ImageFailure }> = [];
    await Promise.all(
      todo.map(async (it) => {
        try {
          ok.push({ it, image: await imageOf(root, it) });
        } catch (e) {
          if (!(e instanceof ImageRefused)) throw e;
          refused.push({ it, error: { name: it.id, error: e.message, code: e.code, field: 'file' } });
        }
      }),
    );
    ok.sort((a, b) => a.it.index - b.it.index);
    // Each image is decoded on its own too (predictSettled): one undecodable image is that image's outcome, and
    // only the others are sent and counted.
    let outcomes: Awaited<ReturnType<Predictor['predictSettled']>> = [];
    if (ok.length > 0) {
      try {
        outcomes = await predictor.predictSettled(ok.map((x) => x.image), o.top ?? 5);
      } catch (e) {
        // Budget exhausted or the leak screen: retrying elsewhere cannot help.
        if (e instanceof OwsdError && (e.code === 'OWSD_ERR_BUDGET' || e.code === 'OWSD_ERR_IMAGE' || e.code === 'OWSD_ERR_FILE' || e.code === 'OWSD_ERR_LEAK')) throw new UnrecoverableError(e.message);
        throw e;
      }
    }
    const sent: JobItem[] = [];
    ok.forEach(({ it }, j) => {
      const out = outcomes[j]!;
      if ('error' in out) refused.push({ it, error: { name: it.id, error: out.error.message, code: out.error.code, field: 'image' } });
      else sent.push(it);
    });
    refused.sort((a, b) => a.it.index - b.it.index);
    if (todo.length > 0) {
      const m = o.redis.multi();
      ok.forEach(({ it }, j) => {
        const out = outcomes[j]!;
        if (!('error' in out)) m.hsetnx(resultsKey(batchId), String(it.index), JSON.stringify({ index: it.index, ...imageResult(it.id, out), worker: id } satisfies BatchResult));
      });
      for (const { it, error } of refused) {
        m.hsetnx(resultsKey(batchId), String(it.index), JSON.stringify({ index: it.index, ...error, worker: id } satisfies BatchResult));
        m.hsetnx(imageErrorsKey(batchId), String(it.index), error.error);
      }
      await m.exec();
    }
    const r = { images: items.length, sent: sent.length, failed: refused.length };
    o.onJob?.({ job: job.id ?? '?', ...r, ...(refused.length ? { firstError: refused[0]!.error.error } : {}) });
    return { images: r.images, sent: r.sent };
  };

  const lockDuration = o.lockMs ?? 30_000;
  const worker = new Worker<BatchJob>(o.queue ?? DEFAULT_QUEUE, handle, {
    connection: o.redis,
    concurrency: o.concurrency ?? 1,
    lockDuration,
    stalledInterval: o.stalledIntervalMs ?? Math.max(500, Math.floor(lockDuration / 2)),
    // A job whose worker died is put back this many times before it is given up.
    maxStalledCount: 5,
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) void o.redis.hset(failedKey(job.data.batchId), job.id ?? '?', err.message);
  });
  worker.on('error', () => undefined); // connection errors: ioredis reconnects; BullMQ retries
  await worker.waitUntilReady();
  return {
    id,
    async close() {
      await worker.close();
      await predictor.close();
    },
  };
}
