/** `owsd batch submit|status|results` and `owsd worker`: batch jobs on a Redis-backed BullMQ queue (src/scale). */
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { fail, readKeyFile } from '../../index.js';
import { iterateResults, batchStatus, connectRedis, redisError, DEFAULT_QUEUE, startWorker, submitBatch, waitForBatch, type BatchStatus } from '../../scale/index.js';
import { action, collect, intOption, needKeys, printJson, untilSignal } from '../run.js';
import { FROM_OPTION, imageInputs, IMAGES_ARGUMENT } from '../inputs.js';

const REDIS_HELP = 'Redis URL, e.g. redis://127.0.0.1:6379 (every worker, gateway and batch command of a deployment uses the same)';

function line(s: BatchStatus): string {
  const failed = (s.failedImages ? `, ${s.failedImages} of them failed (their lines in batch results carry the reason)` : '') + (s.failedJobs.length ? `, ${s.failedJobs.length} job(s) given up` : '');
  return `batch ${s.id}: ${s.done} of ${s.total} images done (${s.jobs} jobs of ${s.chunk})${failed}${s.complete ? ', complete' : ''}`;
}

async function withRedis<T>(url: string, fn: (r: ReturnType<typeof connectRedis>) => Promise<T>): Promise<T> {
  const r = connectRedis(url, { failFast: true });
  r.on('error', () => undefined); // reported by the command that fails
  try {
    return await fn(r);
  } catch (e) {
    return redisError(url, e);
  } finally {
    r.disconnect();
  }
}

export function registerBatch(program: Command): void {
  const batch = program.command('batch').description('classify a whole dataset with any number of workers (owsd worker) through a Redis queue');

  batch
    .command('submit')
    .description('split a dataset, or image files and folders, into jobs on the queue; prints the batch id')
    .argument(...IMAGES_ARGUMENT)
    .option(...FROM_OPTION)
    .option('--data <path>', 'or a dataset: class folders, CIFAR binary, Tiny-ImageNet val, GTSRB (as for fit)')
    .requiredOption('--redis <url>', REDIS_HELP)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--chunk <n>', 'images per job', intOption('--chunk'), 16)
    .option('--labels <k>', 'use K labels (seeded choice)', intOption('--labels', 2))
    .option('--per-label <n>', 'at most N images per label (seeded choice)', intOption('--per-label'))
    .option('--seed <n>', 'seed of those choices', intOption('--seed', 0), 0)
    .option('--attempts <n>', 'attempts per job before it is given up', intOption('--attempts'), 5)
    .option('--wait', 'wait until every image has a result')
    .option('--json', 'JSON output')
    .action(
      action(async (args: string[], o: { from?: string[]; data?: string; redis: string; queue: string; chunk: number; labels?: number; perLabel?: number; seed: number; attempts: number; wait?: boolean; json?: boolean }) => {
        if (o.data !== undefined && (args.length > 0 || (o.from ?? []).length > 0)) fail('OWSD_ERR_BAD_ARGUMENT', 'batch submit: give --data DATASET or image files/folders (--from LIST), not both');
        if (o.data === undefined && args.length === 0 && (o.from ?? []).length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'batch submit needs --data DATASET, or image files or folders, or --from LIST (one path a line, - for stdin)');
        const images = o.data === undefined ? imageInputs(args, o, 'batch submit') : undefined;
        await withRedis(o.redis, async (redis) => {
          const info = await submitBatch({ redis, queue: o.queue, data: o.data, images, chunk: o.chunk, labels: o.labels, perLabel: o.perLabel, seed: o.seed, attempts: o.attempts });
          if (images && info.root === path.parse(info.root).root) {
            process.stderr.write(`owsd batch submit: the images have no common folder but ${info.root}, so it is the data root: a job edited in Redis could name any file there; keep the images under one folder, or give workers --data-root\n`);
          }
          if (!o.wait) return o.json ? printJson(info) : void process.stdout.write(`${info.id}\n`);
          process.stderr.write(`batch ${info.id}: ${info.total} images in ${info.jobs} jobs on queue ${info.queue}\n`);
          const s = await waitForBatch(redis, info.id);
          if (o.json) printJson(s);
          else process.stdout.write(`${line(s)}\n`);
        });
      }),
    );

  batch
    .command('status')
    .description('how far a batch is')
    .argument('<id>', 'batch id (printed by submit)')
    .requiredOption('--redis <url>', REDIS_HELP)
    .option('--wait', 'wait until every image has a result (fails if a job is given up)')
    .option('--timeout <s>', 'with --wait: give up after S seconds', intOption('--timeout'))
    .option('--json', 'JSON output')
    .action(
      action(async (id: string, o: { redis: string; wait?: boolean; timeout?: number; json?: boolean }) => {
        await withRedis(o.redis, async (redis) => {
          const s = o.wait ? await waitForBatch(redis, id, { timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000 }) : await batchStatus(redis, id);
          if (o.json) printJson(s);
          else process.stdout.write(`${line(s)}\n${s.failedJobs.map((f) => `  given up: ${f.job}: ${f.reason}\n`).join('')}`);
        });
      }),
    );

  batch
    .command('results')
    .description('every image\'s result, in input order, as JSON lines')
    .argument('<id>', 'batch id')
    .requiredOption('--redis <url>', REDIS_HELP)
    .option('--out <file>', 'write the JSON lines to a file instead of stdout')
    .option('--partial', 'print what is there even if some images have no result yet')
    .action(
      action(async (id: string, o: { redis: string; out?: string; partial?: boolean }) => {
        await withRedis(o.redis, async (redis) => {
          const rows = iterateResults(redis, id, { partial: o.partial });
          const first = await rows.next(); // errors (missing results) before any output file is made
          const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
          let failed = 0;
          let total = 0;
          let firstError = '';
          for (let r = first; !r.done; r = await rows.next()) {
            total++;
            if ('error' in r.value && failed++ === 0) firstError = r.value.error;
            if (!out.write(`${JSON.stringify(r.value)}\n`)) await once(out, 'drain');
          }
          if (out !== process.stdout) await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
          if (failed > 0) {
            process.stderr.write(`owsd: batch ${id}: ${failed} of ${total} images failed (their lines carry "error"), first: ${firstError}\n`);
            process.exitCode = 10;
          }
        });
      }),
    );

  program
    .command('worker')
    .description('take batch jobs from the queue: encode, scramble, send (budget reserved in the shared ledger in Redis), predict; run any number')
    .requiredOption('--redis <url>', REDIS_HELP)
    .requiredOption('--bundle <dir>', 'bundle written by owsd fit')
    .requiredOption('--key <file>', 'key file(s) the bundle was fitted with, in order', collect, [])
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--cloud <url>', 'override the cloud URL the bundle names')
    .option('--data-root <dir>', 'where the batch\'s images are on this machine (default: the root recorded in Redis at submission); jobs cannot read outside it, so set it where others can write to Redis')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--top <k>', 'labels per image', intOption('--top'), 5)
    .option('--concurrency <n>', 'jobs at once in this process', intOption('--concurrency'), 1)
    .option('--lock-ms <ms>', 'a job whose worker is silent this long is retried elsewhere', intOption('--lock-ms', 200), 30_000)
    .option('--stalled-ms <ms>', 'how often to look for such jobs (default lock-ms / 2)', intOption('--stalled-ms', 100))
    .option('--quiet', 'no line per job')
    .action(
      action(async (o: { redis: string; bundle: string; key: string[]; queue: string; cloud?: string; dataRoot?: string; models?: string; top: number; concurrency: number; lockMs: number; stalledMs?: number; quiet?: boolean }) => {
        needKeys(o.key, 'worker');
        const redis = connectRedis(o.redis);
        let lastError = '';
        redis.on('error', (e: Error) => {
          if (e.message !== lastError) process.stderr.write(`owsd worker: Redis at ${o.redis.replace(/\/\/[^@/]*@/, '//')}: ${e.message} (retrying)\n`);
          lastError = e.message;
        });
        redis.on('ready', () => (lastError = ''));
        const w = await startWorker({
          redis,
          bundle: o.bundle,
          keys: o.key.map(readKeyFile),
          queue: o.queue,
          cloud: o.cloud ? { url: o.cloud } : undefined,
          dataRoot: o.dataRoot,
          modelsDir: o.models,
          top: o.top,
          concurrency: o.concurrency,
          lockMs: o.lockMs,
          stalledIntervalMs: o.stalledMs,
          onJob: o.quiet ? undefined : (e) => process.stderr.write(`owsd worker: job ${e.job}: ${e.images} images, ${e.sent} sent${e.failed ? `, ${e.failed} failed, first: ${e.firstError}` : ''}\n`),
        }).catch((e: unknown) => {
          redis.disconnect();
          throw e;
        });
        process.stdout.write(`owsd worker ${w.id} ready on queue ${o.queue}\n`);
        const sig = await untilSignal('owsd worker');
        process.stderr.write(`owsd worker: ${sig}, finishing the job in hand\n`);
        await w.close();
        redis.disconnect();
      }),
    );
}
