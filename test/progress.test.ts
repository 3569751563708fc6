/**
 * Progress on stderr: the terminal display by unit (events fed, output captured), and the plain lines of real
 * `owsd` processes whose stderr is not a terminal (fit, eval, predict, key rotate, cloud accuracy), silenced by
 * --quiet.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createKey, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { createProgress, progressWith } from '../src/cli/progress.js';
import { dataDir, imagenetteFiles, modelsDir, runOwsd, tempDir } from './helpers.js';

/** A fake stream and clock. */
function capture(o: { isTTY: boolean; columns?: number }) {
  const writes: string[] = [];
  let t = 0;
  return {
    stream: { isTTY: o.isTTY, columns: o.columns, write: (s: string) => writes.push(s) },
    writes,
    now: () => t,
    advance: (ms: number) => (t += ms),
  };
}

test('terminal: one line for all phases, redrawn in place, counts, rate and time left, cut to the width', () => {
  const c = capture({ isTTY: true, columns: 72 });
  const p = createProgress({ command: 'fit', stream: c.stream, now: c.now });
  for (let done = 0; done <= 350; done += 50) {
    c.advance(500);
    p.on('encode', done, 350);
  }
  c.advance(1000);
  p.on('send', 100, 350);
  c.advance(1000);
  p.on('send', 200, 350);
  const frames = c.writes.filter((w) => w.startsWith('\r'));
  assert.ok(frames.length >= 5, 'redrawn as events come');
  for (const f of frames) {
    assert.ok(!f.includes('\n'), 'a frame stays on one line');
    const text = f.replace(/^\r/, '').replace(/\x1b\[K$/, '');
    assert.ok(text.length <= 71, `fits 72 columns: ${JSON.stringify(text)}`);
  }
  const last = frames.at(-1)!.replace(/^\r/, '').replace(/\x1b\[K$/, '');
  assert.match(last, /^owsd fit {2}encode 350 ✓ \| send 200\/350 57% 100\/s ~1\.5s$/);
  // Redraws are throttled (10 a second), except when a phase finishes.
  const before = c.writes.length;
  c.advance(10);
  p.on('send', 201, 350);
  assert.equal(c.writes.length, before);
  c.advance(10);
  p.on('send', 350, 350);
  assert.equal(c.writes.length, before + 1);
  // An IIN's epoch shows as detail; a note is printed above the display, which is then redrawn.
  c.advance(200);
  p.on('train', 3, 120, 'iin[both] epoch 3');
  assert.match(c.writes.at(-1)!, /train 3\/120 2% \(iin\[both\] epoch …\x1b\[K$/, 'the detail is cut at the width');
  progressWith(p, '/w')('reuse', 8, 24);
  assert.ok(c.writes.includes('owsd fit: reused 8 of 24 cloud answers journaled in /w (not sent again)\n'));
  assert.match(c.writes.at(-1)!, /^\rowsd fit {2}encode 350 ✓ \| send 350 ✓ \| train/);
  p.stop();
  assert.ok(c.writes.at(-1)!.endsWith('\n'), 'stop ends the line');
  const n = c.writes.length;
  p.on('encode', 1, 2);
  p.stop();
  assert.equal(c.writes.length, n, 'nothing after stop');
});

test('not a terminal: plain lines, none in the first everyMs, then periodic and one when a phase ends', () => {
  const c = capture({ isTTY: false });
  const p = createProgress({ command: 'eval', stream: c.stream, now: c.now, everyMs: 1000 });
  p.on('encode', 0, 100);
  c.advance(500);
  p.on('encode', 40, 100);
  assert.equal(c.writes.length, 0, 'a quick command stays silent');
  c.advance(600);
  p.on('encode', 80, 100);
  assert.deepEqual(c.writes, ['owsd eval: encode 80/100 (80%), 73/s, ~0.3s left\n']);
  c.advance(100);
  p.on('encode', 90, 100);
  assert.equal(c.writes.length, 1, 'at most one line per everyMs');
  c.advance(100);
  p.on('encode', 100, 100);
  assert.equal(c.writes.at(-1), 'owsd eval: encode 100/100 done in 1.3s (77/s)\n');
  c.advance(100);
  p.on('check', 1, 2, 'any-inverter bound');
  c.advance(1000);
  p.on('check', 2, 2);
  assert.equal(c.writes.at(-1), 'owsd eval: check 2/2 done in 1.0s\n', 'no rate for a phase of a few steps');
  assert.ok(c.writes.every((w) => !w.includes('\r') && !w.includes('\x1b')), 'no terminal codes in a log');
  p.stop();
});

test('--quiet: nothing at all', () => {
  for (const isTTY of [true, false]) {
    const c = capture({ isTTY });
    const p = createProgress({ command: 'fit', quiet: true, stream: c.stream, now: c.now, everyMs: 0 });
    c.advance(10_000);
    p.on('send', 5, 10);
    p.on('send', 10, 10);
    progressWith(p)('reuse', 3, 10);
    p.stop();
    assert.deepEqual(c.writes, []);
  }
});

// Real processes, stderr a pipe. OWSD_PROGRESS_MS=1: a line for (almost) every event.
const dir = tempDir('owsd-progress-');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
const CLOUD_MODEL = 'cifar10-resnet20';
let cloud: RunningCloud;
const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_DATA: dataDir, OWSD_PROGRESS_MS: '1' };
const quietEnv = { ...env };

before(async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(71), imageSize: 32, budget: 1000 }));
});
after(async () => {
  await cloud?.close();
});

const fitArgs = (out: string) => [
  'fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--cloud', cloud.url, '--model-name', CLOUD_MODEL,
  '--data', path.join(dataDir, 'imagenette-val'), '--labels', '2', '--per-label', '8', '--test-fraction', '0.25', '--epochs', '2', '--hidden', '8', '--batch-size', '4', '--out', out,
];
const progressLines = (stderr: string, cmd: string) => stderr.split('\n').filter((l) => l.startsWith(`owsd ${cmd}: `) && /\d+\/\d+/.test(l));

test('fit, eval, predict, key rotate and cloud accuracy print progress lines on a non-terminal stderr; --quiet silences them', async () => {
  const fit = await runOwsd(fitArgs(bundle), env);
  assert.equal(fit.code, 0, fit.stderr);
  const lines = progressLines(fit.stderr, 'fit');
  for (const phase of ['encode', 'scramble', 'send', 'train', 'check']) {
    assert.ok(lines.some((l) => l.startsWith(`owsd fit: ${phase} `) && / done in /.test(l)), `${phase} finished:\n${fit.stderr}`);
  }
  assert.ok(lines.some((l) => /^owsd fit: send \d+\/12 \(\d+%\), [\d.]+\/s/.test(l)) || lines.some((l) => /^owsd fit: send 12\/12 done in/.test(l)), fit.stderr);
  assert.ok(!fit.stderr.includes('\r') && !fit.stderr.includes('\x1b'), 'no terminal codes');

  const quietFit = await runOwsd([...fitArgs(path.join(dir, 'bq')), '--quiet'], quietEnv);
  assert.equal(quietFit.code, 0, quietFit.stderr);
  assert.deepEqual(progressLines(quietFit.stderr, 'fit'), []);

  const ev = await runOwsd(['eval', '--bundle', bundle, '--key', keyFile], env);
  assert.equal(ev.code, 0, ev.stderr);
  assert.ok(progressLines(ev.stderr, 'eval').some((l) => /^owsd eval: send 4\/4 done in/.test(l)), ev.stderr);
  const evq = await runOwsd(['eval', '--bundle', bundle, '--key', keyFile, '-q'], env);
  assert.equal(evq.code, 0, evq.stderr);
  assert.deepEqual(progressLines(evq.stderr, 'eval'), []);

  const images = imagenetteFiles(3);
  const pr = await runOwsd(['predict', ...images, '--bundle', bundle, '--key', keyFile], env);
  assert.equal(pr.code, 0, pr.stderr);
  assert.ok(progressLines(pr.stderr, 'predict').some((l) => /^owsd predict: send 3\/3 done in/.test(l)), pr.stderr);
  const prq = await runOwsd(['predict', ...images, '--bundle', bundle, '--key', keyFile, '--quiet'], env);
  assert.equal(prq.code, 0, prq.stderr);
  assert.equal(prq.stderr, '');

  const ca = await runOwsd(['cloud', 'accuracy', '--model', CLOUD_MODEL, '--url', cloud.url, '--data', path.join(dataDir, 'cifar-10'), '--limit', '8', '--batch', '2'], env);
  assert.equal(ca.code, 0, ca.stderr);
  assert.ok(progressLines(ca.stderr, 'cloud accuracy').some((l) => /^owsd cloud accuracy: send 8\/8 done in/.test(l)), ca.stderr);
  const caq = await runOwsd(['cloud', 'accuracy', '--model', CLOUD_MODEL, '--url', cloud.url, '--data', path.join(dataDir, 'cifar-10'), '--limit', '8', '--quiet'], env);
  assert.equal(caq.code, 0, caq.stderr);
  assert.equal(caq.stderr, '');

  const rot = await runOwsd(['key', 'rotate', '--bundle', bundle, '--key', keyFile], env);
  assert.equal(rot.code, 0, rot.stderr);
  const rl = progressLines(rot.stderr, 'key rotate');
  assert.ok(rl.some((l) => /^owsd key rotate: rotate 2\/2 done in/.test(l)), rot.stderr);
  assert.ok(rl.some((l) => /^owsd key rotate: send 12\/12 done in/.test(l)), rot.stderr);
  assert.ok(rl.some((l) => /^owsd key rotate: train \d+\/\d+ done in/.test(l)), rot.stderr);
});
