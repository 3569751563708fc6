/** owsd experiment <name...|all> | owsd experiment report */
import { Option, type Command } from 'commander';
import { experimentNames, runExperiments, renderReport } from '../../research.js';
import { action, intOption, modelsAndData } from '../run.js';

interface ExperimentFlags {
  models?: string;
  data?: string;
  dataDir?: string;
  out: string;
  quick?: boolean;
  repetitions?: number;
  only?: string[];
}

/** `--only a,b --only c` → ['a', 'b', 'c']. */
function listOption(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter((v) => v.length > 0)];
}


export function registerExperiment(program: Command): void {
  const exp = program
    .command('experiment')
    .description(`reproduce the paper's experiments and write a report (experiments: ${experimentNames().join(', ')})`);
  exp
    .command('run', { isDefault: true })
    .description('run experiments (all by default: hours at paper scale; --quick: minutes) and write the report')
    .argument('[names...]', `all, or experiment names: ${experimentNames().join(', ')}`, ['all'])
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--data <dir>', 'data directory (default $OWSD_DATA)')
    .addOption(new Option('--data-dir <dir>').hideHelp())
    .option('--out <dir>', 'report folder (results in <out>/results/)', 'reports/paper')
    .option('--quick', 'every experiment on a few images (minutes; for CI)')
    .option('--repetitions <n>', 'repetitions with seeded splits (default 5, quick 2)', intOption('--repetitions'))
    .option('--only <ids>', 'run only these settings (comma-separated ids, e.g. imagenette-weak/size-96-width-256) and merge them into the results already in <out>/results/', listOption)
    .action(
      action(async (names: string[], o: ExperimentFlags) => {
        const { modelsDir, dataDir } = modelsAndData(o, 'experiments need');
        const run = await runExperiments(names, {
          modelsDir,
          dataDir,
          out: o.out,
          quick: o.quick,
          repetitions: o.repetitions,
          only: o.only,
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
