/**
 * The import-boundary lint (.dependency-cruiser.cjs, run by `npm test` as `npm run lint:imports`): the tree passes
 * it, and a copy of src/ with forbidden imports added fails it, each under the rule that forbids it (cycles, the
 * flow's order, product importing research, onnxruntime-node outside internal/ort.ts, `import 'owsd'` reaching
 * fastify, the CLI importing past the entry points, a type-only import against the order). Offline: dependency-
 * cruiser is a devDependency run from node_modules.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './helpers.js';

const run = promisify(execFile);
const depcruise = path.join(repoRoot, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  severity: string;
  rule: string;
  from: string;
  to: string;
}

/**
 * Run the lint in `cwd` over its src/ as `npm run lint:imports` does (the default "err" reporter, whose exit code
 * fails the test command); the exit code and the violations it prints ("error RULE: FROM → TO").
 */
async function lint(cwd: string): Promise<{ code: number; violations: Violation[] }> {
  const args = [depcruise, 'src', '--config', '.dependency-cruiser.cjs'];
  let stdout: string;
  let code = 0;
  try {
    ({ stdout } = await run(process.execPath, args, { cwd, maxBuffer: 1 << 26 }));
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    if (!/dependency violations/.test(err.stdout ?? '')) assert.fail(`depcruise did not run: ${err.stderr}`);
    stdout = err.stdout;
    code = err.code;
  }
  const violations = [...stdout.matchAll(/^\s*(error|warn|info) ([\w-]+): (\S+) →\s+(\S+)/gm)].map((m) => ({ severity: m[1], rule: m[2], from: m[3], to: m[4] }));
  return { code, violations };
}

test('the tree passes the import-boundary lint, and npm test runs it', async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
  assert.match(manifest.scripts.test, /npm run lint:imports/);
  assert.match(manifest.scripts['lint:imports'], /^depcruise src --config \.dependency-cruiser\.cjs$/);
  assert.ok(manifest.devDependencies['dependency-cruiser'], 'dependency-cruiser is a devDependency (installed by npm ci)');
  const { code, violations } = await lint(repoRoot);
  assert.deepEqual(violations.map((v) => `${v.rule}: ${v.from} -> ${v.to}`), []);
  assert.equal(code, 0);
});

test('forbidden imports added to a copy of src/ fail the lint, each under its rule', async () => {
  const dir = tempDir('owsd-import-rules-');
  fs.cpSync(path.join(repoRoot, 'src'), path.join(dir, 'src'), { recursive: true, filter: (p) => !p.includes(`${path.sep}web${path.sep}`) });
  for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const add = (file: string, text: string): void => fs.writeFileSync(path.join(dir, 'src', file), `${text}\nexport {};\n`);
  // a file cycle inside one stage
  add('image/zz-a.ts', "import { b } from './zz-b.js';\nexport const a = (): unknown => b;");
  add('image/zz-b.ts', "import { a } from './zz-a.js';\nexport const b = (): unknown => a;");
  // an earlier stage importing a later one
  add('image/zz-back.ts', "import { fit } from '../pipeline/fit.js';\nexport const f = fit;");
  // a type-only import against the order counts too
  add('key/zz-type.ts', "import type { Encoder } from '../encoder/encoder.js';\nexport type E = Encoder;");
  // product importing research, outside the listed exceptions
  add('pipeline/zz-research.ts', "import { mean } from '../analysis/stats.js';\nexport const m = mean;");
  // onnxruntime-node outside internal/ort.ts
  add('encoder/zz-ort.ts', "import * as ort from 'onnxruntime-node';\nexport const o = ort;");
  // the CLI importing past the entry points
  add('cli/zz-deep.ts', "import { fit } from '../pipeline/fit.js';\nexport const f = fit;");
  // import 'owsd' reaching fastify through a stage that is otherwise allowed to import packages
  add('encoder/zz-fastify.ts', "import Fastify from 'fastify';\nexport const fastifyFactory = Fastify;");
  fs.appendFileSync(path.join(dir, 'src', 'index.ts'), "export { fastifyFactory } from './encoder/zz-fastify.js';\n");

  const { code, violations } = await lint(dir);
  assert.notEqual(code, 0, 'the lint exits non-zero');
  const seen = (rule: string, from: string | RegExp, to: RegExp): boolean =>
    violations.some((v) => v.rule === rule && (typeof from === 'string' ? v.from === from : from.test(v.from)) && to.test(v.to));
  const expected: Array<[string, string | RegExp, RegExp]> = [
    ['no-circular', /^src\/image\/zz-[ab]\.ts$/, /^src\/image\/zz-[ab]\.ts$/],
    ['layer-image', 'src/image/zz-back.ts', /^src\/pipeline\/fit\.ts$/],
    ['layer-key', 'src/key/zz-type.ts', /^src\/encoder\/encoder\.ts$/],
    ['product-not-research', 'src/pipeline/zz-research.ts', /^src\/analysis\/stats\.ts$/],
    ['layer-pipeline', 'src/pipeline/zz-research.ts', /^src\/analysis\/stats\.ts$/],
    ['only-ort-imports-onnxruntime', 'src/encoder/zz-ort.ts', /node_modules\/onnxruntime-node\//],
    ['layer-cli', 'src/cli/zz-deep.ts', /^src\/pipeline\/fit\.ts$/],
    ['owsd-entry-loads-no-outer-ring', 'src/index.ts', /node_modules\/fastify\//],
  ];
  const all = violations.map((v) => `${v.rule}: ${v.from} -> ${v.to}`).join('\n');
  for (const [rule, from, to] of expected) assert.ok(seen(rule, from, to), `${rule} flags ${from} -> ${to}; got:\n${all}`);
  // nothing else: the added files are the only violations
  assert.deepEqual(violations.filter((v) => !/zz-/.test(v.from) && !/zz-/.test(v.to) && v.from !== 'src/index.ts'), []);
});
