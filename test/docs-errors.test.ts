/**
 * docs/errors.md lists every OWSD_ERR_* code of src/errors.ts with the HTTP status and the CLI exit code it really
 * has: this fails when a code is missing from the page, when the page lists a code that no longer exists, or when
 * a status or exit code differs. It also runs the real CLI on two mistakes to check that the exit code a user sees
 * is the one the page lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ERRORS, OwsdError, type ErrorCode } from '../src/errors.js';
import { repoRoot, runOwsd, tempDir } from './helpers.js';

interface Row {
  status: number;
  exit: number;
}

/** The table rows of docs/errors.md: | `OWSD_ERR_X` | status | exit | ... |. */
function documented(): Map<string, Row> {
  const md = fs.readFileSync(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  const rows = new Map<string, Row>();
  for (const line of md.split('\n')) {
    const m = /^\|\s*`(OWSD_ERR_[A-Z_]+)`\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `docs/errors.md lists ${m[1]} twice`);
    rows.set(m[1]!, { status: Number(m[2]), exit: Number(m[3]) });
  }
  return rows;
}

test('docs/errors.md lists every OWSD_ERR_* code with its HTTP status and CLI exit code', () => {
  const rows = documented();
  const codes = Object.keys(ERRORS) as ErrorCode[];
  const missing = codes.filter((c) => !rows.has(c));
  assert.deepEqual(missing, [], `docs/errors.md lacks ${missing.join(', ')}`);
  const stale = [...rows.keys()].filter((c) => !(c in ERRORS));
  assert.deepEqual(stale, [], `docs/errors.md lists codes src/errors.ts no longer has: ${stale.join(', ')}`);
  for (const code of codes) {
    const e = new OwsdError(code, 'x');
    assert.deepEqual(rows.get(code), { status: e.status, exit: e.exitCode }, `${code}: docs/errors.md says status ${rows.get(code)!.status} and exit ${rows.get(code)!.exit}, src/errors.ts has ${e.status} and ${e.exitCode}`);
  }
});

test('every code the sources raise is a code of src/errors.ts (and so of docs/errors.md)', () => {
  const used = new Set<string>();
  const walk = (dir: string): void => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name.endsWith('.ts') || d.name.endsWith('.js')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/OWSD_ERR_[A-Z][A-Z_]*[A-Z]/g)) used.add(m[0]);
    }
  };
  walk(path.join(repoRoot, 'src'));
  const unknown = [...used].filter((c) => !(c in ERRORS));
  assert.deepEqual(unknown, [], `src/ names codes that src/errors.ts does not define: ${unknown.join(', ')}`);
});

test('the CLI exits with the code docs/errors.md lists', async () => {
  const rows = documented();
  const dir = tempDir();
  const env = { ...process.env, OWSD_STATE: path.join(dir, 'state') };
  // OWSD_ERR_KEY: a key file that does not exist.
  const missing = await runOwsd(['key', 'show', path.join(dir, 'nope.key')], env);
  assert.equal(missing.code, rows.get('OWSD_ERR_KEY')!.exit, missing.stderr);
  assert.match(missing.stderr, /^owsd: .*nope\.key/);
  // OWSD_ERR_KEY_PERMISSIONS: a key file others can read.
  const keyFile = path.join(dir, 'k.key');
  assert.equal((await runOwsd(['key', 'new', '--out', keyFile], env)).code, 0);
  fs.chmodSync(keyFile, 0o644);
  const open = await runOwsd(['key', 'show', keyFile], env);
  assert.equal(open.code, rows.get('OWSD_ERR_KEY_PERMISSIONS')!.exit, open.stderr);
  assert.match(open.stderr, /readable by others/);
  assert.ok(!/\n\s+at /.test(open.stderr), 'no stack trace');
});
