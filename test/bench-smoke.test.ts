/** The benches stay out of `npm test`; this only checks that their shared helper and one growth point still work. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { rate, saveResult, measureMatmul } from '../bench/lib.js';
import { repoRoot, tempDir } from './helpers.js';

test('bench helper: rates, a matmul rate, and a JSON record with the conditions it ran under', async () => {
  let calls = 0;
  const r = await rate(4, () => void calls++, 0.05);
  assert.ok(calls >= 2 && r > 0);
  const m = await measureMatmul(64, 64, 64, 3);
  assert.ok(m.best >= m.median && m.median > 0);
  const dir = tempDir();
  const old = process.env.BENCH_OUT;
  process.env.BENCH_OUT = dir;
  try {
    saveResult('smoke', { value: 1 });
  } finally {
    if (old === undefined) delete process.env.BENCH_OUT;
    else process.env.BENCH_OUT = old;
  }
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'smoke.json'), 'utf8'));
  assert.equal(rec.bench, 'smoke');
  assert.equal(rec.value, 1);
  assert.equal(rec.conditions.loadAverage.length, 2);
  assert.ok(rec.conditions.cores >= 1);
});

test('growth bench: one point in a child process reports its time and peak RSS', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist/bench/growth.js'), '--child', 'image-size', '--value', '32']);
  const line = stdout.split('\n').find((l) => l.startsWith('POINT '));
  assert.ok(line, stdout);
  const p = JSON.parse(line.slice(6));
  assert.equal(p.kind, 'image-size');
  assert.ok(p.itemsPerSecond > 0 && p.peakRssMb > 50, line);
});

test('latency bench: every stage timed, both wires (binary smaller), lossless PNG settings, in a child process', async () => {
  const dir = tempDir();
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist/bench/latency.js'), '--images', '1', '--image-size', '32', '--cloud', 'cifar10-resnet20'], {
    env: { ...process.env, BENCH_OUT: dir },
    maxBuffer: 16 * 1024 * 1024,
  });
  assert.match(stdout, /batch-1 latency by stage/);
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'latency.json'), 'utf8'));
  for (const s of ['decode', 'encode', 'generate', 'png', 'ledger', 'httpJson', 'cloudJson', 'httpBinary', 'cloudBinary', 'cloudPreprocess', 'cloudRun', 'iin']) {
    assert.ok(Number.isFinite(rec.medianMs[s]) && rec.medianMs[s] > 0, `${s}: ${rec.medianMs[s]} ms`);
  }
  assert.ok(rec.wire.binary.bytesUpPerImage < rec.wire.json.bytesUpPerImage, JSON.stringify(rec.wire));
  assert.ok(rec.wire.binary.bytesDownPerImage < rec.wire.json.bytesDownPerImage, JSON.stringify(rec.wire));
  assert.ok(rec.pngSettings.length >= 5 && rec.pngSettings.every((p: { lossless: boolean }) => p.lossless), 'every PNG setting gives the pixels back');
  assert.equal(rec.pngSettings.filter((p: { current: boolean }) => p.current).length, 1, 'the scrambler setting is among those measured');
});
