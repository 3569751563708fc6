/** owsd analyze [--dataset D] [--part P] [--quick] | owsd analyze traffic | owsd analyze bound | owsd analyze report */
import { Option, type Command } from 'commander';
import { runBoundStudy, runSecurityStudy, writeTrafficStudy, SECURITY_DATASETS, SECURITY_PARTS, BOUND_DATASETS, BOUND_ENCODERS, BOUND_NOISES, TRAFFIC_CLOUDS, renderSecurityReport } from '../../research.js';
import { fail, MAX_EMBEDDING_NOISE } from '../../index.js';
import { action, collect, floatOption, intOption, modelsAndData } from '../run.js';

interface AnalyzeFlags {
  models?: string;
  data?: string;
  dataDir?: string;
  out: string;
  dataset: string[];
  part: string[];
  quick?: boolean;
  repetitions?: number;
}

/** Whether the user typed `analyze run` (not only `analyze`, which reaches run as the default subcommand). */
function typedRun(argv: string[] = process.argv): boolean {
  const i = argv.indexOf('analyze');
  return i >= 0 && argv[i + 1] === 'run';
}

async function runStudy(o: AnalyzeFlags): Promise<void> {
  const { modelsDir, dataDir } = modelsAndData(o, 'analyze needs');
  const run = await runSecurityStudy({ modelsDir, dataDir, out: o.out, datasets: o.dataset, parts: o.part, quick: o.quick, repetitions: o.repetitions, log: (line) => process.stderr.write(`${line}\n`) });
  const files = await renderSecurityReport(o.out);
  process.stderr.write(`${run.results.length} dataset(s) in ${(run.seconds / 60).toFixed(1)} min\n`);
  process.stdout.write(`${files.markdown}\n${files.html}\n`);
}

export function registerAnalyze(program: Command): void {
  const analyze = program
    .command('analyze')
    .description('confidentiality: the paper\'s section 5 and measured attacks (label inference, linkability, inversion, key recovery) and defences; writes JSON and a report');
  analyze
    .command('run', { isDefault: true })
    .description('the confidentiality study: every part on every data set unless narrowed (hours; --quick: minutes); writes results and the report')
    .option('--yes', 'start the full study even when `run` was not typed (bare `owsd analyze` only shows what it would run)')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data <dir>', 'data directory (default $OWSD_DATA)')
    .addOption(new Option('--data-dir <dir>').hideHelp())
    .option('--out <dir>', 'report folder (results in <out>/results/)', 'reports/security')
    .option('--dataset <name>', `dataset (repeat; default all: ${SECURITY_DATASETS.join(', ')})`, collect, [])
    .option('--part <name>', `part (repeat; default all: ${SECURITY_PARTS.join(', ')})`, collect, [])
    .option('--quick', 'a handful of images (minutes; for CI)')
    .option('--repetitions <n>', 'repetitions of the defence settings (default 5, quick 2)', intOption('--repetitions'))
    .action(
      action(async (o: AnalyzeFlags & { yes?: boolean }) => {
        // Bare `owsd analyze` would start hours of work without a word: it says what it would run and stops.
        if (!o.yes && !o.quick && !typedRun()) {
          process.stdout.write(analyze.helpInformation());
          process.stderr.write(
            `owsd analyze: give a subcommand. \`owsd analyze run\` runs every part (${(o.part.length ? o.part : SECURITY_PARTS).join(', ')}) on every data set (${(o.dataset.length ? o.dataset : SECURITY_DATASETS).join(', ')}): hours on a laptop (--quick: minutes). Start it with \`owsd analyze run\` or \`owsd analyze --yes\`.\n`,
          );
          process.exitCode = 2;
          return;
        }
        await runStudy(o);
      }),
    );
  analyze
    .command('traffic')
    .description("the traffic study alone (the paper's section 5, label inference, linkability) at one key noise; writes <out>/traffic-<dataset>.json and its two figures (the report reads <out>=reports/security/noise-8 as its 8x column)")
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data <dir>', 'data directory (default $OWSD_DATA)')
    .addOption(new Option('--data-dir <dir>').hideHelp())
    .option('--out <dir>', 'results folder', '.')
    .option('--dataset <name>', `data set (repeat; default cifar-10; one of ${Object.keys(TRAFFIC_CLOUDS).join(', ')})`, collect, [])
    .option('--noise <x>', "the key's per-submission embedding noise, a multiple of the embedding's RMS (0: the paper's deterministic design)", floatOption('--noise', 0, MAX_EMBEDDING_NOISE), 0)
    .option('--seed <n>', 'seed (default 0)', intOption('--seed', 0))
    .option('--quick', 'a dozen images per label (for CI)')
    .action(
      action(async (o: { models?: string; data?: string; dataDir?: string; out: string; dataset: string[]; noise: number; seed?: number; quick?: boolean }) => {
        const { modelsDir, dataDir } = modelsAndData(o, 'analyze traffic needs');
        const r = await writeTrafficStudy({ modelsDir, dataDir, out: o.out, datasets: o.dataset, quick: o.quick, seed: o.seed, embeddingNoise: o.noise, log: (line) => process.stderr.write(`${line}\n`) });
        process.stderr.write(`${r.files.length} data set(s) in ${r.seconds.toFixed(0)} s\n`);
        process.stdout.write(`${r.files.join('\n')}\n`);
      }),
    );
  analyze
    .command('bound')
    .description("the any-inverter bound (issue 17): labels and re-identification from the generator's input, every data set x encoder x noise; writes <out>/results.json and results.md")
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data <dir>', 'data directory (default $OWSD_DATA)')
    .addOption(new Option('--data-dir <dir>').hideHelp())
    .option('--out <dir>', 'results folder (default reports/security/bound; with --quick reports/security/bound-quick)')
    .option('--dataset <name>', `data set (repeat; default all: ${BOUND_DATASETS.join(', ')})`, collect, [])
    .option('--encoder <name>', `encoder (repeat; default all: ${BOUND_ENCODERS.join(', ')})`, collect, [])
    .option('--noise <x>', `noise multiple (repeat; default ${BOUND_NOISES.join(', ')})`, collect, [])
    .option('--per-class <n>', 'images per class instead of the study caps', intOption('--per-class'))
    .option('--quick', 'a dozen images per class (for CI)')
    .option('--no-pixel', 'skip the pixel attacker (it scrambles real images)')
    .option('--cache-dir <dir>', 'where embeddings are cached (default <tmp>/owsd-bound-cache)')
    .option('--fresh', 'ignore the rows already in results.json')
    .option('--seed <n>', 'seed (default 0)', intOption('--seed', 0))
    .action(
      action(async (o: { models?: string; data?: string; dataDir?: string; out?: string; dataset: string[]; encoder: string[]; noise: string[]; perClass?: number; quick?: boolean; pixel: boolean; cacheDir?: string; fresh?: boolean; seed?: number }) => {
        const { modelsDir, dataDir } = modelsAndData(o, 'analyze bound needs');
        const noises = o.noise.map((x) => {
          const v = Number(x);
          if (!(v >= 0) || !Number.isFinite(v)) return fail('OWSD_ERR_BAD_ARGUMENT', `--noise expects a number >= 0, got '${x}'`);
          return v;
        });
        const r = await runBoundStudy({ modelsDir, dataDir, out: o.out, datasets: o.dataset, encoders: o.encoder, noises, perClass: o.perClass, quick: o.quick, pixel: o.pixel, cacheDir: o.cacheDir, fresh: o.fresh, seed: o.seed, log: (line) => process.stderr.write(`${line}\n`) });
        process.stderr.write(`${r.rows.length} rows in ${(r.seconds / 60).toFixed(1)} min\n`);
        const out = o.out ?? (o.quick ? 'reports/security/bound-quick' : 'reports/security/bound');
        process.stdout.write(`${out}/results.json\n${out}/results.md\n`);
      }),
    );
  analyze
    .command('report')
    .description('re-render the report from the results already in the folder')
    .option('--out <dir>', 'report folder', 'reports/security')
    .action(
      action(async (o: { out: string }) => {
        const files = await renderSecurityReport(o.out);
        process.stdout.write(`${files.markdown}\n${files.html}\n`);
      }),
    );
}
