/** owsd models list | inspect | pull */
import type { Command } from 'commander';
import { fail, inspectOnnx, listModels, manifestProblems, modelsDirOf, pullModel, settings } from '../../index.js';
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
        // Without a models directory only the pull cache is listed; with nothing at all, say where models come from.
        if (!modelsDirOf({ modelsDir: opts.models }) && list.length === 0) {
          fail('OWSD_ERR_MODEL_NOT_FOUND', 'no models directory is set and the pull cache holds none: pass --models DIR or set OWSD_MODELS to a folder holding models.json');
        }
        // An entry that cannot be read is reported; the manifest's other entries are listed and usable.
        const problems = manifestProblems({ modelsDir: opts.models });
        for (const p of problems) process.stderr.write(`owsd models list: skipped: ${p.error.message}\n`);
        if (opts.json) {
          return printJson({
            models: list.map((m) => ({ name: m.name, path: m.path, sha256: m.sha256, task: m.task, format: m.format })),
            problems: problems.map((p) => ({ index: p.index, ...(p.name ? { name: p.name } : {}), error: p.error.message, code: p.error.code })),
          });
        }
        for (const m of list) process.stdout.write(`${m.name.padEnd(34)} ${m.format.padEnd(5)} ${m.task ?? ''}\n`);
      }),
    );
  models
    .command('inspect')
    .description('inputs, outputs and shapes of an .onnx file, and a models.json entry skeleton for it')
    .argument('<file>', '.onnx file')
    .option('--json', 'JSON output')
    .action(
      action(async (file: string, opts: { json?: boolean }) => {
        const r = await inspectOnnx(file);
        if (opts.json) return printJson(r);
        const dims = (s?: Array<number | string>) => (s ? `[${s.join(', ')}]` : '[?]');
        const lines = [
          `${r.file} (${r.bytes} bytes, sha256 ${r.sha256})`,
          'inputs:',
          ...r.inputs.map((t) => `  ${t.name}  ${t.type ?? '?'} ${dims(t.shape)}`),
          'outputs:',
          ...r.outputs.map((t) => `  ${t.name}  ${t.type ?? '?'} ${dims(t.shape)}`),
          `layout ${r.layout}${r.imageSize ? `, ${r.imageSize}x${r.imageSize} images` : ''}${r.classes ? `, ${r.classes} classes` : ''}`,
          'manifest entry (add to models.json "models", or save as FILE.onnx.json beside it):',
          JSON.stringify(r.manifestEntry, null, 2),
          ...r.notes.map((n) => `note: ${n}`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
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
