import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Encoder, resolveModel, OnnxClassifier } from '../src/index.js';
import { imagenetteFiles, modelsDir, tempDir } from './helpers.js';

const tench = imagenetteFiles(3, 'n01440764').map((p) => ({ kind: 'file' as const, path: p }));

test('both ImageNet models give their embeddings (1280-d int8, 1024-d QDQ with batch fixed at 1)', async () => {
  for (const [name, dim] of [['mobilenetv2-12-int8', 1280], ['shufflenet-v2-12-qdq', 1024]] as const) {
    const enc = await Encoder.create([await resolveModel(name, { modelsDir })]);
    assert.equal(enc.dim, dim);
    const e = await enc.encode(tench);
    assert.equal(e.length, 3 * dim);
    assert.ok(e.every(Number.isFinite));
    // Pooled post-activation features: non-negative, not all zero, and different per image.
    assert.ok(e.some((x) => x > 0));
    assert.notDeepEqual(e.subarray(0, dim), e.subarray(dim, 2 * dim));
    // Batched and one-at-a-time encodings agree.
    const single = await enc.encode(tench.slice(1, 2));
    for (let i = 0; i < dim; i++) assert.ok(Math.abs(single[i]! - e[dim + i]!) < 1e-4);
    await enc.release();
  }
});

test('the auto-located embedding is what the classifier layer reads: a linear probe on it reproduces the logits ranking', async () => {
  // Nearest neighbours in embedding space share the label far more often than chance.
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const a = await enc.encode(imagenetteFiles(6, 'n01440764').map((p) => ({ kind: 'file' as const, path: p })));
  const b = await enc.encode(imagenetteFiles(6, 'n03888257').map((p) => ({ kind: 'file' as const, path: p })));
  const cos = (x: Float32Array, y: Float32Array) => {
    let d = 0, nx = 0, ny = 0;
    for (let i = 0; i < x.length; i++) { d += x[i]! * y[i]!; nx += x[i]! ** 2; ny += y[i]! ** 2; }
    return d / Math.sqrt(nx * ny);
  };
  const dim = enc.dim;
  const row = (m: Float32Array, i: number) => m.subarray(i * dim, (i + 1) * dim);
  let within = 0, across = 0;
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) {
    if (i !== j) within += cos(row(a, i), row(a, j)) + cos(row(b, i), row(b, j));
    across += 2 * cos(row(a, i), row(b, j));
  }
  assert.ok(within / 60 > across / 72 + 0.1, `within ${within / 60} across ${across / 72}`);
});

test('two encoders concatenate their embeddings per image', async () => {
  const specs = [await resolveModel('mobilenetv2-12-int8', { modelsDir }), await resolveModel('shufflenet-v2-12-qdq', { modelsDir })];
  const both = await Encoder.create(specs);
  const one = await Encoder.create([specs[1]!]);
  assert.equal(both.dim, 2304);
  const e = await both.encode(tench.slice(0, 2));
  const s = await one.encode(tench.slice(0, 2));
  for (let i = 0; i < 1024; i++) assert.ok(Math.abs(e[2304 + 1280 + i]! - s[1024 + i]!) < 1e-4);
});

test('grey, CMYK, alpha, 16-bit and odd-sized images all encode', async () => {
  const dir = tempDir();
  const src = sharp(tench[0]!.path);
  const made = {
    grey: await src.clone().greyscale().jpeg().toFile(path.join(dir, 'grey.jpg')),
    cmyk: await src.clone().toColourspace('cmyk').jpeg().toFile(path.join(dir, 'cmyk.jpg')),
    alpha: await src.clone().ensureAlpha(0.5).png().toFile(path.join(dir, 'alpha.png')),
    b16: await src.clone().toColourspace('rgb16').png().toFile(path.join(dir, 'sixteen.png')),
    odd: await src.clone().resize(301, 97, { fit: 'fill' }).webp().toFile(path.join(dir, 'odd.webp')),
  };
  assert.equal((await sharp(path.join(dir, 'cmyk.jpg')).metadata()).space, 'cmyk');
  assert.equal((await sharp(path.join(dir, 'sixteen.png')).metadata()).depth, 'ushort');
  void made;
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const names = ['grey.jpg', 'cmyk.jpg', 'alpha.png', 'sixteen.png', 'odd.webp'];
  const e = await enc.encode(names.map((n) => ({ kind: 'file' as const, path: path.join(dir, n) })));
  assert.equal(e.length, 5 * 1280);
  assert.ok(e.every(Number.isFinite));
  // The CMYK and 16-bit versions are the same picture: their embeddings are close to the original's.
  const orig = await enc.encode(tench.slice(0, 1));
  const dist = (k: number) => Math.sqrt(orig.reduce((a, x, i) => a + (x - e[k * 1280 + i]!) ** 2, 0) / orig.reduce((a, x) => a + x * x, 0));
  assert.ok(dist(3) < 0.2, `16-bit relative distance ${dist(3)}`);
  assert.ok(dist(1) < 0.5, `CMYK relative distance ${dist(1)}`);
});

test('EXPECTED FAILURE - unreadable files give a clear error naming the file', async () => {
  const dir = tempDir();
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty.jpg', new Uint8Array(0), /empty\.jpg/],
    ['text.png', Buffer.from('hello, not an image'), /text\.png.*not an image format|text\.png/],
    ['truncated.jpg', fs.readFileSync(tench[0]!.path).subarray(0, 300), /truncated\.jpg/],
  ];
  for (const [name, bytes, re] of cases) {
    fs.writeFileSync(path.join(dir, name), bytes);
    await assert.rejects(enc.encode([{ kind: 'file', path: path.join(dir, name) }]), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'OWSD_ERR_IMAGE');
      assert.match(e.message, re);
      return true;
    });
  }
  await assert.rejects(enc.encode([{ kind: 'file', path: path.join(dir, 'missing.jpg') }]), { code: 'OWSD_ERR_IMAGE', message: /missing\.jpg.*file not found/ });
});

test('the hosted classifier recognises the images the encoder reads (sanity: same preprocessing)', async () => {
  const c = await OnnxClassifier.create(await resolveModel('mobilenetv2-12-int8', { modelsDir }));
  const p = await c.classify(tench);
  const top = [0, 1, 2].map((i) => p.subarray(i * 1000, (i + 1) * 1000).reduce((b, x, j, arr) => (x > arr[b]! ? j : b), 0));
  assert.ok(top.filter((t) => t === 0).length >= 2, `tench predictions ${top}`);
});
