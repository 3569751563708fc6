/**
 * Dataset loaders, detection, splits and the seeded PRNG, against the real data in ../shared/data
 * (or $OWSD_DATA), plus error cases built in temporary folders.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, readFile, rm, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOwsdError } from '../src/errors.js';
import { createRng, deriveSeed, hashString, shuffle } from '../src/internal/random.js';
import type { Dataset, Sample } from '../src/types.js';
import { decodeNetpbm } from '../src/image/netpbm.js';
import {
  detectFormat,
  loadCifar10,
  loadDataset,
  prepareDataset,
  samplePerLabel,
  selectLabels,
  stratifiedSplit,
} from '../src/data/index.js';

// Compiled to dist/test/data.test.js: the repository root is two levels up.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DATA = process.env.OWSD_DATA ?? path.resolve(REPO, '../shared/data');
const at = (...p: string[]): string => path.join(DATA, ...p);

function countPerLabel(samples: Sample[], numLabels: number): number[] {
  const counts = new Array<number>(numLabels).fill(0);
  for (const s of samples) counts[s.label]++;
  return counts;
}

/** Assert that `fn` rejects with an OwsdError of `code` whose message contains every one of `parts`. */
async function rejectsWith(fn: () => Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(isOwsdError(e), `expected an OwsdError, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" should mention "${p}"`);
    return true;
  });
}

test('shared data folder exists', () => {
  assert.ok(existsSync(DATA), `real datasets expected at ${DATA} (set OWSD_DATA)`);
});

describe('random', () => {
  test('sfc32 stream is fixed for a seed (golden values)', () => {
    const r = createRng(42);
    assert.deepEqual([r.uint32(), r.uint32(), r.uint32()], [1028872839, 2516511472, 400437680]);
  });

  test('same seed gives the same sequence, other seeds differ', () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const sa = Array.from({ length: 20 }, () => a.next());
    assert.deepEqual(sa, Array.from({ length: 20 }, () => b.next()));
    assert.notDeepEqual(sa, Array.from({ length: 20 }, () => c.next()));
    assert.notEqual(createRng(-1).uint32(), createRng(2 ** 32 - 1).uint32());
    assert.notEqual(createRng(0).uint32(), createRng(2 ** 32).uint32());
  });

  test('next, int and normal have the right ranges and moments', () => {
    const r = createRng(1);
    const counts = new Array<number>(10).fill(0);
    let sum = 0;
    let sq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      assert.ok(u >= 0 && u < 1);
      counts[r.int(10)]++;
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    for (const c of counts) assert.ok(Math.abs(c - n / 10) < 300, `int(10) bucket ${c}`);
    assert.ok(Math.abs(sum / n) < 0.05);
    assert.ok(Math.abs(sq / n - 1) < 0.05);
    assert.throws(() => r.int(0), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_BAD_ARGUMENT');
    assert.throws(() => createRng(1.5), (e: unknown) => isOwsdError(e) && e.message.includes('seed'));
  });

  test('shuffle is an in-place, seeded permutation', () => {
    const arr = Array.from({ length: 100 }, (_, i) => i);
    const out = shuffle(arr, createRng(3));
    assert.equal(out, arr);
    assert.deepEqual([...arr].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(shuffle(Array.from({ length: 100 }, (_, i) => i), createRng(3)), arr);
    assert.notDeepEqual(shuffle(Array.from({ length: 100 }, (_, i) => i), createRng(4)), arr);
  });

  test('derived seeds are deterministic and distinct per tag', () => {
    assert.equal(deriveSeed(5, 'a'), deriveSeed(5, 'a'));
    assert.notEqual(deriveSeed(5, 'a'), deriveSeed(5, 'b'));
    assert.notEqual(deriveSeed(5, 'a'), deriveSeed(6, 'a'));
    assert.equal(hashString('abc'), 0x1a47e90b);
  });
});

describe('real datasets', () => {
  let cifar10: Dataset;
  let gtsrb: Dataset;
  before(async () => {
    cifar10 = await loadDataset(at('cifar-10'));
    gtsrb = await loadDataset(at('gtsrb-test'));
  });

  test('CIFAR-10: 10,000 samples, 10 classes, 1000 each', () => {
    assert.equal(cifar10.format, 'cifar10');
    assert.equal(cifar10.samples.length, 10000);
    assert.equal(cifar10.classes.length, 10);
    assert.equal(cifar10.classes[0], 'airplane');
    assert.equal(cifar10.classes[9], 'truck');
    assert.deepEqual(countPerLabel(cifar10.samples, 10), new Array(10).fill(1000));
    assert.equal(cifar10.samples[0].id, 'test_batch.bin#0');
  });

  test('CIFAR-10: decoded pixels are the file bytes, planes interleaved', async () => {
    const bytes = await readFile(at('cifar-10', 'test_batch.bin'));
    for (const i of [0, 1234, 9999]) {
      const s = cifar10.samples[i];
      assert.equal(s.label, bytes[i * 3073]);
      const img = s.image;
      assert.equal(img.kind, 'raw');
      if (img.kind !== 'raw') return;
      assert.deepEqual([img.width, img.height, img.channels, img.data.length], [32, 32, 3, 3072]);
      assert.equal(img.name, `test_batch.bin#${i}`);
      for (let p = 0; p < 1024; p++) {
        for (let c = 0; c < 3; c++) {
          if (img.data[3 * p + c] !== bytes[i * 3073 + 1 + c * 1024 + p]) assert.fail(`record ${i} pixel ${p} channel ${c}`);
        }
      }
    }
  });

  test('CIFAR-100: 100 fine classes, 100 each, fine label byte used', async () => {
    const ds = await loadDataset(at('cifar-100'));
    assert.equal(ds.format, 'cifar100');
    assert.equal(ds.samples.length, 10000);
    assert.equal(ds.classes.length, 100);
    assert.equal(ds.classes[0], 'apple');
    assert.equal(ds.classNames[1], 'aquarium fish');
    assert.deepEqual(countPerLabel(ds.samples, 100), new Array(100).fill(100));
    const bytes = await readFile(at('cifar-100', 'test.bin'));
    for (const i of [0, 5000, 9999]) assert.equal(ds.samples[i].label, bytes[i * 3074 + 1]);
  });

  test('Imagenette: 3925 files, 10 wnid classes named by classes.tsv', async () => {
    const ds = await loadDataset(at('imagenette-val'));
    assert.equal(ds.format, 'folders');
    assert.equal(ds.samples.length, 3925);
    assert.equal(ds.classes.length, 10);
    for (const c of ds.classes) assert.match(c, /^n\d{8}$/);
    assert.deepEqual(ds.classes, [...ds.classes].sort());
    assert.equal(ds.classes[0], 'n01440764');
    assert.equal(ds.classNames[0], 'tench');
    assert.equal(countPerLabel(ds.samples, 10)[0], 387);
    const s = ds.samples[0];
    assert.equal(s.image.kind, 'file');
    if (s.image.kind === 'file') {
      assert.ok(existsSync(s.image.path));
      assert.equal(path.basename(path.dirname(s.image.path)), ds.classes[s.label]);
    }
    assert.equal(new Set(ds.samples.map((x) => x.id)).size, 3925);
  });

  test('Tiny-ImageNet: 10,100 samples, 202 classes, 50 each, labels from annotations', async () => {
    const ds = await loadDataset(at('tiny-imagenet-val'));
    assert.equal(ds.format, 'tiny-imagenet');
    assert.equal(ds.samples.length, 10100);
    assert.equal(ds.classes.length, 202);
    assert.deepEqual(ds.classes, [...ds.classes].sort());
    assert.deepEqual(countPerLabel(ds.samples, 202), new Array(202).fill(50));
    const first = ds.samples.find((s) => s.id === 'val/images/val_0.JPEG');
    assert.ok(first);
    assert.equal(ds.classes[first.label], 'n03444034');
    assert.equal(ds.classNames[ds.classes.indexOf('n01443537')], 'goldfish');
  });

  test('GTSRB: 7,949 samples, 43 classes by ClassId, labels agree with folders', async () => {
    assert.equal(gtsrb.format, 'gtsrb');
    assert.equal(gtsrb.samples.length, 7949);
    assert.deepEqual(gtsrb.classes, Array.from({ length: 43 }, (_, i) => String(i)));
    assert.equal(gtsrb.classNames[0], '20 kmh');
    assert.equal(gtsrb.classNames[14], 'stopp');
    const counts = countPerLabel(gtsrb.samples, 43);
    assert.equal(counts[0], 39);
    assert.equal(counts[12], 528);
    const s0 = gtsrb.samples.find((s) => s.id.endsWith('/00000.ppm'));
    assert.ok(s0);
    assert.equal(s0.label, 16);
    assert.equal(s0.id, 'lkw_verboten/00000.ppm');
  });

  // The shared copy was resized: every PPM is 35x35, though GT-final_test.csv still gives the original sizes (53x54 here).
  test('GTSRB: a real PPM decodes (35x35 RGB in the shared copy)', async () => {
    const s0 = gtsrb.samples.find((s) => s.id === 'lkw_verboten/00000.ppm');
    assert.ok(s0 && s0.image.kind === 'file');
    const img = decodeNetpbm(await readFile(s0.image.path), s0.image.path);
    assert.deepEqual([img.width, img.height, img.channels, img.data.length], [35, 35, 3, 35 * 35 * 3]);
  });

  test('detection of each layout, from folders and from files', async () => {
    assert.equal(await detectFormat(at('cifar-10')), 'cifar10');
    assert.equal(await detectFormat(at('cifar-100')), 'cifar100');
    assert.equal(await detectFormat(at('imagenette-val')), 'folders');
    assert.equal(await detectFormat(at('tiny-imagenet-val')), 'tiny-imagenet');
    assert.equal(await detectFormat(at('gtsrb-test')), 'gtsrb');
    assert.equal((await loadDataset(at('cifar-10', 'test_batch.bin'))).samples.length, 10000);
    assert.equal((await loadDataset(at('cifar-100', 'test.bin'))).format, 'cifar100');
    assert.equal((await loadDataset(at('tiny-imagenet-val', 'val'))).samples.length, 10100);
    const fromCsv = await loadDataset(at('gtsrb-test', 'Final_Test', 'Images', 'GT-final_test.csv'));
    assert.equal(fromCsv.samples.length, 7949);
    assert.equal(fromCsv.classNames[14], 'stopp');
  });

  test('stratifiedSplit: per-label proportions, disjoint, complete, seeded', () => {
    const { train, test: held } = stratifiedSplit(cifar10.samples, 0.2, createRng(1));
    assert.equal(held.length, 2000);
    assert.equal(train.length, 8000);
    assert.deepEqual(countPerLabel(held, 10), new Array(10).fill(200));
    const ids = new Set(train.map((s) => s.id));
    for (const s of held) assert.ok(!ids.has(s.id));
    for (const s of held) ids.add(s.id);
    assert.equal(ids.size, 10000);
    const again = stratifiedSplit(cifar10.samples, 0.2, createRng(1));
    assert.deepEqual(again.test.map((s) => s.id), held.map((s) => s.id));
    const other = stratifiedSplit(cifar10.samples, 0.2, createRng(2));
    assert.notDeepEqual(other.test.map((s) => s.id), held.map((s) => s.id));
  });

  test('stratifiedSplit: small labels keep one sample on each side', () => {
    const mk = (label: number, i: number): Sample => ({ id: `${label}-${i}`, label, image: { kind: 'file', path: 'x' } });
    const samples = [mk(0, 0), mk(1, 0), mk(1, 1), mk(2, 0), mk(2, 1), mk(2, 2)];
    const { train, test: held } = stratifiedSplit(samples, 0.01, createRng(0));
    assert.deepEqual(countPerLabel(held, 3), [0, 1, 1]);
    assert.deepEqual(countPerLabel(train, 3), [1, 1, 2]);
    const big = stratifiedSplit(samples, 0.99, createRng(0));
    assert.deepEqual(countPerLabel(big.test, 3), [0, 1, 2]);
    assert.throws(() => stratifiedSplit(samples, 1, createRng(0)), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_BAD_ARGUMENT');
  });

  test('selectLabels keeps K labels re-indexed 0..K-1', () => {
    const ds = selectLabels(cifar10, 3, createRng(5));
    assert.equal(ds.classes.length, 3);
    assert.equal(ds.samples.length, 3000);
    assert.deepEqual(countPerLabel(ds.samples, 3), [1000, 1000, 1000]);
    const orig = new Map(cifar10.samples.map((s) => [s.id, s.label]));
    for (const s of ds.samples) assert.equal(ds.classes[s.label], cifar10.classes[orig.get(s.id)!]);
    const order = ds.classes.map((c) => cifar10.classes.indexOf(c));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    assert.deepEqual(selectLabels(cifar10, 3, createRng(5)).classes, ds.classes);
    assert.equal(cifar10.samples.length, 10000, 'input untouched');
    assert.throws(() => selectLabels(cifar10, 11, createRng(5)), (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_BAD_ARGUMENT');
  });

  test('samplePerLabel caps each label and reports short ones', () => {
    const ten = samplePerLabel(cifar10, 50, createRng(1));
    assert.equal(ten.dataset.samples.length, 500);
    assert.deepEqual(ten.shortLabels, []);
    const g = samplePerLabel(gtsrb, 40, createRng(1));
    const counts = countPerLabel(g.dataset.samples, 43);
    assert.ok(counts.every((c) => c <= 40));
    assert.deepEqual(g.shortLabels.map((s) => [s.class, s.available]), [['0', 39], ['27', 21], ['32', 28], ['37', 34], ['41', 32]]);
    assert.equal(g.dataset.samples.length, 39 + 21 + 28 + 34 + 32 + 38 * 40);
  });

  test('prepareDataset is seeded; the label choice ignores perLabel', () => {
    const a = prepareDataset(cifar10, { labels: 4, perLabel: 30, testFraction: 0.5, seed: 9 });
    const b = prepareDataset(cifar10, { labels: 4, perLabel: 30, testFraction: 0.5, seed: 9 });
    const c = prepareDataset(cifar10, { labels: 4, perLabel: 20, seed: 9 });
    assert.equal(a.dataset.samples.length, 120);
    assert.equal(a.split?.test.length, 60);
    assert.deepEqual(a.split?.test.map((s) => s.id), b.split?.test.map((s) => s.id));
    assert.deepEqual(c.dataset.classes, a.dataset.classes);
    assert.equal(c.split, undefined);
    const d = prepareDataset(cifar10, { labels: 4, perLabel: 30, seed: 10 });
    assert.notDeepEqual(d.dataset.samples.map((s) => s.id), a.dataset.samples.map((s) => s.id));
  });
});

describe('errors', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'owsd-data-test-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('a missing path is named', async () => {
    const p = path.join(tmp, 'does-not-exist');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', p, 'does not exist');
  });

  test('an empty folder names the path and the layouts looked for', async () => {
    const p = path.join(tmp, 'empty');
    await mkdir(p);
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', p, 'CIFAR-10', 'Tiny-ImageNet', 'GTSRB', 'class folders');
  });

  test('an empty class folder is named', async () => {
    const p = path.join(tmp, 'classes');
    await mkdir(path.join(p, 'cat'), { recursive: true });
    await mkdir(path.join(p, 'dog'), { recursive: true });
    await writeFile(path.join(p, 'cat', 'a.PNG'), 'x');
    await writeFile(path.join(p, 'cat', '.DS_Store'), 'x');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', path.join(p, 'dog'), 'no images');
    await writeFile(path.join(p, 'dog', 'b.jpeg'), 'x');
    const ds = await loadDataset(p);
    assert.deepEqual([ds.format, ds.classes, ds.samples.map((s) => s.id)], ['folders', ['cat', 'dog'], ['cat/a.PNG', 'dog/b.jpeg']]);
    await writeFile(path.join(p, 'dog', 'c.bmp'), 'x');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', path.join(p, 'dog', 'c.bmp'), '.jpg');
  });

  test('a truncated CIFAR file and an out-of-range label are reported', async () => {
    const p = path.join(tmp, 'cifar');
    await mkdir(p);
    await copyFile(at('cifar-10', 'batches.meta.txt'), path.join(p, 'batches.meta.txt'));
    const bytes = await readFile(at('cifar-10', 'test_batch.bin'));
    const file = path.join(p, 'test_batch.bin');
    await writeFile(file, bytes.subarray(0, 3073 * 2 + 100));
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', file, '3073', 'truncated');
    const bad = Buffer.from(bytes.subarray(0, 3073 * 2));
    bad[3073] = 10;
    await writeFile(file, bad);
    await rejectsWith(() => loadCifar10(p), 'OWSD_ERR_DATASET', file, 'record 1', 'label 10', '0..9');
  });

  test('Tiny-ImageNet: an annotation of a missing image is named', async () => {
    const p = path.join(tmp, 'tiny');
    await mkdir(path.join(p, 'val', 'images'), { recursive: true });
    await writeFile(path.join(p, 'wnids.txt'), 'n01443537\nn01629819\n');
    await writeFile(path.join(p, 'words.txt'), 'n01443537\tgoldfish, Carassius auratus\n');
    await writeFile(path.join(p, 'val', 'images', 'val_0.JPEG'), 'x');
    await writeFile(path.join(p, 'val', 'val_annotations.txt'), 'val_0.JPEG\tn01443537\t0\t0\t1\t1\nval_1.JPEG\tn01629819\t0\t0\t1\t1\n');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', 'line 2', path.join(p, 'val', 'images', 'val_1.JPEG'));
    await writeFile(path.join(p, 'val', 'images', 'val_1.JPEG'), 'x');
    const ds = await loadDataset(p);
    assert.deepEqual(ds.classNames, ['goldfish', 'n01629819']);
    await writeFile(path.join(p, 'val', 'val_annotations.txt'), 'val_0.JPEG\tn99999999\n');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', 'n99999999', 'wnids.txt');
  });

  test('GTSRB: a ClassId out of range and a missing image are named', async () => {
    const p = path.join(tmp, 'gtsrb');
    const images = path.join(p, 'Final_Test', 'Images');
    await mkdir(images, { recursive: true });
    await writeFile(path.join(images, '00000.ppm'), 'x');
    const gt = path.join(images, 'GT-final_test.csv');
    await writeFile(gt, 'Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;1;1;0;0;1;1;43\n');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', gt, 'line 2', 'ClassId 43', '0..42');
    await writeFile(gt, 'Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;1;1;0;0;1;1;4\n00001.ppm;1;1;0;0;1;1;4\n');
    await rejectsWith(() => loadDataset(p), 'OWSD_ERR_DATASET', gt, 'line 3', '00001.ppm');
  });

  test('a truncated PPM is an image error', () => {
    assert.throws(
      () => decodeNetpbm(Buffer.from('P6\n4 4\n255\n\x01\x02'), 'bad.ppm'),
      (e: unknown) => isOwsdError(e) && e.code === 'OWSD_ERR_IMAGE' && e.message.includes('bad.ppm'),
    );
    const ok = decodeNetpbm(Buffer.from('P3\n# c\n1 1\n15\n15 0 5\n'));
    assert.deepEqual([...ok.data], [255, 0, 85]);
  });
});
