/**
 * Install noise from this project's own files: `npm ci` on Node 20 with npm 11 must print no warning they cause.
 * - .npmrc (if any) holds only keys npm knows (an unknown one warns on every npm command);
 * - every package in package-lock.json admits Node 20 in its `engines` (else npm ci warns EBADENGINE);
 * - every dependency with an install script has an `allowScripts` entry (else npm ci lists it as not reviewed),
 *   and onnxruntime-node's (which downloads CUDA libraries) is denied.
 * Checked on the files, so no test downloads anything; `npm ci` in a fresh clone was run by hand (docs in the
 * commit message and the report).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers.js';

type Version = [number, number, number];

function parseVersion(v: string): Version {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, '').split('.').map((x) => (x === 'x' || x === '*' ? 0 : Number(x)));
  return [a, b, c];
}
function cmp(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Whether `v` satisfies an engines range of the forms npm packages use (>=, >, <, <=, ^, ~, N.x, ||, spaces). */
export function satisfies(v: string, range: string): boolean {
  const ver = parseVersion(v);
  return range.split('||').some((alt) => {
    const parts = alt.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return parts.every((p) => {
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(p);
      if (!m) throw new Error(`engines range not understood: '${range}'`);
      const [, op = '', maj, min, pat] = m;
      const wild = min === undefined || min === 'x' || min === '*';
      const base = parseVersion(`${maj}.${min ?? 0}.${pat ?? 0}`);
      const c = cmp(ver, base);
      switch (op) {
        case '>=': return c >= 0;
        case '>': return wild ? ver[0] > base[0] : c > 0;
        case '<': return c < 0;
        case '<=': return wild ? ver[0] <= base[0] : c <= 0;
        case '^': return c >= 0 && ver[0] === base[0];
        case '~': return c >= 0 && ver[0] === base[0] && ver[1] === base[1];
        default: return wild ? ver[0] === base[0] : c === 0;
      }
    });
  });
}

test('the engines check itself', () => {
  assert.ok(satisfies('20.9.0', '>=20'));
  assert.ok(!satisfies('20.9.0', '>=22'));
  assert.ok(satisfies('20.9.0', '^20.9.0') && !satisfies('22.0.0', '^20.9.0'));
  assert.ok(satisfies('20.9.0', '10.* || >= 12.*') && satisfies('20.9.0', '>=9.4.0 || ^8.9.4') && satisfies('20.9.0', '>= 10.x'));
  assert.throws(() => satisfies('20.9.0', 'node20'), /not understood/);
});

const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: unknown; hasInstallScript?: boolean; dev?: boolean }> };
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string }; allowScripts?: Record<string, boolean> };

test('every package in package-lock.json admits Node 20.12 and later (no EBADENGINE on npm ci)', () => {
  // The oldest Node 20 we promise: dependency-cruiser (the import lint, a devDependency) needs 20.12.
  assert.equal(pkg.engines.node, '>=20.12');
  const versions = ['20.12.0', ...(process.version.startsWith('v20.') ? [process.version] : [])];
  const bad: string[] = [];
  for (const [where, p] of Object.entries(lock.packages)) {
    const node = p.engines && typeof p.engines === 'object' ? (p.engines as { node?: string }).node : undefined;
    if (!node) continue;
    for (const v of versions) if (!satisfies(v, node)) bad.push(`${where} requires node ${node} (not ${v})`);
  }
  assert.deepEqual(bad, []);
});

test('every dependency with an install script is reviewed in allowScripts; onnxruntime-node\'s CUDA download is denied', () => {
  const withScripts = Object.entries(lock.packages).filter(([where, p]) => where && p.hasInstallScript).map(([where]) => where.replace(/^.*node_modules\//, ''));
  assert.ok(withScripts.includes('onnxruntime-node'));
  const allow = pkg.allowScripts ?? {};
  assert.deepEqual(withScripts.filter((name) => !(name in allow)), [], 'not reviewed');
  assert.equal(allow['onnxruntime-node'], false);
});

test('.npmrc holds no key npm does not know (no "Unknown project config" on every npm command)', async () => {
  const file = path.join(repoRoot, '.npmrc');
  if (!fs.existsSync(file)) return;
  const { stderr } = await promisify(execFile)('npm', ['config', 'list'], { cwd: repoRoot });
  assert.ok(!/Unknown (project|user|global|env) config/.test(stderr), stderr);
});
