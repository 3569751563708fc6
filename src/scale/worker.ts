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
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { OwsdError } from '../errors.js';
import { loadDataset } from '../data/detect.js';
import type { Key } from '../key/keyfile.js';
import { Predictor } from '../pipeline/predict.js';
import type { CloudSettings } from '../pipeline/session.js';
import type { ImageInput } from '../types.js';
import { batchInfo, DEFAULT_QUEUE, failedKey, resultsKey, type BatchJob, type ImageResult } from './jobs.js';
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
  onJob?: (e: { job: string; images: number; sent: number }) => void;
}

export interface RunningWorker {
  id: string;
  /** Finish the jobs in hand, then stop. */
  close(): Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const id = `${os.hostname()}:${process.pid}`;
  const predictor = await Predictor.open({ bundle: o.bundle, keys: o.keys, modelsDir: o.modelsDir, cloud: o.cloud, ledgerFor: (k) => RedisLedger.open(o.redis, k) });
  const datasets = new Map<string, Promise<Map<string, ImageInput>>>();
  const imageOf = async (root: string, item: BatchJob['items'][number]): Promise<ImageInput> => {
    if (item.file !== undefined) return { kind: 'file', path: path.join(root, item.file) };
    if (!datasets.has(root)) datasets.set(root, loadDataset(root).then((ds) => new Map(ds.samples.map((s) => [s.id, s.image]))));
    const img = (await datasets.get(root)!).get(item.id);
    if (!img) throw new UnrecoverableError(`image ${item.id} is not in the dataset at ${root}`);
    return img;
  };

  const handle = async (job: Job<BatchJob>): Promise<{ images: number; sent: number }> => {
    const { batchId, items } = job.data;
    const info = await batchInfo(o.redis, batchId);
    const root = o.dataRoot ?? info.root;
    const have = await o.redis.hmget(resultsKey(batchId), ...items.map((it) => String(it.index)));
    const todo = items.filter((_, j) => have[j] === null);
    if (todo.length > 0) {
      let preds;
      try {
        const images = await Promise.all(todo.map((it) => imageOf(root, it)));
        preds = await predictor.predict(images, o.top ?? 5);
      } catch (e) {
        // Budget exhausted or a bad image: retrying elsewhere cannot help.
        if (e instanceof OwsdError && (e.code === 'OWSD_ERR_BUDGET' || e.code === 'OWSD_ERR_IMAGE' || e.code === 'OWSD_ERR_FILE' || e.code === 'OWSD_ERR_LEAK')) throw new UnrecoverableError(e.message);
        throw e;
      }
      const m = o.redis.multi();
      todo.forEach((it, j) => m.hsetnx(resultsKey(batchId), String(it.index), JSON.stringify({ index: it.index, id: it.id, predictions: preds[j]!, worker: id } satisfies ImageResult)));
      await m.exec();
    }
    const r = { images: items.length, sent: todo.length };
    o.onJob?.({ job: job.id ?? '?', ...r });
    return r;
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
