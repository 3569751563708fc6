/**
 * Scale-out throughput: the same batch (`--images` Imagenette images in jobs of `--chunk`) classified by 1, 2 and 4
 * `owsd worker` processes on this machine, through a real redis-server on 127.0.0.1 (started here, no persistence)
 * and the embedded cloud in its own process, all on loopback. Workers are started and ready before the clock
 * starts (model loading is excluded); the clock stops when every image has a result. Prints the load average,
 * images/s per worker count and the ratio to 1 worker, then one JSON line (reports/bench/scale.json).
 *
 *   npm run build && OWSD_MODELS=../shared/models OWSD_DATA=../shared/data node dist/bench/scale.js
 *     [--model cifar10-resnet20] [--size 32] [--images 480] [--chunk 8] [--workers 1,2,4]
 *
 * Workers, cloud, Redis and this process share the machine's cores: on 2 cores, more than 2 workers cannot scale.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { connectRedis, submitBatch, waitForBatch } from '../src/scale/index.js';
import { dataDir, modelsDir, repoRoot } from '../test/helpers.js';
import { startRedis } from '../test/redis.js';
import { printTable, saveResult, startCloudProcess } from './lib.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'cifar10-resnet20' },
    size: { type: 'string', default: '32' },
    images: { type: 'string', default: '480' },
    chunk: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1,2,4' },
  },
});
const counts = args.workers!.split(',').map(Number);
const chunk = Number(args.chunk);
const imagenette = path.join(dataDir, 'imagenette-val');
const labels = 4;
const perLabel = Math.ceil(Number(args.images) / labels);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-bench-scale-'));
const keyFile = path.join(dir, 'bench.key');
writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(9), imageSize: Number(args.size), budget: 1_000_000 }));
const redisServer = await startRedis();
const cloud = await startCloudProcess(args.model!);
const bundle = path.join(dir, 'bench.bundle');
await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: args.model! }, data: { path: imagenette, labels, perLabel: 10, testFraction: 0, seed: 0 }, out: bundle, modelsDir, iin: { epochs: 10 } });
const redis = connectRedis(redisServer.url);

function startWorker(queue: string): Promise<ChildProcess> {
  const argv = [path.join(repoRoot, 'dist/src/cli/main.js'), 'worker', '--redis', redisServer.url, '--queue', queue, '--bundle', bundle, '--key', keyFile, '--cloud', cloud.url, '--models', modelsDir, '--quiet'];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => (c.toString().includes('ready') ? resolve(child) : undefined));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
}

const rows: Array<{ workers: number; images: number; seconds: number; imagesPerSecond: number; ratio: number; loadAverage: number }> = [];
for (const w of counts) {
  const queue = `bench-${w}`;
  const workers = await Promise.all(Array.from({ length: w }, () => startWorker(queue)));
  const t0 = performance.now();
  const info = await submitBatch({ redis, queue, data: imagenette, labels, perLabel, seed: 1, chunk });
  await waitForBatch(redis, info.id, { pollMs: 50 });
  const seconds = (performance.now() - t0) / 1000;
  const imagesPerSecond = info.total / seconds;
  rows.push({ workers: w, images: info.total, seconds: +seconds.toFixed(2), imagesPerSecond: +imagesPerSecond.toFixed(1), ratio: +(imagesPerSecond / (rows[0]?.imagesPerSecond ?? imagesPerSecond)).toFixed(2), loadAverage: +os.loadavg()[0]!.toFixed(2) });
  await Promise.all(workers.map((c) => new Promise((res) => (c.once('exit', res), c.kill('SIGTERM')))));
}
redis.disconnect();
await cloud.stop();
await redisServer.stop();
fs.rmSync(dir, { recursive: true, force: true });

console.log(`scale: encoder mobilenetv2-12-int8, ${args.size}px key, cloud ${args.model} (own process), jobs of ${chunk}, redis-server ${redisServer.url}, ${os.availableParallelism()} cores`);
printTable(rows, ['workers', 'images', 'seconds', 'imagesPerSecond', 'ratio', 'loadAverage']);
saveResult('scale', { model: args.model, size: Number(args.size), chunk, rows });
