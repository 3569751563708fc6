/**
 * The package's entry points (package.json "exports"): `owsd` is the flow only, at most 100 runtime names, and
 * importing it loads none of fastify, bullmq, ioredis, node-seal, marked; `owsd/server`, `owsd/scale` and
 * `owsd/research` hold the rest. Imports go through a temp node_modules/owsd link to the package root, as an
 * installed copy resolves them (by the exports map, so internal paths are refused), and a module hook records every
 * file the child process resolves. The `.d.ts` paths are checked by type-checking a consumer against them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './helpers.js';

const run = promisify(execFile);
const OUTER = ['fastify', '@fastify/multipart', 'bullmq', 'ioredis', 'node-seal', 'marked'];
const MAX_OWSD_NAMES = 100;

interface Manifest {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
}
const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Manifest;

/** A folder whose node_modules/owsd links to the package root: `import('owsd')` there resolves like an install. */
function consumerDir(): string {
  const dir = tempDir('owsd-consumer-');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(dir, 'node_modules', manifest.name), 'dir');
  // the hook: every resolved URL, one a line, into $OWSD_TRACE (ESM imports; CJS loads are read from require.cache)
  fs.writeFileSync(
    path.join(dir, 'trace-hook.mjs'),
    "import fs from 'node:fs';\nexport async function resolve(spec, ctx, next) { const r = await next(spec, ctx); fs.appendFileSync(process.env.OWSD_TRACE, r.url + '\\n'); return r; }\n",
  );
  fs.writeFileSync(path.join(dir, 'trace.mjs'), "import { register } from 'node:module';\nregister('./trace-hook.mjs', import.meta.url);\n");
  return dir;
}

interface Loaded {
  names: string[];
  files: string[];
}

/** Import `specifier` in a fresh node from `dir`; the runtime names it exports and every file resolved or required. */
async function load(dir: string, specifier: string): Promise<Loaded> {
  const trace = path.join(dir, `trace-${specifier.replace(/\W/g, '_')}.txt`);
  fs.writeFileSync(trace, '');
  const script = `import(${JSON.stringify(specifier)}).then((m) => { process.stdout.write(JSON.stringify({ names: Object.keys(m), cjs: Object.keys(require.cache) })); })`;
  const { stdout } = await run(process.execPath, ['--import', './trace.mjs', '-e', script], { cwd: dir, env: { ...process.env, OWSD_TRACE: trace }, maxBuffer: 1 << 26 });
  const out = JSON.parse(stdout) as { names: string[]; cjs: string[] };
  const esm = fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean);
  return { names: out.names, files: [...esm, ...out.cjs] };
}

/** The outer-ring packages among loaded files. */
function outerPackages(files: string[]): string[] {
  const hit = new Set<string>();
  for (const f of files) for (const p of OUTER) if (f.includes(`/node_modules/${p}/`)) hit.add(p);
  return [...hit].sort();
}

test('the exports map names owsd, owsd/server, owsd/scale, owsd/research, and each types and default file exists in dist', () => {
  assert.deepEqual(Object.keys(manifest.exports).sort(), ['.', './package.json', './research', './scale', './server']);
  for (const [key, target] of Object.entries(manifest.exports)) {
    if (typeof target === 'string') continue;
    assert.ok(fs.existsSync(path.join(repoRoot, target.default)), `${key}: ${target.default} exists (build first)`);
    assert.ok(fs.existsSync(path.join(repoRoot, target.types)), `${key}: ${target.types} exists`);
    assert.equal(target.types.replace(/\.d\.ts$/, ''), target.default.replace(/\.js$/, ''), `${key}: types beside the code`);
  }
});

test(`import 'owsd' gives the flow in at most ${MAX_OWSD_NAMES} runtime names and loads none of ${OUTER.join(', ')}`, async () => {
  const dir = consumerDir();
  const owsd = await load(dir, 'owsd');
  assert.ok(owsd.names.length <= MAX_OWSD_NAMES, `owsd exports ${owsd.names.length} runtime names`);
  for (const name of ['resolveModel', 'decodeRgb', 'createKey', 'Encoder', 'Scrambler', 'createCloudClient', 'Iin', 'fit', 'evaluate', 'Predictor', 'rotateKeys', 'OwsdError', 'settings', 'loadDataset']) {
    assert.ok(owsd.names.includes(name), `owsd exports ${name}`);
  }
  for (const name of ['startGateway', 'startCloudServer', 'submitBatch', 'runExperiments', 'renderReport', 'matmul', 'cholesky', 'requestJson', 'Limiter']) {
    assert.ok(!owsd.names.includes(name), `owsd does not export ${name}`);
  }
  assert.ok(owsd.files.some((f) => f.endsWith('/dist/src/index.js')), 'the trace saw owsd resolve to dist/src/index.js');
  assert.deepEqual(outerPackages(owsd.files), [], 'import owsd loads no outer-ring package');
  const ours = owsd.files.filter((f) => f.includes('/dist/src/')).map((f) => f.slice(f.indexOf('/dist/src/') + '/dist/src/'.length));
  assert.deepEqual(ours.filter((f) => /^(server|scale|cli|he|report|experiments|cloud\/server)\/|^research\.js$/.test(f)), [], 'nor any server, scale, CLI, HE, report or experiment module');
});

test('owsd/server, owsd/scale and owsd/research load, and the trace does see what they load (fastify, bullmq, node-seal, marked)', async () => {
  const dir = consumerDir();
  const server = await load(dir, 'owsd/server');
  assert.ok(server.names.includes('startGateway') && server.names.includes('startCloudServer') && server.names.includes('runDemo'));
  assert.ok(outerPackages(server.files).includes('fastify'), 'the hook sees fastify when it is loaded');
  const scale = await load(dir, 'owsd/scale');
  assert.ok(scale.names.includes('submitBatch') && scale.names.includes('startWorker'));
  assert.ok(outerPackages(scale.files).includes('bullmq'));
  const research = await load(dir, 'owsd/research');
  assert.ok(research.names.includes('runExperiments') && research.names.includes('renderReport') && research.names.includes('CkksClient'));
  assert.deepEqual(['marked', 'node-seal'].filter((p) => !outerPackages(research.files).includes(p)), []);
  for (const loaded of [server, scale, research]) assert.ok(!loaded.names.includes('default'), 'named exports only');
});

test('an installed owsd refuses deep imports of its internals (only the exports map is public)', async () => {
  const dir = consumerDir();
  for (const spec of ['owsd/dist/src/server/app.js', 'owsd/src/index.ts', 'owsd/analysis']) {
    await assert.rejects(load(dir, spec), /ERR_PACKAGE_PATH_NOT_EXPORTED/, spec);
  }
});

test("a TypeScript consumer type-checks against the entries' .d.ts files (NodeNext resolution through the exports map)", async () => {
  const dir = consumerDir();
  fs.writeFileSync(
    path.join(dir, 'consumer.ts'),
    [
      "import { Predictor, fit, type FitResult, type ModelSpec, OwsdError } from 'owsd';",
      "import { startGateway, type RunningGateway } from 'owsd/server';",
      "import { submitBatch } from 'owsd/scale';",
      "import { runExperiments, type ExperimentResult } from 'owsd/research';",
      'export type T = [FitResult, ModelSpec, RunningGateway, ExperimentResult];',
      'export const used = [Predictor, fit, OwsdError, startGateway, submitBatch, runExperiments];',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(repoRoot, 'node_modules', '@types'), 'consumer.ts'];
  await run(process.execPath, [tsc, ...args], { cwd: dir }).catch((e: { stdout: string }) => assert.fail(`tsc failed:\n${e.stdout}`));
  // and a name that is not in the owsd entry is a type error, not a silent any
  fs.writeFileSync(path.join(dir, 'consumer.ts'), "import { startGateway } from 'owsd';\nexport const x = startGateway;\n");
  await assert.rejects(run(process.execPath, [tsc, ...args], { cwd: dir }), (e: { stdout: string }) => /has no exported member 'startGateway'/.test(e.stdout));
});
