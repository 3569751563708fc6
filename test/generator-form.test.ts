/**
 * The generator's two graph forms (src/scrambler/generator.ts): dcgan-he-v1 keys keep their ConvTranspose graph
 * byte for byte (so their old images), and the sub-pixel form of dcgan-he-v2 computes the same function: on real
 * embeddings and on several keys, sizes and widths its floats match ConvTranspose's to float rounding and its 8-bit
 * pixels are equal but for a few in 10^4 that land on the neighbouring value. Key files say which design they mean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, DEFAULT_BASE_CHANNELS, DEFAULT_IMAGE_SIZE, Encoder, readKeyFile, resolveModel, Scrambler, writeKeyFile, type Key } from '../src/index.js';
import { buildGeneratorModel, generatorForm, startSide, type GeneratorForm, type LayerForm } from '../src/scrambler/generator.js';
import { DEFAULT_DESIGN } from '../src/key/keyfile.js';
import { defaultBatchSize, MAX_GENERATOR_BATCH } from '../src/scrambler/scrambler.js';
import { createSession, floatTensor } from '../src/internal/ort.js';
import { decodeModel } from '../src/internal/onnx-graph.js';
import { imagenetteFiles, modelsDir, tempDir } from './helpers.js';

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

test('dcgan-he-v1 keys build the same ONNX bytes as before dcgan-he-v2 existed (so the same images)', () => {
  // sha256 of buildGeneratorModel's bytes, computed with the code of commit 7adb415 (before this change).
  const before: Array<[number, number, number, string]> = [
    [32, 64, 100, '71afcfa5a6c0cb5dda764fa07a52ba5ecc88b5d8d709af80838ff37aea8da1b0'],
    [64, 32, 10, '633a2ee17368a49c7c8982cc7d0ef1a3d4a30b5c9424e447e777c8b85db52f74'],
  ];
  for (const [imageSize, baseChannels, dim, hash] of before) {
    const key = createKey({ secret: new Uint8Array(32).fill(3), imageSize, baseChannels, design: 'dcgan-he-v1' });
    assert.equal(generatorForm(key.generator), 'convtranspose');
    assert.equal(sha256(buildGeneratorModel(key, dim)), hash, `${imageSize} px, ${baseChannels} channels, ${dim}-d input`);
  }
});

test('dcgan-he-v2 keys build the same ONNX bytes as before dcgan-he-v3 existed', () => {
  // sha256 of buildGeneratorModel's bytes, computed with the code of commit e5f33cf (before this change).
  const before: Array<[number, number, string]> = [
    [256, 256, 'c99195efb40d9f2c68e27c3805720aa08a7b5b37e453cc000d20e3ab080fbf7a'],
    [96, 32, 'e9c8e61c35867bb6e16a4b3daaf4f8b54f02904a22284a4df9b410f32fcdc7b2'],
  ];
  for (const [imageSize, baseChannels, hash] of before) {
    const key = createKey({ secret: new Uint8Array(32).fill(3), imageSize, baseChannels, design: 'dcgan-he-v2' });
    assert.equal(generatorForm(key.generator), 'hybrid');
    assert.equal(sha256(buildGeneratorModel(key, 40)), hash, `${imageSize} px, ${baseChannels} channels`);
  }
});

async function run(key: Key, dim: number, form: GeneratorForm, x: Float32Array, n: number, layerForms?: LayerForm[]): Promise<{ pixels: Uint8Array; float: Float32Array; ops: string[] }> {
  const bytes = buildGeneratorModel(key, dim, { form, exposeFloat: true, layerForms });
  const session = await createSession(bytes, { what: `generator (${form})` });
  const r = await session.run({ embedding: floatTensor(x, [n, dim]) });
  await session.release();
  const ops = decodeModel(bytes).graph!.node!.map((nd) => nd.opType!);
  return { pixels: r.pixels!.data as Uint8Array, float: r.image_float!.data as Float32Array, ops };
}

function compare(a: { pixels: Uint8Array; float: Float32Array }, b: { pixels: Uint8Array; float: Float32Array }): { maxFloat: number; differing: number; maxLevel: number } {
  let maxFloat = 0;
  for (let i = 0; i < a.float.length; i++) maxFloat = Math.max(maxFloat, Math.abs(a.float[i]! - b.float[i]!));
  let differing = 0;
  let maxLevel = 0;
  for (let i = 0; i < a.pixels.length; i++) {
    const d = Math.abs(a.pixels[i]! - b.pixels[i]!);
    if (d) differing++;
    maxLevel = Math.max(maxLevel, d);
  }
  return { maxFloat, differing, maxLevel };
}

test('the sub-pixel forms (and v3\'s fused tail) compute ConvTranspose\'s function on several keys, sizes and widths', async () => {
  const cases: Array<[number, number, number]> = [
    // [imageSize, baseChannels, secret byte]
    [32, 64, 1],
    [64, 32, 2],
    [128, 16, 3],
    [32, 256, 4],
    // starts other than 4 px (startSide): 96 = 3 x 2^5, 80 = 5 x 2^4
    [96, 32, 5],
    [80, 16, 6],
  ];
  const dim = 48;
  const n = 3;
  for (const [imageSize, baseChannels, s] of cases) {
    const key = createKey({ secret: new Uint8Array(32).fill(s), imageSize, baseChannels });
    const x = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i * 1.37 + s) + 0.2);
    const ct = await run(key, dim, 'convtranspose', x, n);
    assert.ok(ct.ops.includes('ConvTranspose') && !ct.ops.includes('DepthToSpace'));
    const s0 = startSide(imageSize);
    const sides = Array.from({ length: Math.log2(imageSize / s0) }, (_, i) => s0 << i);
    for (const form of ['subpixel', 'hybrid', 'fused', 'conv3x3'] as const) {
      const sp = form === 'conv3x3' ? await run(key, dim, 'convtranspose', x, n, sides.map(() => 'conv3x3')) : await run(key, dim, form, x, n);
      // hybrid and fused: sub-pixel for the layers whose input is at most 8 px, ConvTranspose from 16 px on.
      const small = sides.filter((side) => side <= 8).length;
      const [convT, d2s] = form === 'subpixel' || form === 'conv3x3' ? [0, sides.length] : [sides.length - small, small];
      assert.equal(sp.ops.filter((o) => o === 'ConvTranspose').length, convT, `${form}: ConvTranspose nodes`);
      assert.equal(sp.ops.filter((o) => o === 'DepthToSpace').length, d2s, `${form}: DepthToSpace nodes`);
      // fused: the four-node tail (LayerNormalization, Sigmoid, QuantizeLinear, Transpose of the 8-bit values)
      assert.equal(sp.ops.includes('LayerNormalization') && sp.ops.includes('QuantizeLinear') && !sp.ops.includes('Tanh'), form === 'fused', `${form}: tail`);
      const c = compare(ct, sp);
      const where = `${form}, ${imageSize} px, ${baseChannels} channels`;
      assert.ok(c.maxFloat < 1e-4, `${where}: float images differ by ${c.maxFloat}`);
      assert.ok(c.maxLevel <= 1, `${where}: a pixel differs by ${c.maxLevel} levels`);
      assert.ok(c.differing <= Math.max(2, 1e-3 * ct.pixels.length), `${where}: ${c.differing} of ${ct.pixels.length} pixel values differ`);
    }
  }
});

test('dcgan-he-v2 at the default size and width on real embeddings: the same PNG pixels as ConvTranspose but for a few in 10^4', async () => {
  const key = createKey({ secret: new Uint8Array(32).fill(21), embeddingNoise: 0, design: 'dcgan-he-v2' });
  assert.deepEqual([key.generator.imageSize, key.generator.baseChannels], [DEFAULT_IMAGE_SIZE, DEFAULT_BASE_CHANNELS]);
  assert.equal(DEFAULT_DESIGN, 'dcgan-he-v1', 'the default form: update docs/generator-choice.md if it changes');
  assert.equal(generatorForm(key.generator), 'hybrid');
  const files = imagenetteFiles(8).map((p) => ({ kind: 'file' as const, path: p }));
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const emb = await enc.encode(files);
  await enc.release();
  const ct = await run(key, enc.dim, 'convtranspose', emb, files.length);
  const v2 = await run(key, enc.dim, 'hybrid', emb, files.length);
  const c = compare(ct, v2);
  assert.ok(c.maxFloat < 1e-4, `float images differ by ${c.maxFloat}`);
  assert.ok(c.maxLevel <= 1, `a pixel differs by ${c.maxLevel} levels`);
  // Measured: 0 to a few dozen of the 1,572,864 values; 1e-4 leaves room for other CPUs' rounding.
  assert.ok(c.differing <= 1e-4 * ct.pixels.length, `${c.differing} of ${ct.pixels.length} pixel values differ`);
  // The Scrambler runs the key's form: its pixels are v2's.
  const s = await Scrambler.create(key, enc.dim);
  assert.deepEqual(Buffer.from(await s.pixels(emb, files.length)), Buffer.from(v2.pixels));
  await s.release();
});

test('dcgan-he-v3 on real embeddings at 256 and 96 px: the same PNG pixels as ConvTranspose but for a few in 10^4', async () => {
  const files = imagenetteFiles(8).map((p) => ({ kind: 'file' as const, path: p }));
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  const emb = await enc.encode(files);
  await enc.release();
  for (const imageSize of [256, 96]) {
    const key = createKey({ secret: new Uint8Array(32).fill(22), imageSize, baseChannels: 256, embeddingNoise: 0, design: 'dcgan-he-v3' });
    assert.equal(generatorForm(key.generator), 'fused');
    const ct = await run(key, enc.dim, 'convtranspose', emb, files.length);
    const v3 = await run(key, enc.dim, 'fused', emb, files.length);
    const c = compare(ct, v3);
    assert.ok(c.maxFloat < 1e-4, `${imageSize} px: float images differ by ${c.maxFloat}`);
    assert.ok(c.maxLevel <= 1, `${imageSize} px: a pixel differs by ${c.maxLevel} levels`);
    assert.ok(c.differing <= 1e-4 * ct.pixels.length, `${imageSize} px: ${c.differing} of ${ct.pixels.length} pixel values differ`);
    const s = await Scrambler.create(key, enc.dim);
    assert.deepEqual(Buffer.from(await s.pixels(emb, files.length)), Buffer.from(v3.pixels));
    await s.release();
  }
});

test('a generator run is at most 16 images, and the pixels are the same bytes whatever the run size', async () => {
  const key = createKey({ secret: new Uint8Array(32).fill(23), imageSize: 96, baseChannels: 32, embeddingNoise: 0, design: 'dcgan-he-v3' });
  // The memory rule alone would give hundreds of images per run at this size (and 200 at 96 px, 256 channels).
  assert.equal(defaultBatchSize(key.generator), MAX_GENERATOR_BATCH);
  assert.equal(MAX_GENERATOR_BATCH, 16);
  assert.equal(defaultBatchSize({ imageSize: 96, baseChannels: 256, design: 'dcgan-he-v3' }), 16);
  const n = 20;
  const dim = 24;
  const x = Float32Array.from({ length: n * dim }, (_, i) => Math.max(0, Math.sin(i * 0.61)));
  const out: Buffer[] = [];
  for (const batchSize of [undefined, 3, n]) {
    const s = await Scrambler.create(key, dim, { batchSize });
    assert.equal(s.batchSize, batchSize ?? 16);
    out.push(Buffer.from(await s.pixels(x, n)));
    await s.release();
  }
  assert.deepEqual(out[1], out[0]);
  assert.deepEqual(out[2], out[0]);
});

test('a key file keeps its design: a v1 key reads back as v1 and runs ConvTranspose; an unknown design is refused by name', async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o700);
  const v1 = createKey({ secret: new Uint8Array(32).fill(7), imageSize: 32, baseChannels: 32, design: 'dcgan-he-v1', embeddingNoise: 0 });
  const file = path.join(dir, 'v1.key');
  writeKeyFile(file, v1);
  const back = readKeyFile(file);
  assert.equal(back.generator.design, 'dcgan-he-v1');
  assert.equal(generatorForm(back.generator), 'convtranspose');
  const x = Float32Array.from({ length: 2 * 16 }, (_, i) => Math.cos(i));
  const s = await Scrambler.create(back, 16);
  const old = await run(v1, 16, 'convtranspose', x, 2);
  assert.deepEqual(Buffer.from(await s.pixels(x, 2)), Buffer.from(old.pixels));
  await s.release();

  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { generator: { design: string } };
  json.generator.design = 'dcgan-he-v9';
  const bad = path.join(dir, 'v9.key');
  fs.writeFileSync(bad, JSON.stringify(json), { mode: 0o600 });
  assert.throws(() => readKeyFile(bad), { code: 'OWSD_ERR_KEY', message: /v9\.key: generator\.design must be one of dcgan-he-v1, dcgan-he-v2, dcgan-he-v3/ });
  assert.throws(() => createKey({ design: 'x' as never }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /generator design must be one of/ });
  fs.rmSync(dir, { recursive: true, force: true });
});
