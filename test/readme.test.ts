/**
 * The README keeps its promises to a newcomer: it stays short (at most 16 KB; reference material lives in docs/),
 * its set-up commands are the ones CI and package.json run, its relative links lead somewhere, and its library quick
 * start compiles against the built package and runs on the real models (an embedded cloud on loopback, a real fit
 * and a real prediction).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { DEFAULT_BUDGET, DEFAULT_EMBEDDING_NOISE, DEFAULT_IMAGE_SIZE } from '../src/key/keyfile.js';
import { dataDir, modelsDir, repoRoot, tempDir } from './helpers.js';

const README = path.join(repoRoot, 'README.md');
const readme = fs.readFileSync(README, 'utf8');

/** The fenced blocks of a markdown text, with their info string (`ts`, `sh`, ...) and the heading above them. */
function fencedBlocks(md: string): Array<{ lang: string; code: string; heading: string }> {
  const out: Array<{ lang: string; code: string; heading: string }> = [];
  let heading = '';
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of md.split('\n')) {
    if (open) {
      if (line.startsWith('```')) {
        out.push({ lang: open.lang, code: open.lines.join('\n'), heading });
        open = undefined;
      } else open.lines.push(line);
    } else if (line.startsWith('```')) open = { lang: line.slice(3).trim(), lines: [] };
    else if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
  }
  assert.equal(open, undefined, 'README.md has an unclosed code fence');
  return out;
}

function quickStart(): string {
  const blocks = fencedBlocks(readme).filter((b) => b.lang === 'ts' && /quick start/i.test(b.heading));
  assert.equal(blocks.length, 1, 'README.md has exactly one ```ts block under a "quick start" heading');
  return blocks[0]!.code;
}

test('README.md is at most 16 KB', () => {
  const bytes = fs.statSync(README).size;
  assert.ok(bytes <= 16 * 1024, `README.md is ${bytes} bytes; keep it at most 16384 and move reference material to docs/`);
});

test('the README\'s two set-up commands are the ones package.json and CI run', () => {
  const setup = fencedBlocks(readme).find((b) => b.lang === 'sh' && /set-up/i.test(b.heading));
  assert.ok(setup, 'README.md has a ```sh block under its Set-up heading');
  const lines = setup.code.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
  assert.deepEqual(lines, ['npm ci && OWSD_MODELS=../shared/models OWSD_DATA=../shared/data npm run demo', 'npm ci && npm test']);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.demo!, /cli\/main\.js demo$/, 'npm run demo runs owsd demo');
  assert.match(pkg.scripts.test!, /node --test/, 'npm test runs the tests');
  // .ci/run installs with npm ci and then runs the README's test command.
  const ci = fs.readFileSync(path.join(repoRoot, '.ci/run'), 'utf8').split('\n').map((l) => l.trim());
  assert.ok(ci.includes('npm ci --no-audit --no-fund') && ci.includes('npm test'), '.ci/run runs npm ci and npm test');
});

/** The pages this change moved out of the README, and the README itself. */
const PAGES = ['README.md', 'docs/cli.md', 'docs/gateway.md', 'docs/scale-out.md', 'docs/models.md', 'docs/settings.md', 'docs/errors.md', 'docs/results.md'];
// Written by other changes of the same issue; skipped (and said so) until they are in this checkout.
const PENDING = new Set<string>();

test('the README\'s and its docs pages\' relative links lead to files of the repository', (t) => {
  for (const page of PAGES) {
    const md = fs.readFileSync(path.join(repoRoot, page), 'utf8');
    const targets = [...md.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((u) => !/^[a-z]+:/i.test(u));
    if (page === 'README.md') assert.ok(targets.length >= 10, 'README.md links its docs');
    for (const target of targets) {
      const rel = target.split('#')[0]!;
      if (rel === '') continue;
      const file = path.relative(repoRoot, path.resolve(repoRoot, path.dirname(page), rel));
      if (!fs.existsSync(path.join(repoRoot, file)) && PENDING.has(file)) {
        t.diagnostic(`${page}: ${file} is not in this checkout yet`);
        continue;
      }
      assert.ok(fs.existsSync(path.join(repoRoot, file)), `${page} links ${target}, which does not exist`);
    }
  }
});

test('docs/settings.md names every OWSD_* environment variable that src/, test/ and bench/ read, and the key defaults', () => {
  const md = fs.readFileSync(path.join(repoRoot, 'docs', 'settings.md'), 'utf8');
  const read = new Set<string>();
  const walk = (dir: string): void => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/\bOWSD_(?!ERR\b|ERR_)[A-Z][A-Z_]*[A-Z]\b/g)) read.add(m[0]);
    }
  };
  for (const dir of ['src', 'test', 'bench']) walk(path.join(repoRoot, dir));
  assert.ok(read.has('OWSD_MODELS') && read.has('OWSD_STATE'));
  const missing = [...read].filter((v) => !md.includes(`\`${v}\``)).sort();
  assert.deepEqual(missing, [], `docs/settings.md does not name ${missing.join(', ')}`);
  const row = (what: string): string => md.split('\n').find((l) => l.startsWith(`| key: ${what}`)) ?? '';
  assert.match(row('scrambled image side'), new RegExp(`\\| ${DEFAULT_IMAGE_SIZE} `));
  assert.match(row('budget'), new RegExp(`\\| ${DEFAULT_BUDGET.toLocaleString('en-US')} `));
  assert.match(row('fresh noise'), new RegExp(`\\| ${DEFAULT_EMBEDDING_NOISE} `));
});

test('the README\'s library quick start is at most 20 lines, type-checks against the package and runs', async () => {
  const code = quickStart();
  const lines = code.split('\n').length;
  assert.ok(lines <= 20, `the quick start is ${lines} lines; keep it at most 20`);
  assert.ok(fs.existsSync(path.join(repoRoot, 'dist/src/index.d.ts')), 'the package is built (npm ci / npm run build)');

  // A project of its own that depends on owsd, as a user's would: node_modules/owsd is this checkout.
  const dir = tempDir('owsd-readme-');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-quick-start', private: true, type: 'module' }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(dir, 'node_modules', 'owsd'), 'dir');
  const file = path.join(dir, 'quickstart.ts');
  fs.writeFileSync(file, code);

  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
    outDir: dir,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const text = ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' });
  assert.equal(diagnostics.length, 0, `the quick start does not type-check:\n${text}`);
  const emitted = program.emit();
  assert.equal(emitted.emitSkipped, false);

  // Run it where a user would, with the real models and data; its own state folder for the key's ledger.
  const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_DATA: dataDir, OWSD_STATE: path.join(dir, 'state') };
  const { stdout } = await promisify(execFile)('node', ['quickstart.js'], { cwd: dir, env, timeout: 300_000, maxBuffer: 1 << 24 });
  assert.match(stdout, /validation top-1 and cloud gain: \{[^}]*cloudGain/);
  assert.match(stdout, /predictions: \[/, `the quick start printed a prediction:\n${stdout}`);
  assert.ok(!/error:/.test(stdout), stdout);
  // The key file is private and the bundle holds no secret.
  assert.equal(fs.statSync(path.join(dir, 'my.key')).mode & 0o777, 0o600);
  assert.ok(fs.existsSync(path.join(dir, 'my.bundle', 'bundle.json')));
  fs.rmSync(dir, { recursive: true, force: true }); // kept when an assertion fails, to look at
});
