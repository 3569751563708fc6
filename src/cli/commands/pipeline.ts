/** owsd fit | predict | eval | demo */
import type { Command } from 'commander';
import { evaluate, fit, openCurrentBundle, Predictor, readKeyFile, type OwsdError, settings, type IinEpochRecord } from '../../index.js';
import { runDemo, startCloudServer, startGateway } from '../../server/index.js';
import { serveUntilSignal } from './serve.js';
import { action, collect, floatOption, intOption, printJson } from '../run.js';
import { progress, type Progress } from '../progress.js';
import { renderDemo, renderEval, renderFit } from '../render.js';
import { FROM_OPTION, imageInputs, IMAGES_ARGUMENT } from '../inputs.js';

/** One progress bar per stage, created on first report. */
function stageBars(): { on: (stage: string, done: number, total: number) => void; stop: () => void } {
  const bars = new Map<string, Progress>();
  const seen = new Map<string, number>();
  return {
    on(stage, done, total) {
      if (!bars.has(stage)) bars.set(stage, progress(stage, total, 16));
      const before = seen.get(stage) ?? 0;
      // 'encode' reports a running total, 'cloud' reports increments.
      const step = stage === 'cloud' ? done : done - before;
      seen.set(stage, stage === 'cloud' ? before + done : done);
      bars.get(stage)!.tick(step);
    },
    stop() {
      for (const b of bars.values()) b.stop();
    },
  };
}

function epochLogger(verbose: boolean) {
  return (which: string, e: IinEpochRecord) => {
    if (verbose) process.stderr.write(`iin[${which}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} val ${e.valLoss?.toFixed(4) ?? '-'} acc ${e.valAccuracy === null ? '-' : (100 * e.valAccuracy).toFixed(1) + '%'}\n`);
  };
}

interface CloudFlags {
  cloud: string;
  modelName: string;
  protocol?: 'kserve' | 'tfserving';
  timeout?: number;
  concurrency?: number;
}

export function registerPipeline(program: Command): void {
  program
    .command('fit')
    .description('encode, scramble and send labelled images, train the IIN, write a bundle (everything but the secret)')
    .requiredOption('--key <file>', 'key file (repeat for several keys: their cloud vectors are concatenated)', collect, [])
    .requiredOption('--encoder <name>', 'encoder model name or .onnx path (repeat for several)', collect, [])
    .requiredOption('--cloud <url>', 'cloud base URL')
    .requiredOption('--model-name <m>', 'model name at the cloud')
    .requiredOption('--data <path>', 'labelled data (class folders, CIFAR binary, Tiny-ImageNet val, GTSRB)')
    .requiredOption('--out <bundle>', 'bundle folder to write')
    .option('--protocol <p>', 'kserve (default) or tfserving')
    .option('--labels <k>', 'use K labels (seeded choice)', intOption('--labels', 2))
    .option('--per-label <n>', 'use at most N images per label (seeded choice)', intOption('--per-label'))
    .option('--test-fraction <f>', 'hold out this share of each label for eval', floatOption('--test-fraction', 0, 0.9), 0)
    .option('--seed <n>', 'seed for every random choice', intOption('--seed', 0), 0)
    .option('--hidden <n>', 'IIN hidden units', intOption('--hidden'))
    .option('--epochs <n>', 'IIN epochs at most', intOption('--epochs'))
    .option('--work <dir>', 'where answers are journaled for resuming (default <out>.work)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--timeout <ms>', 'cloud request timeout', intOption('--timeout'))
    .option('--concurrency <n>', 'cloud requests in flight', intOption('--concurrency'))
    .option('--batch-size <n>', 'images encoded, scrambled and sent per step (default 32)', intOption('--batch-size', 1))
    .option('--skip-bad-images', 'leave out images that cannot be read (listed and counted) instead of stopping at the first')
    .option('--verbose', 'log every IIN epoch')
    .option('--json', 'JSON output')
    .action(
      action(async (o: CloudFlags & { batchSize?: number; skipBadImages?: boolean; key: string[]; encoder: string[]; data: string; out: string; labels?: number; perLabel?: number; testFraction: number; seed: number; hidden?: number; epochs?: number; work?: string; models?: string; verbose?: boolean; json?: boolean }) => {
        const bars = stageBars();
        const iin = { ...(o.hidden ? { hidden: o.hidden } : {}), ...(o.epochs ? { epochs: o.epochs } : {}) };
        const r = await fit({
          keys: o.key.map(readKeyFile),
          encoders: o.encoder,
          cloud: { url: o.cloud, modelName: o.modelName, protocol: o.protocol, timeoutMs: o.timeout, concurrency: o.concurrency },
          data: { path: o.data, labels: o.labels, perLabel: o.perLabel, testFraction: o.testFraction, seed: o.seed, ...(o.skipBadImages ? { badImages: 'skip' as const } : {}) },
          out: o.out,
          workDir: o.work,
          modelsDir: o.models,
          iin,
          batchSize: o.batchSize,
          onProgress: bars.on,
          onEpoch: epochLogger(Boolean(o.verbose)),
        });
        bars.stop();
        const { bundle: _b, ...summary } = r;
        if (o.json) printJson(summary);
        else process.stdout.write(renderFit(summary) + '\n');
      }),
    );

  program
    .command('predict')
    .description('true-label predictions for images, with a bundle and its key(s)')
    .argument(...IMAGES_ARGUMENT).option(...FROM_OPTION)
    .requiredOption('--bundle <dir>', 'bundle written by owsd fit')
    .requiredOption('--key <file>', 'key file(s) the bundle was fitted with', collect, [])
    .option('--top <k>', 'labels per image', intOption('--top'), 5)
    .option('--cloud <url>', 'override the cloud URL the bundle names')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--json', 'JSON output')
    .action(
      action(async (images: string[], o: { bundle: string; key: string[]; top: number; cloud?: string; models?: string; json?: boolean }) => {
        images = imageInputs(images, o, 'predict');
        const cur = openCurrentBundle(o.bundle, o.key); // a retired key: its successor is used, and we say so
        if (cur.notice) process.stderr.write(`owsd predict: ${cur.notice}\n`);
        const p = await Predictor.open({ bundle: cur.bundle, keys: cur.keys, modelsDir: o.models, cloud: o.cloud ? { url: o.cloud } : undefined });
        const outcomes = await p.predictSettled(images.map((path) => ({ kind: 'file' as const, path })), o.top).finally(() => p.close());
        // Every image gets its own outcome; the exit code says whether any failed (the first failure's code).
        const firstError = outcomes.find((r): r is { error: OwsdError } => 'error' in r)?.error;
        if (o.json) printJson(images.map((image, i) => { const r = outcomes[i]!; return 'error' in r ? { image, error: r.error.message, code: r.error.code } : { image, predictions: r.predictions }; }));
        else {
          outcomes.forEach((r, i) => {
            const img = images[i]!;
            if ('error' in r) process.stdout.write(`${img}\n  error: ${r.error.message}\n`);
            else process.stdout.write(`${img}\n${r.predictions.map((x) => `  ${(100 * x.score).toFixed(1).padStart(5)}%  ${x.name} (${x.label})`).join('\n')}\n`);
          });
        }
        if (firstError) {
          const failed = outcomes.filter((r) => 'error' in r).length;
          process.stderr.write(`owsd: ${failed} of ${images.length} images could not be classified (each is listed above)\n`);
          process.exitCode = firstError.exitCode;
        }
      }),
    );

  program
    .command('eval')
    .description('top-1/top-5 of the IIN against ground truth, beside the embedding-alone and cloud-alone baselines')
    .requiredOption('--bundle <dir>', 'bundle written by owsd fit')
    .requiredOption('--key <file>', 'key file(s) the bundle was fitted with', collect, [])
    .option('--data <path>', 'labelled data (default: the held-out part of the bundle\'s own data)')
    .option('--labels <k>', 'with --data: use K labels', intOption('--labels', 2))
    .option('--per-label <n>', 'with --data: at most N images per label', intOption('--per-label'))
    .option('--seed <n>', 'with --data: seed', intOption('--seed', 0), 0)
    .option('--cloud <url>', 'override the cloud URL the bundle names')
    .option('--skip-bad-images', 'with --data: leave out images that cannot be read (listed and counted); without --data the bundle\'s own choice holds')
    .option('--plaintext-reference', 'ALSO send the plaintext images to the cloud to measure its own accuracy (only for a cloud you run yourself)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--json', 'JSON output with every setting and seed')
    .action(
      action(async (o: { skipBadImages?: boolean; bundle: string; key: string[]; data?: string; labels?: number; perLabel?: number; seed: number; cloud?: string; plaintextReference?: boolean; models?: string; json?: boolean }) => {
        const cur = openCurrentBundle(o.bundle, o.key); // a retired key: its successor is used, and we say so
        if (cur.notice) process.stderr.write(`owsd eval: ${cur.notice}\n`);
        const r = await evaluate({
          bundle: cur.bundle,
          keys: cur.keys,
          data: o.data ? { path: o.data, labels: o.labels, perLabel: o.perLabel, testFraction: 0, seed: o.seed, ...(o.skipBadImages ? { badImages: 'skip' as const } : {}) } : undefined,
          cloud: o.cloud ? { url: o.cloud } : undefined,
          plaintextReference: o.plaintextReference,
          modelsDir: o.models,
        });
        if (o.json) printJson(r);
        else process.stdout.write(renderEval(r) + '\n');
      }),
    );

  program
    .command('demo')
    .description('the whole loop on Imagenette with an embedded cloud: fit, evaluate, print the table (needs OWSD_MODELS and OWSD_DATA)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data-dir <dir>', 'data directory holding imagenette-val (default $OWSD_DATA)')
    .option('--cloud-model <name>', 'model the embedded cloud hosts', 'shufflenet-v2-12-qdq')
    .option('--encoder <name>', 'encoder (repeat for several)', collect, [])
    .option('--labels <k>', 'labels', intOption('--labels', 2), 10)
    .option('--per-label <n>', 'images per label', intOption('--per-label'), 50)
    .option('--seed <n>', 'seed', intOption('--seed', 0), 0)
    .option('--image-size <n>', 'scrambled image size', intOption('--image-size'), 256)
    .option('--work <dir>', 'working folder (default a temp folder)')
    .option('--serve', 'then serve the fitted bundle: the gateway\'s web page and API, with the embedded cloud, until Ctrl-C')
    .option('--port <n>', 'with --serve: the gateway\'s port (0: any free port)', intOption('--port', 0), 8090)
    .option('--verbose', 'log every IIN epoch')
    .option('--json', 'JSON output')
    .action(
      action(async (o: { models?: string; dataDir?: string; cloudModel: string; encoder: string[]; labels: number; perLabel: number; seed: number; imageSize: number; work?: string; serve?: boolean; port: number; verbose?: boolean; json?: boolean }) => {
        const bars = stageBars();
        const modelsDir = o.models ?? settings.modelsDir;
        const cloud = o.serve && modelsDir ? await startCloudServer({ model: o.cloudModel, modelsDir, port: 0, host: '127.0.0.1', logger: false }) : undefined;
        try {
          const d = await runDemo({
            cloud,
            modelsDir: o.models,
            dataDir: o.dataDir,
            cloudModel: o.cloudModel,
            encoders: o.encoder.length ? o.encoder : undefined,
            labels: o.labels,
            perLabel: o.perLabel,
            seed: o.seed,
            imageSize: o.imageSize,
            workDir: o.work,
            onProgress: bars.on,
            onEpoch: epochLogger(Boolean(o.verbose)),
          });
          bars.stop();
          if (o.json) printJson(d);
          else process.stdout.write(renderDemo(d) + '\n');
          if (cloud) {
            const g = await startGateway({ bundle: d.bundleDir, keyFiles: [d.keyFile], modelsDir, port: o.port });
            await serveUntilSignal(g, `\nthe demo in the browser (gateway + embedded cloud ${o.cloudModel} at ${cloud.url})`);
          }
        } finally {
          await cloud?.close();
        }
      }),
    );
}
