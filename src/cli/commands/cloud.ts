/**
 * `owsd cloud serve`: host ONNX classifiers as a KServe V2 / Open Inference Protocol server (the embedded cloud).
 * `owsd cloud accuracy`: top-1/top-5 of such a cloud on PLAINTEXT dataset images (a test of the cloud itself).
 */
import type { Command } from 'commander';
import { action, intOption, printJson, collect, untilSignal, QUIET_OPTION } from '../run.js';
import { createProgress } from '../progress.js';
import { startCloudServer, type RunningCloud } from '../../server/index.js';
import { buildLabelMap, createPlaintextCloudProbe, measurePlaintextCloudAccuracy, spreadSample } from '../../research.js';
import { loadDataset, resolveModel, fail } from '../../index.js';
import { addModelFlags, modelEntry, type ModelFlags } from '../model-flags.js';

interface ServeOptions extends ModelFlags {
  model: string[];
  port: number;
  host: string;
  models?: string;
  maxBody: number;
  threads?: number;
  quiet?: boolean;
}

interface AccuracyOptions extends ModelFlags {
  model: string;
  data: string;
  limit?: number;
  models?: string;
  url?: string;
  batch: number;
  concurrency: number;
  threads?: number;
  quiet?: boolean;
  json?: boolean;
}

async function serve(opts: ServeOptions): Promise<void> {
  const started = performance.now();
  const cloud: RunningCloud = await startCloudServer({
    model: opts.model,
    port: opts.port,
    host: opts.host,
    modelsDir: opts.models,
    entry: modelEntry(opts),
    maxBodyBytes: opts.maxBody,
    threads: opts.threads,
    logger: opts.quiet ? false : undefined,
  });
  const names = cloud.models.map((m) => `${m.name} (${m.classifier.numClasses} classes, ${m.classifier.inputSize}px)`).join(', ');
  process.stderr.write(`owsd cloud: serving ${names} at ${cloud.url} (KServe V2 / Open Inference Protocol), ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  for (const m of cloud.models) process.stderr.write(`owsd cloud:   POST ${cloud.url}/v2/models/${encodeURIComponent(m.name)}/infer\n`);
  const sig = await untilSignal('owsd cloud');
  process.stderr.write(`owsd cloud: ${sig}: finishing in-flight requests and shutting down\n`);
  await cloud.close();
  process.stderr.write('owsd cloud: stopped\n');
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

async function accuracy(opts: AccuracyOptions): Promise<void> {
  const dataset = await loadDataset(opts.data);
  const samples = spreadSample(dataset.samples, opts.limit);
  let cloud: RunningCloud | undefined;
  let url = opts.url;
  if (!url) {
    cloud = await startCloudServer({ model: opts.model, port: 0, host: '127.0.0.1', modelsDir: opts.models, entry: modelEntry(opts), logger: false, threads: opts.threads });
    url = cloud.url;
  }
  try {
    const modelName = cloud ? cloud.models[0]!.name : opts.model;
    const probe = createPlaintextCloudProbe({ url, modelName, maxBatch: opts.batch, concurrency: opts.concurrency });
    // The cloud's own word on its classes (owsd_labels extension), else the local model spec.
    const meta = await probe.metadata();
    let ids = meta.labels?.ids;
    if (!ids && !opts.url) ids = (await resolveModel(opts.model, { modelsDir: opts.models, entry: modelEntry(opts) })).labels?.ids;
    if (!ids) {
      const fix = opts.url
        ? 'the server must give them (owsd cloud serve does, from the model\'s "labels")'
        : /\.onnx$/i.test(opts.model) && !opts.labels
          ? 'pass --labels cifar-10 (or imagenet-1k, cifar-100, a labels file with one name a line), or add "labels": "cifar-10" to its sidecar FILE.onnx.json'
          : 'add "labels": "cifar-10" (or "imagenet-1k", "cifar-100", a labels file with one name a line, or an array of names) to its entry in models.json';
      fail('OWSD_ERR_BAD_ARGUMENT', `the cloud does not say the class labels of model '${modelName}', so its answers cannot be compared with the dataset's labels: ${fix}`);
    }
    const labelMap = buildLabelMap(dataset.classes, ids, dataset.classNames);
    const knownClasses = labelMap.filter((i) => i >= 0).length;
    if (knownClasses === 0) {
      fail('OWSD_ERR_BAD_ARGUMENT', `model '${modelName}' knows none of the ${dataset.classes.length} classes of ${dataset.root} (e.g. ${dataset.classes.slice(0, 3).join(', ')})`);
    }
    const bars = createProgress({ command: 'cloud accuracy', quiet: opts.quiet });
    const result = await measurePlaintextCloudAccuracy({
      probe,
      samples,
      labelMap,
      onProgress: (d, t) => bars.on('send', d, t),
    }).finally(() => bars.stop());
    const report = {
      model: modelName,
      cloud: url,
      embedded: cloud !== undefined,
      dataset: dataset.root,
      format: dataset.format,
      classesKnown: `${knownClasses}/${dataset.classes.length}`,
      ...result,
      note: 'plaintext images sent to the cloud: a test of the cloud classifier itself, not of owsd',
    };
    if (opts.json) printJson(report);
    else {
      process.stdout.write(
        `${modelName} on ${dataset.root} (${dataset.format}, ${result.evaluated} images${result.skipped ? `, ${result.skipped} of classes the model does not know left out` : ''}) via ${url}\n` +
          `top-1 ${pct(result.accuracy.top1)} (${result.correct.top1})  top-5 ${pct(result.accuracy.top5)} (${result.correct.top5})  ${result.imagesPerSecond.toFixed(1)} images/s, ${result.seconds.toFixed(1)} s\n` +
          `ties: ${result.ties.top1} image${result.ties.top1 === 1 ? '' : 's'} tied for top-1 and ${result.ties.top5} at the top-5 boundary, counted as misses above (as hits: top-1 ${pct(result.accuracyTiesAsHits.top1)}, top-5 ${pct(result.accuracyTiesAsHits.top5)})\n`,
      );
    }
  } finally {
    await cloud?.close();
  }
}

export function registerCloud(program: Command): void {
  const cloud = program.command('cloud').description('the embedded cloud classifier (KServe V2 / Open Inference Protocol) and its checks');

  const serveCmd = cloud
    .command('serve')
    .description('serve ONNX classifiers over the KServe V2 / Open Inference Protocol REST API until SIGTERM/SIGINT')
    .requiredOption('--model <name|path>', 'model name in the models directory or .onnx path (repeat to serve several)', collect, [] as string[])
    .option('--port <port>', 'port (0 picks a free one)', intOption('--port', 0), 8080)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--models <dir>', 'models directory holding models.json (default: $OWSD_MODELS)')
    .option('--max-body <bytes>', 'largest request body accepted (larger: 413)', intOption('--max-body', 1024), 64 * 1024 * 1024)
    .option('--threads <n>', 'onnxruntime threads per model', intOption('--threads', 1))
    .option('--quiet', 'no request log');
  // The flags for a bare .onnx path come after the essentials.
  addModelFlags(serveCmd)
    .action(action(async (opts: ServeOptions) => serve(opts)));

  addModelFlags(cloud
    .command('accuracy'))
    .description('top-1/top-5 of the cloud on PLAINTEXT dataset images (tests the cloud classifier; owsd itself never sends plaintext)')
    .requiredOption('--model <name|path>', 'model to serve (or, with --url, the model name on that server)')
    .requiredOption('--data <path>', 'dataset (CIFAR-10/100 folder, class folders such as imagenette-val, ...)')
    .option('--limit <n>', 'at most n images, spread evenly over the dataset', intOption('--limit', 1))
    .option('--models <dir>', 'models directory holding models.json (default: $OWSD_MODELS)')
    .option('--url <url>', 'measure this running KServe V2 server instead of starting one (it will SEE the images)')
    .option('--batch <n>', 'images per request', intOption('--batch', 1), 16)
    .option('--concurrency <n>', 'requests in flight', intOption('--concurrency', 1), 2)
    .option('--threads <n>', 'onnxruntime threads for the embedded server', intOption('--threads', 1))
    .option(...QUIET_OPTION)
    .option('--json', 'print the result as JSON')
    .action(action(async (opts: AccuracyOptions) => accuracy(opts)));
}
