/**
 * Issue 16.1: onnxruntime's Linux telemetry parsed the whole command line recursively when its environment started
 * (the first session), so `owsd scramble` over 1,200 image paths died with SIGSEGV. src/internal/ort.ts turns the
 * telemetry off before any session; these tests start onnxruntime under a 10,000-argument command line on the main
 * thread and in a worker thread with a 1 MB stack, and check with strace (where present) that it no longer reads
 * /proc/self/cmdline. Each fails without the fix (exit 139).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './helpers.js';

const ortModule = path.join(repoRoot, 'dist/src/internal/ort.js');
/** A session on a one-node graph (Identity) built by our own graph writer: enough to start onnxruntime's environment. */
const script = (where: 'main' | 'worker') => `
import { Worker, isMainThread } from 'node:worker_threads';
const run = async () => {
  const { createSession } = await import(${JSON.stringify(ortModule)});
  const { buildIdentityModel } = await import(${JSON.stringify(path.join(repoRoot, 'dist/test/long-argv-model.js'))});
  const s = await createSession(buildIdentityModel(), { what: 'identity' });
  console.log('session', s.inputNames.join(','));
};
if (${JSON.stringify(where)} === 'worker' && isMainThread) {
  await import(${JSON.stringify(ortModule)}); // what owsd's entry points do: the main thread loads owsd first
  const w = new Worker(new URL(import.meta.url), { resourceLimits: { stackSizeMb: 1 } });
  w.on('error', (e) => { console.error(String(e)); process.exit(3); });
  w.on('exit', (c) => process.exit(c));
} else await run();
`;

function longArgs(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/photos/2026/holiday/IMG_${String(i).padStart(5, '0')}-some-long-camera-name.jpeg`);
}

for (const where of ['main', 'worker'] as const) {
  test(`onnxruntime starts under a 10,000-path command line (${where} thread)`, async () => {
    const dir = tempDir();
    const file = path.join(dir, 'start.mjs');
    fs.writeFileSync(file, script(where));
    const env = { ...process.env };
    delete env.ORT_DISABLE_TELEMETRY;
    const { stdout } = await promisify(execFile)('node', [file, ...longArgs(10_000)], { env, maxBuffer: 1 << 24 });
    assert.match(stdout, /session/);
  });
}

test('onnxruntime reads neither /proc/self/cmdline nor /etc/machine-id (strace)', (t) => {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
  } catch {
    return t.skip('strace is not installed');
  }
  const dir = tempDir();
  const file = path.join(dir, 'start.mjs');
  fs.writeFileSync(file, script('main'));
  const log = path.join(dir, 'trace');
  const env = { ...process.env };
  delete env.ORT_DISABLE_TELEMETRY;
  execFileSync('strace', ['-f', '-e', 'trace=openat', '-o', log, 'node', file, 'a', 'b'], { env, stdio: 'ignore' });
  const opened = fs.readFileSync(log, 'utf8');
  assert.ok(opened.includes('libonnxruntime'), 'the trace covers onnxruntime');
  assert.doesNotMatch(opened, /\/proc\/self\/cmdline|\/etc\/machine-id/);
});
