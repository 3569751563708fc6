import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createKey, Encoder, resolveModel, Scrambler, scrambleStats, countWeights, generatorLayers, DEFAULT_EMBEDDING_NOISE } from '../src/index.js';
import { deriveGeneratorWeights } from '../src/scrambler/generator.js';
import { isPng } from '../src/scrambler/scrambled.js';
import { crc32Table, encodePngSync, storedZlib } from '../src/scrambler/png.js';
import zlib from 'node:zlib';
import { PAPER_BASE_CHANNELS, PAPER_DESIGN, PAPER_IMAGE_SIZE } from '../src/key/keyfile.js';
import { imagenetteFiles, modelsDir } from './helpers.js';

// The paper's deterministic design (1024 channels, dcgan-he-v1, embeddingNoise 0); the noisy default has its own
// test below, the default generator (256 channels, dcgan-he-v2) test/generator-form.test.ts.
const PAPER = { imageSize: PAPER_IMAGE_SIZE, baseChannels: PAPER_BASE_CHANNELS, design: PAPER_DESIGN, embeddingNoise: 0 };
const KEY_A = createKey({ secret: new Uint8Array(32).fill(11), ...PAPER });
const KEY_B = createKey({ secret: new Uint8Array(32).fill(12), ...PAPER });

const files = imagenetteFiles(4, 'n03888257').map((path) => ({ kind: 'file' as const, path }));
const encoder = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
const embeddings = await encoder.encode(files);

test('the paper-size generator has about 45M weights and derives the same weights twice', () => {
  const layers = generatorLayers(2048, KEY_A.generator);
  assert.equal(countWeights(layers), 44_729_856);
  const [dense1] = deriveGeneratorWeights(KEY_A, 64);
  const [dense2] = deriveGeneratorWeights(KEY_A, 64);
  const [denseB] = deriveGeneratorWeights(KEY_B, 64);
  assert.deepEqual(Buffer.from(dense1!.weights.buffer), Buffer.from(dense2!.weights.buffer));
  assert.notDeepEqual(Buffer.from(dense1!.weights.buffer), Buffer.from(denseB!.weights.buffer));
  // He-scaled: std sqrt(2 / fan_in).
  const w = dense1!.weights;
  const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 64)) / Math.sqrt(2 / 64) < 0.02, `std ${std}`);
});

test('scrambled PNGs are 256x256 RGB noise spanning 0-255, with at least 200 levels per channel', async () => {
  const scrambler = await Scrambler.create(KEY_A, encoder.dim, { exposeActivations: true });
  const pngs = (await scrambler.scramble(embeddings, files.length)).map((s) => s.png);
  assert.equal(pngs.length, 4);
  for (const png of pngs) {
    assert.ok(isPng(png));
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.depth], [256, 256, 3, 'uchar']);
  }
  const pixels = await scrambler.pixels(embeddings, 4);
  const stats = scrambleStats(pixels, 4, await scrambler.activations(embeddings, 4));
  assert.ok(stats.minDistinctLevels >= 200, `levels ${stats.minDistinctLevels}`);
  assert.ok(stats.pixelStd > 50, `std ${stats.pixelStd}`);
  assert.ok(stats.zeroFraction > 0.3 && stats.zeroFraction < 0.7, `zero fraction ${stats.zeroFraction}`);
  // The PNG decodes to exactly the generator's pixels: what the cloud sees is what we computed.
  const decoded = await sharp(pngs[0]!).raw().toBuffer();
  assert.deepEqual(new Uint8Array(decoded), pixels.subarray(0, 256 * 256 * 3));
  // Noise: neighbouring pixels of a natural image correlate strongly; here far less.
  await scrambler.release();
});

test('a noisy key (the default design): fresh noise per call, so no two submissions of an image match; a seed makes it reproducible', async () => {
  const key = createKey({ secret: new Uint8Array(32).fill(11), imageSize: 64 });
  assert.equal(key.generator.embeddingNoise, DEFAULT_EMBEDDING_NOISE);
  const plain = await Scrambler.create(createKey({ secret: new Uint8Array(32).fill(11), imageSize: 64, embeddingNoise: 0 }), encoder.dim);
  const fresh = await Scrambler.create(key, encoder.dim);
  const seeded = [await Scrambler.create(key, encoder.dim, { noiseSeed: 'test' }), await Scrambler.create(key, encoder.dim, { noiseSeed: 'test' })];
  const copy = new Float32Array(embeddings);
  const clean = await plain.pixels(embeddings, 4);
  const a = await fresh.pixels(embeddings, 4);
  const b = await fresh.pixels(embeddings, 4);
  assert.deepEqual(embeddings, copy, 'the caller\'s embeddings are not changed');
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(a, clean);
  assert.deepEqual(await seeded[0]!.pixels(embeddings, 4), await seeded[1]!.pixels(embeddings, 4));
  // At 4x the embedding's RMS the noise dominates: two submissions of one image are about as far apart as two images.
  const per = 64 * 64 * 3;
  const dist = (x: Uint8Array, i: number, y: Uint8Array, j: number) => {
    let d = 0;
    for (let p = 0; p < per; p++) d += (x[i * per + p]! - y[j * per + p]!) ** 2;
    return Math.sqrt(d / per);
  };
  const sameImage = dist(a, 0, b, 0);
  const otherImage = dist(a, 0, b, 1);
  assert.ok(sameImage > 0.7 * otherImage, `same image ${sameImage.toFixed(1)} vs other image ${otherImage.toFixed(1)}`);
  assert.ok(dist(clean, 0, clean, 0) === 0 && dist(clean, 0, clean, 1) > 10);
  for (const s of [plain, fresh, ...seeded]) await s.release();
  assert.throws(() => createKey({ embeddingNoise: -1 }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /embedding noise must be a number from 0 to 100/ });
});

test('same key, same image: byte-identical PNGs; another key: a different image; another image: a different output', async () => {
  const s1 = await Scrambler.create(KEY_A, encoder.dim);
  const s2 = await Scrambler.create(createKey({ secret: new Uint8Array(32).fill(11), ...PAPER }), encoder.dim, { batchSize: 1 });
  const sb = await Scrambler.create(KEY_B, encoder.dim);
  const a = (await s1.scramble(embeddings, 4)).map((s) => s.png);
  const a2 = (await s2.scramble(embeddings, 4)).map((s) => s.png);
  const b = (await sb.scramble(embeddings, 4)).map((s) => s.png);
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(Buffer.from(a[i]!), Buffer.from(a2[i]!), `image ${i} differs across runs/batch sizes`);
    assert.notDeepEqual(Buffer.from(a[i]!), Buffer.from(b[i]!));
  }
  assert.notDeepEqual(Buffer.from(a[0]!), Buffer.from(a[1]!));
  // Different keys give unrelated images: pixel correlation near zero.
  const pa = await s1.pixels(embeddings.subarray(0, encoder.dim), 1);
  const pb = await sb.pixels(embeddings.subarray(0, encoder.dim), 1);
  assert.ok(Math.abs(correlation(pa, pb)) < 0.2, `correlation ${correlation(pa, pb)}`);
});

test('every output size from 32 to 512 works', async () => {
  for (const size of [32, 64, 128, 512]) {
    const key = createKey({ secret: new Uint8Array(32).fill(size % 251), imageSize: size, baseChannels: size === 512 ? 256 : 1024 });
    const s = await Scrambler.create(key, encoder.dim);
    const [scrambled] = await s.scramble(embeddings.subarray(0, encoder.dim), 1);
    const meta = await sharp(scrambled!.png).metadata();
    assert.deepEqual([meta.width, meta.height], [size, size]);
    await s.release();
  }
});

test('BAD CALL - embeddings of the wrong length are refused with the expected size', async () => {
  const s = await Scrambler.create(KEY_A, 16, { batchSize: 2 });
  await assert.rejects(s.pixels(new Float32Array(15), 1), { code: 'OWSD_ERR_SHAPE', message: /expected 1 embeddings of 16 values/ });
});

function correlation(a: Uint8Array, b: Uint8Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}

test('the PNG writer: any size decodes (sharp checks the chunks\' CRCs) to exactly the pixels, the same bytes each time, raw size plus framing; its stored zlib stream inflates to its bytes and its table CRC is zlib\'s', async () => {
  for (const size of [1, 3, 96, 97, 256]) {
    const pixels = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 2654435761) >>> 24);
    const png = encodePngSync(pixels, size);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [size, size, 3], `${size} px`);
    assert.deepEqual(new Uint8Array(data), pixels, `${size} px pixels`);
    assert.deepEqual(encodePngSync(pixels, size), png, 'deterministic');
    assert.ok(png.length < pixels.length + size + 100 + 5 * Math.ceil((pixels.length + size) / 16_000), `${size} px: ${png.length} bytes`);
  }
  assert.throws(() => encodePngSync(new Uint8Array(10), 2), RangeError);
  // The stored zlib stream inflates back to its bytes (zlib checks the Adler-32), in one block or several.
  for (const n of [0, 1, 65_535, 65_536, 200_000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);
    assert.deepEqual(new Uint8Array(zlib.inflateSync(storedZlib(bytes))), bytes, `${n} bytes`);
  }
  // The fallback CRC (by table, for node before 20.15) is zlib's number.
  for (const bytes of [new Uint8Array(0), Uint8Array.of(73, 69, 78, 68), Uint8Array.from({ length: 30_000 }, (_, i) => (i * 2654435761) >>> 24)]) {
    assert.equal(crc32Table(bytes), zlib.crc32(bytes));
  }
});
