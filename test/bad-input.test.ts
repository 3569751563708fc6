/**
 * Bad input, end to end. A class-folder dataset of real Imagenette images with hostile files mixed in: zero-byte,
 * truncated, not an image, decompression bombs (a PNG and a JPEG whose headers claim 2.5 and 3.6 gigapixels), and
 * unusual-but-valid ones: CMYK, 16-bit, animated GIF, a PNG named .jpg and a JPEG named .png. The unusual ones are
 * read; the hostile ones give one clear error naming the file (the default) or, with --skip-bad-images, are left
 * out, counted and listed. The embedded cloud refuses a bomb with a 400. Nothing crashes, nothing is lost silently.
 * (Zero-byte, truncated and non-image files through the encoder alone, and CMYK/16-bit embeddings, are in
 * encoder.test.ts; empty class folders and broken dataset layouts in data.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { createKey, decodeRgb, loadDataset, readKeyFile, UsageLedger, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { imagenetteFiles, modelsDir, noisePngBytes, runOwsd, tempDir } from './helpers.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };
const owsd = (args: string[]) => runOwsd(args, env);
const dir = tempDir('owsd-bad-');
const data = path.join(dir, 'data');
const CLASSES = ['n01440764', 'n02102040', 'n03028079'];

/** A real PNG whose IHDR claims width x height (CRC fixed, so only the size is a lie). */
export async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await noisePngBytes(1, 16, 16));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
  return png;
}

/** A real JPEG whose start-of-frame claims width x height. */
export function jpegClaiming(file: string, width: number, height: number): Buffer {
  const jpg = Buffer.from(fs.readFileSync(file));
  for (let i = 2; i + 9 < jpg.length; i++) {
    if (jpg[i] === 0xff && (jpg[i + 1] === 0xc0 || jpg[i + 1] === 0xc2)) {
      jpg.writeUInt16BE(height, i + 5);
      jpg.writeUInt16BE(width, i + 7);
      return jpg;
    }
  }
  throw new Error(`${file}: no SOF marker`);
}

const bad: Record<string, string> = {}; // file -> expected reason
const odd: string[] = [];
let cloud: RunningCloud;

before(async () => {
  for (const wnid of CLASSES) {
    fs.mkdirSync(path.join(data, wnid), { recursive: true });
    for (const f of imagenetteFiles(5, wnid)) fs.copyFileSync(f, path.join(data, wnid, path.basename(f)));
  }
  const src = imagenetteFiles(1)[0]!;
  const [a, b, c] = CLASSES.map((w) => path.join(data, w));
  const put = (file: string, bytes: Uint8Array) => fs.writeFileSync(file, bytes);
  put(path.join(a!, 'empty.jpg'), new Uint8Array(0));
  bad[path.join(a!, 'empty.jpg')] = 'empty|0 bytes';
  put(path.join(a!, 'truncated.jpg'), fs.readFileSync(src).subarray(0, 400));
  bad[path.join(a!, 'truncated.jpg')] = 'cannot decode image';
  put(path.join(b!, 'notes.png'), Buffer.from('these are my private notes, not an image'));
  bad[path.join(b!, 'notes.png')] = 'not an image format';
  put(path.join(b!, 'bomb.png'), await pngClaiming(50_000, 50_000));
  bad[path.join(b!, 'bomb.png')] = 'megapixel limit';
  put(path.join(c!, 'bomb.jpg'), jpegClaiming(src, 60_000, 60_000));
  bad[path.join(c!, 'bomb.jpg')] = 'megapixel limit';
  // Unusual but valid.
  const s = sharp(src);
  await s.clone().toColourspace('cmyk').jpeg().toFile(path.join(a!, 'cmyk.jpg'));
  await s.clone().toColourspace('rgb16').png().toFile(path.join(b!, 'sixteen.png'));
  const frames = await Promise.all([0, 1, 2].map((i) => s.clone().modulate({ hue: 90 * i }).png().toBuffer()));
  await sharp(frames, { join: { animated: true } }).gif().toFile(path.join(c!, 'animated.gif'));
  put(path.join(c!, 'really-a-png.jpg'), await s.clone().png().toBuffer());
  put(path.join(a!, 'really-a-jpeg.png'), fs.readFileSync(imagenetteFiles(2)[1]!));
  odd.push(...['cmyk.jpg', 'sixteen.png', 'animated.gif', 'really-a-png.jpg', 'really-a-jpeg.png']);
  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
});
after(() => cloud?.close());

test('EXPECTED FAILURE - each hostile file is refused by the decoder with its name and the reason', async () => {
  for (const [file, reason] of Object.entries(bad)) {
    const t0 = Date.now();
    await assert.rejects(decodeRgb({ kind: 'file', path: file }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'OWSD_ERR_IMAGE', e.message);
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, new RegExp(reason), e.message);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000, `${path.basename(file)} took ${Date.now() - t0} ms to refuse`);
  }
});

test('unusual but valid files are read: the animated GIF as its first frame, mislabelled files by their content', async () => {
  const gif = await decodeRgb({ kind: 'file', path: path.join(data, CLASSES[2]!, 'animated.gif') });
  const ref = await decodeRgb({ kind: 'file', path: imagenetteFiles(1)[0]! });
  assert.deepEqual([gif.width, gif.height], [ref.width, ref.height]);
  const asJpg = await decodeRgb({ kind: 'file', path: path.join(data, CLASSES[2]!, 'really-a-png.jpg') });
  assert.deepEqual(Buffer.from(asJpg.data), Buffer.from(ref.data), 'a PNG named .jpg is read losslessly as the PNG it is');
  const asPng = await decodeRgb({ kind: 'file', path: path.join(data, CLASSES[0]!, 'really-a-jpeg.png') });
  assert.deepEqual(Buffer.from(asPng.data), Buffer.from((await decodeRgb({ kind: 'file', path: imagenetteFiles(2)[1]! })).data));
});

test('EXPECTED FAILURE - the embedded cloud answers a decompression bomb with 400, and keeps serving', async () => {
  const post = (b64: string) =>
    fetch(`${cloud.url}/v2/models/cifar10-resnet20/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [b64] }] }) });
  for (const bomb of [await pngClaiming(50_000, 50_000), jpegClaiming(imagenetteFiles(1)[0]!, 60_000, 60_000)]) {
    const r = await post(bomb.toString('base64'));
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: string }).error, /inputs\[0\]\.data\[0\]: cannot decode image: .*megapixel limit/);
  }
  const gif = fs.readFileSync(path.join(data, CLASSES[2]!, 'animated.gif'));
  const ok = await post(gif.toString('base64'));
  assert.equal(ok.status, 200);
});

test('EXPECTED FAILURE - fit stops at the first unreadable image with one clear line naming it', async () => {
  const keyFile = path.join(dir, 'stop.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(51), imageSize: 32, budget: 100 }));
  const r = await owsd(['fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--cloud', cloud.url, '--model-name', 'cifar10-resnet20', '--data', data, '--epochs', '2', '--hidden', '8', '--out', path.join(dir, 'b-stop')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^owsd: .*(empty\.jpg|truncated\.jpg|notes\.png|bomb\.png|bomb\.jpg).*: (empty|cannot decode image)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
});

test('fit --skip-bad-images leaves the hostile files out, counts and names each, and fits on the rest', async () => {
  const keyFile = path.join(dir, 'skip.key');
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(52), imageSize: 32, budget: 100 }));
  const total = (await loadDataset(data)).samples.length;
  assert.equal(total, 15 + 5 + 5);
  const args = ['fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--cloud', cloud.url, '--model-name', 'cifar10-resnet20', '--data', data, '--test-fraction', '0.2', '--epochs', '2', '--hidden', '8', '--skip-bad-images', '--out', path.join(dir, 'b-skip')];
  const r = await owsd([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { trainSamples: number; submissionsSent: number; skippedImages: Array<{ id: string; reason: string }> };
  assert.deepEqual(out.skippedImages.map((s) => path.basename(s.id)).sort(), Object.keys(bad).map((f) => path.basename(f)).sort());
  for (const s of out.skippedImages) {
    const file = Object.keys(bad).find((f) => f.endsWith(s.id))!;
    assert.ok(s.reason.includes(file), s.reason);
    assert.match(s.reason, new RegExp(bad[file]!));
  }
  assert.equal(out.submissionsSent, out.trainSamples);
  assert.equal(UsageLedger.open(readKeyFile(keyFile)).used, out.trainSamples);
  const bundle = JSON.parse(fs.readFileSync(path.join(dir, 'b-skip', 'bundle.json'), 'utf8')) as { data: { train: number; test: number; skipped: number } };
  assert.equal(bundle.data.train + bundle.data.test + bundle.data.skipped, total);
  // The odd-but-valid files were used, not skipped.
  for (const o of odd) assert.ok(!out.skippedImages.some((s) => s.id.endsWith(o)), o);
  // eval of the held-out part skips the same way (the bundle records the choice): the same images left out.
  const ev = await owsd(['eval', '--bundle', path.join(dir, 'b-skip'), '--key', keyFile, '--models', modelsDir, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const report = JSON.parse(ev.stdout) as { samples: number; skippedImages: Array<{ id: string }> };
  assert.equal(report.samples, bundle.data.test);
  for (const k of report.skippedImages) assert.ok(out.skippedImages.some((s) => s.id === k.id), k.id);
});

test('EXPECTED FAILURE - broken datasets: a class folder missing from classes.tsv, an image without a label, a stray file', async () => {
  const root = tempDir('owsd-bad-ds-');
  for (const c of ['cat', 'dog']) {
    fs.mkdirSync(path.join(root, c));
    fs.writeFileSync(path.join(root, c, 'a.png'), await noisePngBytes(2, 8, 8));
  }
  fs.writeFileSync(path.join(root, 'classes.tsv'), 'cat\tA cat\n');
  await assert.rejects(loadDataset(root), { code: 'OWSD_ERR_DATASET', message: /class folder\(s\) dog in .* are not listed in .*classes\.tsv/ });
  fs.rmSync(path.join(root, 'classes.tsv'));
  fs.writeFileSync(path.join(root, 'dog', 'readme.txt'), 'about the dogs');
  await assert.rejects(loadDataset(root), { code: 'OWSD_ERR_DATASET', message: /1 file\(s\) in class folder .*dog are not supported images \(.*readme\.txt\)/ });
  // Tiny-ImageNet layout: an image with no annotation line has no label.
  const tiny = tempDir('owsd-bad-tiny-');
  fs.mkdirSync(path.join(tiny, 'val', 'images'), { recursive: true });
  fs.writeFileSync(path.join(tiny, 'wnids.txt'), 'n01443537\n');
  fs.writeFileSync(path.join(tiny, 'val', 'val_annotations.txt'), 'val_0.JPEG\tn01443537\t0\t0\t10\t10\n');
  for (const f of ['val_0.JPEG', 'val_1.JPEG']) fs.writeFileSync(path.join(tiny, 'val', 'images', f), fs.readFileSync(imagenetteFiles(1)[0]!));
  await assert.rejects(loadDataset(tiny), { code: 'OWSD_ERR_DATASET', message: /1 image\(s\) in .* have no line in .*val_annotations\.txt \(val_1\.JPEG\)/ });
});
