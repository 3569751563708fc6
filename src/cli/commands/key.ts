/** owsd key new | show | restore-ledger | rotate */
import type { Command } from 'commander';
import { createKey, keyInfo, readKeyFile, UsageLedger, writeKeyFile, DEFAULT_BASE_CHANNELS, DEFAULT_BUDGET, DEFAULT_EMBEDDING_NOISE, DEFAULT_IMAGE_SIZE, MAX_BUDGET, MAX_EMBEDDING_NOISE, generatorLayers, countWeights, rotateKeys, fail, describe, validateBudget, validateImageSize, IMAGE_SIZES, type OwsdError } from '../../index.js';
import { connectRedis, redisError, redisUsed, ledgerKey } from '../../scale/index.js';
import { leakBudgetFor, leakBudgetSentences } from '../../research.js';
import { action, collect, floatOption, intOption, printJson, QUIET_OPTION, usageError, withFlag } from '../run.js';
import { keyJson } from '../render.js';
import { createProgress, progressWith } from '../progress.js';
import fs from 'node:fs';

/** --budget: an integer from 1 to MAX_BUDGET, the flag named in the error. */
function budgetOption(v: string): number {
  const n = Number(v);
  try {
    // Digits only: 1e300, 0x10 and 1.5 are not budgets.
    return validateBudget(/^\d+$/.test(v.trim()) ? n : v, '--budget');
  } catch (e) {
    return usageError('--budget', describe(e));
  }
}

function noiseText(noise: number | undefined): string {
  return noise ? `fresh noise ${noise}x the embedding's RMS per submission` : 'no noise (deterministic: the same image always gives the same scrambled image)';
}

export function registerKey(program: Command): void {
  const key = program.command('key').description('make and inspect secret keys');
  key
    .command('new')
    .description('write a new key file (mode 0600) holding a 256-bit secret from the OS CSPRNG')
    .requiredOption('--out <file>', 'key file to create (never overwritten)')
    .option('--image-size <n>', `scrambled image side in pixels: ${IMAGE_SIZES.join(', ')}`, intOption('--image-size'), DEFAULT_IMAGE_SIZE)
    .option('--budget <n>', `submissions allowed before the key must be replaced (1 to ${MAX_BUDGET})`, budgetOption, DEFAULT_BUDGET)
    .option('--channels <n>', 'channels of the generator\'s first feature map (default: the cheapest as accurate, docs/generator-choice.md; paper: 1024)', intOption('--channels', 8), DEFAULT_BASE_CHANNELS)
    .option('--noise <x>', 'fresh noise on the embedding before each submission, as a multiple of its RMS (0: deterministic, the paper\'s design)', floatOption('--noise', 0, MAX_EMBEDDING_NOISE), DEFAULT_EMBEDDING_NOISE)
    .option('--json', 'print the key\'s public description as JSON')
    .action(
      action((opts: { out: string; imageSize: number; budget: number; channels: number; noise: number; json?: boolean }) => {
        try {
          validateImageSize(opts.imageSize, '--image-size');
        } catch (e) {
          throw withFlag(e as OwsdError, '--image-size');
        }
        const k = createKey({ imageSize: opts.imageSize, budget: opts.budget, baseChannels: opts.channels, embeddingNoise: opts.noise });
        writeKeyFile(opts.out, k);
        if (opts.json) printJson(keyJson(keyInfo(k)));
        else process.stdout.write(`wrote ${opts.out} (mode 0600): key ${k.id}, ${k.generator.imageSize}x${k.generator.imageSize} images, budget ${k.budget} submissions and ${leakBudgetFor(k.generator.embeddingNoise ?? 0).leaksPerClass} labelled leaks per class (owsd key show), ${noiseText(k.generator.embeddingNoise)}\n`);
      }),
    );
  key
    .command('show')
    .description('print everything about a key except its secret')
    .argument('<file>', 'key file')
    .option('--json', 'JSON output')
    .option('--input-dim <n>', 'embedding dimension, to count the generator\'s weights', intOption('--input-dim'), 1280)
    .option('--redis <url>', 'also read the ledger shared in Redis (what gateways and workers started with --redis count), e.g. redis://127.0.0.1:6379 (default $OWSD_REDIS)')
    .action(
      action(async (file: string, opts: { json?: boolean; inputDim: number; redis?: string }) => {
        const k = readKeyFile(file);
        const ledger = UsageLedger.open(k);
        const redisUrl = opts.redis ?? (process.env.OWSD_REDIS || undefined);
        let shared: number | undefined;
        if (redisUrl) {
          const redis = connectRedis(redisUrl, { failFast: true });
          redis.on('error', () => undefined);
          try {
            shared = (await redisUsed(redis, k.id)) ?? 0;
          } catch (e) {
            redisError(redisUrl, e);
          } finally {
            redis.disconnect();
          }
        }
        // With Redis, the larger count holds: Redis starts from this machine's count and then counts every replica.
        const used = Math.max(ledger.used, shared ?? 0);
        const layers = generatorLayers(opts.inputDim, k.generator);
        // The first feature map's side: the dense layer gives start² x baseChannels values.
        const start = Math.round(Math.sqrt(layers[0]!.dims[1]! / k.generator.baseChannels));
        const info = {
          ...keyJson(keyInfo(k)),
          used,
          remaining: Math.max(0, k.budget - used),
          // Labelled leaks per class this key's noise tolerates, by the any-inverter bound (src/analysis/budget.ts).
          leakBudget: leakBudgetFor(k.generator.embeddingNoise ?? 0),
          ledger: fs.existsSync(ledger.file) ? ledger.file : null,
          usedOnThisMachine: ledger.used,
          ...(redisUrl ? { usedInRedis: shared, redisKey: ledgerKey(k.id) } : {}),
          generatorShape: {
            inputDim: opts.inputDim,
            layers: layers.map((l) => ({ name: l.name, dims: l.dims })),
            weights: countWeights(layers),
            output: [k.generator.imageSize, k.generator.imageSize, 3],
          },
        };
        if (opts.json) return printJson(info);
        const lines = [
          `key id      ${info.keyId}`,
          `created     ${info.created}`,
          `generator   ${info.generator.design}: ${opts.inputDim}-d embedding → ${start}x${start}x${info.generator.baseChannels} → ${info.generator.imageSize}x${info.generator.imageSize}x3 (${(info.generatorShape.weights / 1e6).toFixed(1)}M weights at ${opts.inputDim}-d input)`,
          `noise       ${noiseText(info.generator.embeddingNoise)}`,
          `budget      ${info.used} of ${info.budget} submissions used, ${info.remaining} left`,
          ...leakBudgetSentences(info.leakBudget).map((line, i) => `${i === 0 ? 'leaks       ' : '            '}${line}`),
          `ledger      ${redisUrl ? `Redis ${ledgerKey(k.id)}: ${shared}; ` : ''}this machine: ${ledger.used} (${ledger.file})${redisUrl ? '' : '; with --redis also what Redis counted'}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
  key
    .command('restore-ledger')
    .description('after a key\'s usage ledger was deleted (owsd then refuses the key rather than count from 0): write the count you know it has used')
    .argument('<file>', 'key file')
    .requiredOption('--used <n>', 'submissions the key has made (from a backup, the cloud\'s bill, ...); a larger count still on disk holds', intOption('--used', 0))
    .action(
      action((file: string, o: { used: number }) => {
        const k = readKeyFile(file);
        const l = UsageLedger.restore(k, o.used);
        process.stdout.write(`key ${k.id}: ledger ${l.file} restored at ${l.used} of ${k.budget} submissions\n`);
      }),
    );
  key
    .command('rotate')
    .description('replace a bundle\'s key(s): new keys, the stored training set scrambled again, the IIN refitted; through a running gateway (--gateway), which swaps the new bundle in without dropping requests, or offline (--bundle, --key)')
    .option('--gateway <url>', 'a running owsd gateway on this machine, e.g. http://127.0.0.1:8090')
    .option('--bundle <dir>', 'offline: the bundle whose keys to replace')
    .option('--key <file>', 'offline: its key file(s), in order', collect, [])
    .option('--cloud <url>', 'offline: the cloud\'s base URL (default: the one the bundle names)')
    .option('--out <dir>', 'offline: the new bundle folder (default <bundle>-<new key id>)')
    .option('--budget <n>', `budget of the new key(s), 1 to ${MAX_BUDGET} (default: the old ones')`, budgetOption)
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option(...QUIET_OPTION)
    .option('--json', 'JSON output')
    .action(
      action(async (o: { gateway?: string; bundle?: string; key: string[]; cloud?: string; out?: string; budget?: number; models?: string; quiet?: boolean; json?: boolean }) => {
        let summary: { replaced: string[]; keyIds: string[]; keyFiles: string[]; bundle: string; submissionsSent: number };
        if (o.gateway) {
          if (o.bundle || o.key.length) fail('OWSD_ERR_BAD_ARGUMENT', 'give either --gateway (the service rotates its own key) or --bundle and --key (offline), not both');
          const url = `${o.gateway.replace(/\/+$/, '')}/v1/keys/rotate`;
          let res: Response;
          try {
            res = await fetch(url, { method: 'POST', body: JSON.stringify(o.budget ? { budget: o.budget } : {}), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(3_600_000) });
          } catch (e) {
            return fail('OWSD_ERR_BAD_ARGUMENT', `--gateway ${o.gateway}: cannot reach the gateway (${describe((e as { cause?: unknown }).cause ?? e)})`);
          }
          const body = (await res.json().catch(() => ({}))) as { error?: string };
          if (!res.ok) return fail('OWSD_ERR_BAD_ARGUMENT', `the gateway refused the rotation (HTTP ${res.status}): ${body.error ?? 'no reason given'}`);
          summary = body as typeof summary;
        } else {
          if (!o.bundle || o.key.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'give --gateway URL, or --bundle DIR and --key FILE for an offline rotation');
          const bars = createProgress({ command: 'key rotate', quiet: o.quiet });
          const r = await rotateKeys({ bundle: o.bundle, keys: o.key.map(readKeyFile), cloud: o.cloud ? { url: o.cloud } : undefined, out: o.out, budget: o.budget, modelsDir: o.models, onProgress: progressWith(bars) }).finally(() => bars.stop());
          summary = { replaced: r.replaced, keyIds: r.keys.map((k) => k.id), keyFiles: r.keyFiles, bundle: r.bundleDir, submissionsSent: r.fit.submissionsSent };
        }
        if (o.json) return printJson(summary);
        process.stdout.write(
          [
            `replaced key(s) ${summary.replaced.join(', ')} with ${summary.keyIds.join(', ')} (${summary.submissionsSent} training images scrambled again and sent)`,
            `new key file(s) ${summary.keyFiles.join(', ')} (mode 0600)`,
            `new bundle      ${summary.bundle}${o.gateway ? ' (now served by the gateway)' : ' (the old bundle points to it: owsd serve follows it)'}`,
          ].join('\n') + '\n',
        );
      }),
    );
}
