/** owsd models list | pull */
import type { Command } from 'commander';
import { listModels, pullModel, settings } from '../../index.js';
import { action, printJson } from '../run.js';

export function registerModels(program: Command): void {
  const models = program.command('models').description('the model registry (models.json in --models DIR or $OWSD_MODELS)');
  models
    .command('list')
    .description('list the models the registry knows')
    .option('--models <dir>', 'models directory holding models.json')
    .option('--json', 'JSON output')
    .action(
      action((opts: { models?: string; json?: boolean }) => {
        const list = listModels({ modelsDir: opts.models });
        if (opts.json) return printJson(list.map((m) => ({ name: m.name, path: m.path, sha256: m.sha256, task: m.task, format: m.format })));
        for (const m of list) process.stdout.write(`${m.name.padEnd(34)} ${m.format.padEnd(5)} ${m.task ?? ''}\n`);
      }),
    );
  models
    .command('pull')
    .description('download a model from its official address into the cache and verify its sha256')
    .argument('<name>', 'model name in the manifest')
    .option('--models <dir>', 'models directory holding the manifest that names it')
    .option('--url <url>', 'download from this mirror instead of the official address')
    .action(
      action(async (name: string, opts: { models?: string; url?: string }) => {
        const file = await pullModel(name, { modelsDir: opts.models, url: opts.url });
        process.stdout.write(`pulled ${name} → ${file} (sha256 verified); cache: ${settings.cacheDir}\n`);
      }),
    );
}
