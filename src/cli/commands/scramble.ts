/** owsd scramble: images → scrambled PNGs, written locally (nothing is sent). */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { Encoder, readKeyFile, resolveModel, Scrambler, scrambleImages, scrambleStats, type ScrambleStats } from '../../index.js';
import { action, collect, intOption, needList, printJson, QUIET_OPTION } from '../run.js';
import { createProgress } from '../progress.js';
import { addModelFlags, modelEntry, type ModelFlags } from '../model-flags.js';
import { FROM_OPTION, imageInputs, IMAGES_ARGUMENT } from '../inputs.js';

interface Opts extends ModelFlags {
  key: string;
  encoder: string[];
  out: string;
  models?: string;
  batch: number;
  stats?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** Output names: the input's base name with .png; a numbered prefix when two inputs share a name. */
function outputNames(files: string[]): string[] {
  const seen = new Map<string, number>();
  for (const f of files) seen.set(path.parse(f).name, (seen.get(path.parse(f).name) ?? 0) + 1);
  return files.map((f, i) => {
    const base = path.parse(f).name;
    return (seen.get(base)! > 1 ? `${String(i).padStart(5, '0')}-${base}` : base) + '.png';
  });
}

export function registerScramble(program: Command): void {
  const cmd = program
    .command('scramble')
    .description('encode and scramble images with a key; writes one PNG per input (nothing leaves the machine)')
    .argument(...IMAGES_ARGUMENT)
    .requiredOption('--key <file>', 'key file')
    .requiredOption('--encoder <name>', 'encoder model name or .onnx path (repeat for several)', collect, [])
    .requiredOption('--out <dir>', 'output folder')
    .option(...FROM_OPTION)
    .option('--models <dir>', 'models directory holding models.json (default $OWSD_MODELS)')
    .option('--batch <n>', 'images per batch', intOption('--batch'), 32)
    .option('--stats', 'also report zero activations, pixel std and distinct levels')
    .option(...QUIET_OPTION)
    .option('--json', 'print the summary as JSON');
  // The flags for a bare .onnx path come after the essentials.
  addModelFlags(cmd).action(
      action(async (args: string[], opts: Opts) => {
        needList(opts.encoder, '--encoder', 'scramble needs an encoder: --encoder NAME (a model name in models.json, or an .onnx path)');
        needList([opts.key], '--key', 'scramble needs a key file: --key FILE (owsd key new --out FILE makes one)');
        const images = imageInputs(args, opts, 'scramble');
        const key = readKeyFile(opts.key);
        const specs = [];
        for (const e of opts.encoder) specs.push(await resolveModel(e, { modelsDir: opts.models, entry: modelEntry(opts) }));
        const encoder = await Encoder.create(specs);
        const scrambler = await Scrambler.create(key, encoder.dim, { exposeActivations: opts.stats });
        fs.mkdirSync(opts.out, { recursive: true });
        const names = outputNames(images);
        const bar = createProgress({ command: 'scramble', quiet: opts.quiet });
        let done = 0;
        const started = performance.now();
        const stats: Array<{ n: number; s: ScrambleStats }> = [];
        for await (const b of scrambleImages(encoder, scrambler, images.map((p) => ({ kind: 'file' as const, path: p })), opts.batch)) {
          b.pngs.forEach((s, i) => fs.writeFileSync(path.join(opts.out, names[b.start + i]!), s.png));
          if (opts.stats) {
            const n = b.pngs.length;
            stats.push({ n, s: scrambleStats(await scrambler.pixels(b.embeddings, n), n, await scrambler.activations(b.embeddings, n)) });
          }
          done += b.pngs.length;
          bar.on('scramble', done, images.length);
        }
        bar.stop();
        const seconds = (performance.now() - started) / 1000;
        const total = images.length;
        const summary: Record<string, unknown> = {
          keyId: key.id,
          encoders: encoder.describe(),
          images: total,
          imageSize: key.generator.imageSize,
          out: opts.out,
          seconds: Number(seconds.toFixed(2)),
        };
        if (opts.stats) {
          const w = (f: (s: (typeof stats)[number]['s']) => number) => stats.reduce((a, x) => a + f(x.s) * x.n, 0) / total;
          summary.stats = {
            zeroFraction: w((s) => s.zeroFraction),
            pixelStd: w((s) => s.pixelStd),
            distinctLevels: [0, 1, 2].map((c) => w((s) => s.distinctLevels[c]!)),
            minDistinctLevels: Math.min(...stats.map((x) => x.s.minDistinctLevels)),
          };
        }
        if (opts.json) return printJson(summary);
        process.stdout.write(`scrambled ${total} images with key ${key.id} → ${opts.out} (${(total / seconds).toFixed(1)} images/s)\n`);
        if (opts.stats) {
          const s = summary.stats as { zeroFraction: number; pixelStd: number; distinctLevels: number[]; minDistinctLevels: number };
          process.stdout.write(
            `zero activations ${(100 * s.zeroFraction).toFixed(1)}% (paper: 59%); pixel std ${s.pixelStd.toFixed(1)}; distinct levels per channel ${s.distinctLevels.map((x) => x.toFixed(0)).join('/')} (min ${s.minDistinctLevels})\n`,
          );
        }
      }),
    );
}
