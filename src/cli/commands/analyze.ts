/** owsd analyze [--dataset D] [--part P] [--quick] | owsd analyze report */
import type { Command } from 'commander';
import { runSecurityStudy, SECURITY_DATASETS, SECURITY_PARTS } from '../../index.js';
import { renderSecurityReport } from '../../report/index.js';
import { action, collect, intOption, modelsAndData } from '../run.js';

interface AnalyzeFlags {
  models?: string;
  dataDir?: string;
  out: string;
  dataset: string[];
  part: string[];
  quick?: boolean;
  repetitions?: number;
}

export function registerAnalyze(program: Command): void {
  const analyze = program.command('analyze').description('confidentiality: the paper\'s section 5 and measured attacks (label inference, linkability, inversion, key recovery) and defences; writes JSON and a report');
  analyze
    .command('run', { isDefault: true })
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data-dir <dir>', 'data directory (default $OWSD_DATA)')
    .option('--out <dir>', 'report folder (results in <out>/results/)', 'reports/security')
    .option('--dataset <name>', `dataset (repeat; default all: ${SECURITY_DATASETS.join(', ')})`, collect, [])
    .option('--part <name>', `part (repeat; default all: ${SECURITY_PARTS.join(', ')})`, collect, [])
    .option('--quick', 'a handful of images (minutes; for CI)')
    .option('--repetitions <n>', 'repetitions of the defence settings (default 5, quick 2)', intOption('--repetitions'))
    .action(
      action(async (o: AnalyzeFlags) => {
        const { modelsDir, dataDir } = modelsAndData(o, 'analyze needs');
        const run = await runSecurityStudy({ modelsDir, dataDir, out: o.out, datasets: o.dataset, parts: o.part, quick: o.quick, repetitions: o.repetitions, log: (line) => process.stderr.write(`${line}\n`) });
        const files = await renderSecurityReport(o.out);
        process.stderr.write(`${run.results.length} dataset(s) in ${(run.seconds / 60).toFixed(1)} min\n`);
        process.stdout.write(`${files.markdown}\n${files.html}\n`);
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
