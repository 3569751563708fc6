/** owsd experiment <name...|all> | owsd experiment report */
import type { Command } from 'commander';
import { experimentNames, fail, runExperiments, settings } from '../../index.js';
import { renderReport } from '../../report/index.js';
import { action, intOption } from '../run.js';

interface ExperimentFlags {
  models?: string;
  dataDir?: string;
  out: string;
  quick?: boolean;
  repetitions?: number;
}

function dirs(o: ExperimentFlags): { modelsDir: string; dataDir: string } {
  const modelsDir = o.models ?? settings.modelsDir;
  const dataDir = o.dataDir ?? settings.dataDir;
  if (!modelsDir) return fail('OWSD_ERR_BAD_ARGUMENT', 'experiments need the models: set OWSD_MODELS (or --models) to the folder holding models.json');
  if (!dataDir) return fail('OWSD_ERR_BAD_ARGUMENT', 'experiments need the data: set OWSD_DATA (or --data-dir) to the folder holding the datasets');
  return { modelsDir, dataDir };
}

export function registerExperiment(program: Command): void {
  const exp = program
    .command('experiment')
    .description(`reproduce the paper's experiments and write a report (experiments: ${experimentNames().join(', ')})`);
  exp
    .command('run', { isDefault: true })
    .argument('[names...]', `all, or experiment names: ${experimentNames().join(', ')}`, ['all'])
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data-dir <dir>', 'data directory (default $OWSD_DATA)')
    .option('--out <dir>', 'report folder (results in <out>/results/)', 'reports/paper')
    .option('--quick', 'every experiment on a few images (minutes; for CI)')
    .option('--repetitions <n>', 'repetitions with seeded splits (default 5, quick 2)', intOption('--repetitions'))
    .action(
      action(async (names: string[], o: ExperimentFlags) => {
        const { modelsDir, dataDir } = dirs(o);
        const run = await runExperiments(names, {
          modelsDir,
          dataDir,
          out: o.out,
          quick: o.quick,
          repetitions: o.repetitions,
          log: (line) => process.stderr.write(`${line}\n`),
        });
        const files = await renderReport(o.out);
        process.stderr.write(`${run.results.length} experiment(s) in ${(run.seconds / 60).toFixed(1)} min; scrambled images sent per key: ${JSON.stringify(run.submissions)}\n`);
        process.stdout.write(`${files.markdown}\n${files.html}\n`);
      }),
    );
  exp
    .command('report')
    .description('re-render the report from the results already in the folder')
    .option('--out <dir>', 'report folder', 'reports/paper')
    .action(
      action(async (o: { out: string }) => {
        const files = await renderReport(o.out);
        process.stdout.write(`${files.markdown}\n${files.html}\n`);
      }),
    );
}
