/** owsd fit | predict | eval | demo */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { evaluate, fit, journaledAnswers, loadDataset, openCurrentBundle, Predictor, readKeyFile, IIN_DEFAULTS, validateImageSize, DEFAULT_IMAGE_SIZE, type OwsdError, type PredictOutcome, settings, type IinEpochRecord } from '../../index.js';
import { runDemo, startCloudServer, startGateway } from '../../server/index.js';
import { serveUntilSignal } from './serve.js';
import { action, collect, flagError, floatOption, intOption, needKeys, needList, printJson, QUIET_OPTION, resumeCommand, withFlag } from '../run.js';
import { createProgress, progressWith, type PhaseProgress } from '../progress.js';
import { fitLocalAdvice, demoJson, evalJson, fitJson, predictJson, renderDemo, renderEval, renderFit, type PredictInput } from '../render.js';
import { FROM_OPTION, imageInputs, IMAGES_ARGUMENT } from '../inputs.js';

/**
 * Ctrl-C (or SIGTERM) during a fit: stop the display, say how many answers are journaled and the command that
 * resumes, and exit 130 (143 for SIGTERM). Returns the function that removes the handlers.
 */
function onInterrupt(who: string, p: PhaseProgress, workDir: string): () => void {
  const handler = (sig: NodeJS.Signals): void => {
    p.stop();
    const n = journaledAnswers(workDir);
    process.stderr.write(
      `\nowsd ${who}: interrupted (${sig}): ${n} cloud answer(s) journaled in ${workDir}${n > 0 ? '; they are not sent again' : ''}. Resume with:\n  ${resumeCommand()}\n`,
    );
    process.exit(sig === 'SIGTERM' ? 143 : 130);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** --verbose: a line per IIN epoch, printed above the progress display (and even with --quiet). */
function epochLogger(verbose: boolean, p: PhaseProgress) {
  return (which: string, e: IinEpochRecord) => {
    if (verbose) p.note(`iin[${which}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} val ${e.valLoss?.toFixed(4) ?? '-'} acc ${e.valAccuracy === null ? '-' : (100 * e.valAccuracy).toFixed(1) + '%'}`, { evenQuiet: true });
  };
}

interface CloudFlags {
  cloud: string;
  modelName: string;
  protocol?: 'kserve' | 'tfserving';
  wire?: 'json' | 'binary' | 'auto';
  timeout?: number;
  concurrency?: number;
}

/** Images predict classifies, at most this many decoded at once. */
const PREDICT_CHUNK = 256;

/** What predict classifies: image files (as named), or a dataset's samples (named by id, with their true label). */
async function predictInputs(args: string[], o: { from?: string[]; data?: string }): Promise<PredictInput[]> {
  if (o.data !== undefined && (args.length > 0 || (o.from ?? []).length > 0)) flagError('--data', 'OWSD_ERR_BAD_ARGUMENT', 'predict: give --data DATASET or image files/folders (--from LIST), not both');
  if (o.data === undefined) return imageInputs(args, o, 'predict').map((path) => ({ name: path, image: { kind: 'file' as const, path } }));
  const ds = await loadDataset(o.data);
  return ds.samples.map((s) => ({ name: s.id, image: s.image, truth: { label: ds.classes[s.label]!, name: ds.classNames?.[s.label] ?? ds.classes[s.label]! } }));
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
    .option('--wire <w>', 'KServe: auto (default: binary when the server lists the tensor extension, else JSON), json, or binary (raw PNGs, fewer bytes); kept in the bundle')
    .option('--labels <k>', 'use K labels (seeded choice)', intOption('--labels', 2))
    .option('--per-label <n>', 'use at most N images per label (seeded choice)', intOption('--per-label'))
    .option('--test-fraction <f>', 'hold out this share of each label for eval', floatOption('--test-fraction', 0, 0.9), 0)
    .option('--seed <n>', 'seed for every random choice', intOption('--seed', 0), 0)
    .option('--hidden <n>', `IIN hidden units (default: ${IIN_DEFAULTS.hidden})`, intOption('--hidden'))
    .option('--epochs <n>', `IIN epochs at most (default: ${IIN_DEFAULTS.epochs})`, intOption('--epochs'))
    .option('--work <dir>', 'where answers are journaled for resuming (default <out>.work)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--timeout <ms>', 'cloud request timeout in ms (default: 30000)', intOption('--timeout'))
    .option('--concurrency <n>', 'cloud requests in flight (default: 4)', intOption('--concurrency'))
    .option('--batch-size <n>', 'images encoded, scrambled and sent per step (default 32)', intOption('--batch-size', 1))
    .option('--skip-bad-images', 'leave out images that cannot be read (listed and counted) instead of stopping at the first')
    .option('--verbose', 'log every IIN epoch')
    .option(...QUIET_OPTION)
    .option('--json', 'JSON output')
    .action(
      action(async (o: CloudFlags & { batchSize?: number; skipBadImages?: boolean; key: string[]; encoder: string[]; data: string; out: string; labels?: number; perLabel?: number; testFraction: number; seed: number; hidden?: number; epochs?: number; work?: string; models?: string; verbose?: boolean; quiet?: boolean; json?: boolean }) => {
        needKeys(o.key, 'fit');
        needList(o.encoder, '--encoder', 'fit needs an encoder: --encoder NAME (a model name in models.json, or an .onnx path)');
        const workDir = o.work ?? `${path.resolve(o.out)}.work`;
        const bars = createProgress({ command: 'fit', quiet: o.quiet });
        const release = onInterrupt('fit', bars, workDir);
        const iin = { ...(o.hidden ? { hidden: o.hidden } : {}), ...(o.epochs ? { epochs: o.epochs } : {}) };
        const r = await fit({
          keys: o.key.map(readKeyFile),
          encoders: o.encoder,
          cloud: { url: o.cloud, modelName: o.modelName, protocol: o.protocol, wire: o.wire, timeoutMs: o.timeout, concurrency: o.concurrency },
          data: { path: o.data, labels: o.labels, perLabel: o.perLabel, testFraction: o.testFraction, seed: o.seed, ...(o.skipBadImages ? { badImages: 'skip' as const } : {}) },
          out: o.out,
          workDir,
          modelsDir: o.models,
          iin,
          batchSize: o.batchSize,
          onProgress: progressWith(bars, workDir),
          onEpoch: epochLogger(Boolean(o.verbose), bars),
        }).finally(() => {
          release();
          bars.stop();
        });
        const { bundle: _b, ...summary } = r;
        if (o.json) printJson({ ...fitJson(summary, r.bundle.keyIds), ...fitLocalAdvice(summary) });
        else process.stdout.write(renderFit(summary) + '\n');
      }),
    );

  program
    .command('predict')
    .description('true-label predictions for images (or a dataset, --data), with a bundle and its key(s)')
    .argument(...IMAGES_ARGUMENT).option(...FROM_OPTION)
    .option('--data <path>', 'or a dataset: class folders, CIFAR binary, Tiny-ImageNet val, GTSRB (as for eval); each result names its true label')
    .requiredOption('--bundle <dir>', 'bundle written by owsd fit')
    .requiredOption('--key <file>', 'key file(s) the bundle was fitted with', collect, [])
    .option('--top <k>', 'labels per image', intOption('--top'), 5)
    .option('--cloud <url>', 'override the cloud URL the bundle names')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option(...QUIET_OPTION)
    .option('--json', 'JSON output')
    .action(
      action(async (args: string[], o: { from?: string[]; data?: string; bundle: string; key: string[]; top: number; cloud?: string; models?: string; quiet?: boolean; json?: boolean }) => {
        needKeys(o.key, 'predict');
        const inputs = await predictInputs(args, o);
        const cur = openCurrentBundle(o.bundle, o.key); // a retired key: its successor is used, and we say so
        if (cur.notice) process.stderr.write(`owsd predict: ${cur.notice}\n`);
        const p = await Predictor.open({ bundle: cur.bundle, keys: cur.keys, modelsDir: o.models, cloud: o.cloud ? { url: o.cloud } : undefined });
        const outcomes: PredictOutcome[] = [];
        const bars = createProgress({ command: 'predict', quiet: o.quiet });
        try {
          // A chunk at a time: a 10,000-image dataset is never decoded all at once.
          for (let i = 0; i < inputs.length; i += PREDICT_CHUNK) {
            outcomes.push(...(await p.predictSettled(inputs.slice(i, i + PREDICT_CHUNK).map((x) => x.image), o.top, { onProgress: progressWith(bars) })));
          }
        } finally {
          bars.stop();
          await p.close();
        }
        // Every image gets its own outcome; the exit code says whether any failed (the first failure's code).
        const firstError = outcomes.find((r): r is { error: OwsdError } => 'error' in r)?.error;
        const failed = outcomes.filter((r) => 'error' in r).length;
        if (o.json) printJson(predictJson(inputs, outcomes, cur.keys.map((k) => k.id)));
        else {
          outcomes.forEach((r, i) => {
            const { name, truth } = inputs[i]!;
            process.stdout.write(`${name}${truth ? `  (true label: ${truth.name})` : ''}\n`);
            if ('error' in r) process.stdout.write(`  error: ${r.error.message}\n`);
            else process.stdout.write(`${r.predictions.map((x) => `  ${(100 * x.score).toFixed(1).padStart(5)}%  ${x.name} (${x.label})`).join('\n')}\n`);
          });
        }
        if (firstError) {
          process.stderr.write(`owsd: ${failed} of ${inputs.length} images could not be classified (each is listed above)\n`);
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
    .option(...QUIET_OPTION)
    .option('--json', 'JSON output with every setting and seed')
    .action(
      action(async (o: { skipBadImages?: boolean; bundle: string; key: string[]; data?: string; labels?: number; perLabel?: number; seed: number; cloud?: string; plaintextReference?: boolean; models?: string; quiet?: boolean; json?: boolean }) => {
        needKeys(o.key, 'eval');
        const cur = openCurrentBundle(o.bundle, o.key); // a retired key: its successor is used, and we say so
        if (cur.notice) process.stderr.write(`owsd eval: ${cur.notice}\n`);
        const bars = createProgress({ command: 'eval', quiet: o.quiet });
        const r = await evaluate({
          bundle: cur.bundle,
          keys: cur.keys,
          data: o.data ? { path: o.data, labels: o.labels, perLabel: o.perLabel, testFraction: 0, seed: o.seed, ...(o.skipBadImages ? { badImages: 'skip' as const } : {}) } : undefined,
          cloud: o.cloud ? { url: o.cloud } : undefined,
          plaintextReference: o.plaintextReference,
          modelsDir: o.models,
          onProgress: progressWith(bars),
        }).finally(() => bars.stop());
        if (o.json) printJson(evalJson(r));
        else process.stdout.write(renderEval(r, o.bundle) + '\n');
      }),
    );

  program
    .command('demo')
    .description('the whole loop on Imagenette with an embedded cloud: fit, evaluate, print the table (needs OWSD_MODELS and OWSD_DATA)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data <dir>', 'data directory holding imagenette-val (default $OWSD_DATA)')
    .addOption(new Option('--data-dir <dir>').hideHelp())
    .option('--cloud-model <name>', 'model the embedded cloud hosts', 'shufflenet-v2-12-qdq')
    .option('--encoder <name>', 'encoder (repeat for several)', collect, [])
    .option('--labels <k>', 'labels', intOption('--labels', 2), 10)
    .option('--per-label <n>', 'images per label', intOption('--per-label'), 50)
    .option('--seed <n>', 'seed', intOption('--seed', 0), 0)
    .option('--image-size <n>', 'scrambled image side (default: the default key\'s)', intOption('--image-size'), DEFAULT_IMAGE_SIZE)
    .option('--work <dir>', 'working folder, kept (default: a temp folder, removed at the end)')
    .option('--serve', 'then serve the fitted bundle: the gateway\'s web page and API, with the embedded cloud, until Ctrl-C')
    .option('--port <n>', 'with --serve: the gateway\'s port (0: any free port)', intOption('--port', 0), 8090)
    .option('--verbose', 'log every IIN epoch')
    .option(...QUIET_OPTION)
    .option('--json', 'JSON output')
    .action(
      action(async (o: { models?: string; data?: string; dataDir?: string; cloudModel: string; encoder: string[]; labels: number; perLabel: number; seed: number; imageSize: number; work?: string; serve?: boolean; port: number; verbose?: boolean; quiet?: boolean; json?: boolean }) => {
        try {
          validateImageSize(o.imageSize, '--image-size');
        } catch (e) {
          throw withFlag(e as OwsdError, '--image-size');
        }
        const bars = createProgress({ command: 'demo', quiet: o.quiet });
        const modelsDir = o.models ?? settings.modelsDir;
        // Without --work the key, bundle and journal go to a temp folder that is removed at the end (and on Ctrl-C).
        const temp = o.work ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-demo-'));
        const removeTemp = (): void => {
          if (temp) fs.rmSync(temp, { recursive: true, force: true });
        };
        const onSignal = (sig: NodeJS.Signals): void => {
          bars.stop();
          removeTemp();
          process.exit(sig === 'SIGTERM' ? 143 : 130);
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const cloud = o.serve && modelsDir ? await startCloudServer({ model: o.cloudModel, modelsDir, port: 0, host: '127.0.0.1', logger: false }) : undefined;
        try {
          const d = await runDemo({
            cloud,
            modelsDir: o.models,
            dataDir: o.data ?? o.dataDir,
            cloudModel: o.cloudModel,
            encoders: o.encoder.length ? o.encoder : undefined,
            labels: o.labels,
            perLabel: o.perLabel,
            seed: o.seed,
            imageSize: o.imageSize,
            workDir: o.work ?? temp,
            onProgress: progressWith(bars),
            onEpoch: epochLogger(Boolean(o.verbose), bars),
          }).finally(() => {
            bars.stop();
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          });
          if (o.json) printJson(demoJson(d));
          else process.stdout.write(renderDemo(d) + '\n');
          if (cloud) {
            const g = await startGateway({ bundle: d.bundleDir, keyFiles: [d.keyFile], modelsDir, port: o.port });
            await serveUntilSignal(g, `\nthe demo in the browser (gateway + embedded cloud ${o.cloudModel} at ${cloud.url})`);
          }
        } finally {
          await cloud?.close();
          removeTemp();
        }
      }),
    );
}
