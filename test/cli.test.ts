import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { imagenetteFiles, modelsDir, tempDir, runOwsd } from './helpers.js';
import { DEFAULT_EMBEDDING_NOISE, DEFAULT_IMAGE_SIZE } from '../src/index.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };

const owsd = (args: string[]) => runOwsd(args, env);

test('owsd key new/show: 0600 file, and the secret appears in no output', async () => {
  const dir = tempDir();
  const keyFile = path.join(dir, 'k.key');
  const made = await owsd(['key', 'new', '--out', keyFile, '--budget', '500', '--image-size', '128']);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
  const secret = JSON.parse(fs.readFileSync(keyFile, 'utf8')).secret as string;
  const hex = Buffer.from(secret, 'base64').toString('hex');
  const shown = await owsd(['key', 'show', keyFile, '--json']);
  const info = JSON.parse(shown.stdout);
  assert.equal(info.budget, 500);
  assert.equal(info.used, 0);
  assert.equal(info.generator.imageSize, 128);
  assert.match(info.keyId, /^k_[0-9a-f]{16}$/);
  const text = await owsd(['key', 'show', keyFile]);
  assert.match(text.stdout, /→ 4x4x256 → 128x128x3/, 'a power of two starts at 4 px');
  const odd = path.join(dir, 'k96.key');
  assert.equal((await owsd(['key', 'new', '--out', odd, '--image-size', '96'])).code, 0);
  assert.match((await owsd(['key', 'show', odd])).stdout, /→ 3x3x256 → 96x96x3/, '96 px starts at 3 px (startSide)');
  for (const out of [made.stdout + made.stderr, shown.stdout + shown.stderr, text.stdout + text.stderr]) {
    assert.ok(!out.includes(secret) && !out.includes(hex), 'secret printed');
  }
  assert.ok(!JSON.stringify(info).includes('secret'));
});

test('owsd scramble: a deterministic key (--noise 0), two processes, byte-identical PNGs; another key differs', async () => {
  const dir = tempDir();
  const images = imagenetteFiles(3, 'n02979186');
  for (const k of ['a', 'b']) assert.equal((await owsd(['key', 'new', '--noise', '0', '--out', path.join(dir, `${k}.key`)])).code, 0);
  const outs = [];
  for (const [k, out] of [['a', 'out1'], ['a', 'out2'], ['b', 'out3']]) {
    const r = await owsd(['scramble', '--key', path.join(dir, `${k}.key`), '--encoder', 'shufflenet-v2-12-qdq', '--out', path.join(dir, out!), ...images]);
    assert.equal(r.code, 0, r.stderr);
    outs.push(out!);
  }
  const names = fs.readdirSync(path.join(dir, 'out1')).sort();
  assert.equal(names.length, 3);
  for (const n of names) {
    const a = fs.readFileSync(path.join(dir, 'out1', n));
    assert.deepEqual(a, fs.readFileSync(path.join(dir, 'out2', n)));
    assert.notDeepEqual(a, fs.readFileSync(path.join(dir, 'out3', n)));
    const meta = await sharp(a).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 'png']);
  }
});

test('owsd key new makes noisy keys by default: the same image, scrambled twice, never gives the same PNG', async () => {
  const dir = tempDir();
  const made = await owsd(['key', 'new', '--out', path.join(dir, 'k.key'), '--image-size', '64', '--json']);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(JSON.parse(made.stdout).generator.embeddingNoise, DEFAULT_EMBEDDING_NOISE);
  const images = imagenetteFiles(1);
  for (const out of ['o1', 'o2']) assert.equal((await owsd(['scramble', '--key', path.join(dir, 'k.key'), '--encoder', 'mobilenetv2-12-int8', '--out', path.join(dir, out), ...images])).code, 0);
  const name = fs.readdirSync(path.join(dir, 'o1'))[0]!;
  assert.notDeepEqual(fs.readFileSync(path.join(dir, 'o1', name)), fs.readFileSync(path.join(dir, 'o2', name)));
  const bad = await owsd(['key', 'new', '--out', path.join(dir, 'x.key'), '--noise', '-1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--noise expects a number in \[0, 100\]/);
});

test('owsd scramble --stats reports zero activations, pixel std and distinct levels', async () => {
  const dir = tempDir();
  await owsd(['key', 'new', '--out', path.join(dir, 'k.key')]);
  const r = await owsd(['scramble', '--key', path.join(dir, 'k.key'), '--encoder', 'mobilenetv2-12-int8', '--out', path.join(dir, 'o'), '--stats', '--json', ...imagenetteFiles(2)]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).stats;
  assert.ok(s.zeroFraction > 0.3 && s.zeroFraction < 0.7);
  assert.ok(s.minDistinctLevels >= 200);
});

test('EXPECTED FAILURE - CLI errors are one clear line with no stack trace', async () => {
  const dir = tempDir();
  const keyFile = path.join(dir, 'k.key');
  await owsd(['key', 'new', '--out', keyFile]);
  fs.chmodSync(keyFile, 0o644);
  const r = await owsd(['key', 'show', keyFile]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^owsd: key file .* is readable by others/);
  assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
  fs.chmodSync(keyFile, 0o600);
  const bad = await owsd(['scramble', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--out', path.join(dir, 'o'), path.join(dir, 'nope.jpg')]);
  assert.match(bad.stderr, /^owsd: .*nope\.jpg does not exist\n$/); // named before any model loads (src/cli/inputs.ts)
  assert.ok(!/\n\s+at /.test(bad.stderr));
});

test('a bare .onnx path works with preprocessing given by flags, and without them says what to give', async () => {
  const dir = tempDir();
  const onnx = path.join(dir, 'encoder.onnx');
  fs.copyFileSync(path.join(modelsDir, 'mobilenetv2-12-int8.onnx'), onnx);
  await owsd(['key', 'new', '--out', path.join(dir, 'k.key'), '--image-size', '64', '--noise', '0']);
  const images = imagenetteFiles(1);
  const missing = await owsd(['scramble', '--key', path.join(dir, 'k.key'), '--encoder', onnx, '--out', path.join(dir, 'o'), ...images]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no preprocessing known.*sidecar.*--resize\/--crop\/--mean\/--std/);
  const ok = await owsd(['scramble', '--key', path.join(dir, 'k.key'), '--encoder', onnx, '--resize', '256', '--crop', '224', '--out', path.join(dir, 'o'), '--json', ...images]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).encoders[0].dim, 1280);
  // Same model, same preprocessing, found by name: byte-identical PNG.
  const named = await owsd(['scramble', '--key', path.join(dir, 'k.key'), '--encoder', 'mobilenetv2-12-int8', '--out', path.join(dir, 'n'), ...images]);
  assert.equal(named.code, 0, named.stderr);
  const name = fs.readdirSync(path.join(dir, 'o'))[0]!;
  assert.deepEqual(fs.readFileSync(path.join(dir, 'o', name)), fs.readFileSync(path.join(dir, 'n', name)));
});
