/**
 * CIFAR-10 and CIFAR-100 binary batches.
 *
 * CIFAR-10 records are `<1 byte label><3072 bytes>`, CIFAR-100 records `<coarse><fine><3072 bytes>` (fine labels are
 * used); the 3072 bytes are three 32x32 planes R, G, B. Class names come from `batches.meta.txt` (CIFAR-10) or
 * `fine_label_names.txt` (CIFAR-100) beside the batch file. The file is read once and every record is converted to
 * interleaved RGB (HWC) in its own Uint8Array: 10,000 records take 30 MB.
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Dataset, Sample } from '../types.js';
import { checkLabel, humanize, isFile, listDir, readBytes, readLines } from './common.js';

export const CIFAR_SIDE = 32;
const PIXELS = CIFAR_SIDE * CIFAR_SIDE;
const IMAGE_BYTES = PIXELS * 3;

interface Variant {
  format: 'cifar10' | 'cifar100';
  /** Label bytes before the pixels, and which of them is the label used. */
  labelBytes: number;
  labelOffset: number;
  defaultFile: string;
  namesFile: string;
}

const CIFAR10: Variant = { format: 'cifar10', labelBytes: 1, labelOffset: 0, defaultFile: 'test_batch.bin', namesFile: 'batches.meta.txt' };
const CIFAR100: Variant = { format: 'cifar100', labelBytes: 2, labelOffset: 1, defaultFile: 'test.bin', namesFile: 'fine_label_names.txt' };

/** Planar RGB (R plane, G plane, B plane) to interleaved RGB, for one 32x32 record. */
export function planarToInterleaved(planes: Uint8Array, out = new Uint8Array(IMAGE_BYTES)): Uint8Array {
  for (let p = 0; p < PIXELS; p++) {
    out[3 * p] = planes[p];
    out[3 * p + 1] = planes[PIXELS + p];
    out[3 * p + 2] = planes[2 * PIXELS + p];
  }
  return out;
}

/** CIFAR-10's training batches in a folder (`data_batch_1.bin` ... `data_batch_5.bin`), in number order. */
export async function cifar10TrainingBatches(dir: string): Promise<string[]> {
  const names = (await listDir(dir)).map((e) => e.name).filter((n) => /^data_batch_\d+\.bin$/.test(n));
  const num = (n: string): number => Number(/\d+/.exec(n)![0]);
  names.sort((a, b) => num(a) - num(b));
  const out: string[] = [];
  for (const n of names) if (await isFile(path.join(dir, n))) out.push(path.join(dir, n));
  return out;
}

/**
 * `pathOrDir` is a batch file, or a folder: its default file (test_batch.bin / test.bin), else its training
 * batches (CIFAR-10: every data_batch_N.bin, in order; CIFAR-100: train.bin).
 */
async function resolveBatches(pathOrDir: string, v: Variant): Promise<string[]> {
  const p = path.resolve(pathOrDir);
  if (await isFile(p)) return [p];
  const inDir = path.join(p, v.defaultFile);
  if (await isFile(inDir)) return [inDir];
  if (v.format === 'cifar10') {
    const train = await cifar10TrainingBatches(p);
    if (train.length > 0) return train;
  } else if (await isFile(path.join(p, 'train.bin'))) return [path.join(p, 'train.bin')];
  const other = v.format === 'cifar10' ? 'data_batch_1.bin ... data_batch_5.bin' : 'train.bin';
  return fail('OWSD_ERR_DATASET', `${p}: expected a ${v.format} batch file, or a folder containing ${v.defaultFile} or ${other}`);
}

async function readNames(file: string, v: Variant): Promise<string[]> {
  if (!(await isFile(file))) {
    fail('OWSD_ERR_DATASET', `${v.format} class names file ${file} is missing: expected ${v.namesFile} beside the batch file`);
  }
  const names = (await readLines(file, `${v.format} class names`)).map((l) => l.trim());
  const blank = names.indexOf('');
  if (blank >= 0) fail('OWSD_ERR_DATASET', `${file} line ${blank + 1} is empty: expected one class name per line`);
  if (names.length === 0) fail('OWSD_ERR_DATASET', `${file} lists no class names`);
  return names;
}

async function loadCifar(pathOrDir: string, v: Variant): Promise<Dataset> {
  const files = await resolveBatches(pathOrDir, v);
  const root = path.dirname(files[0]!);
  const classes = await readNames(path.join(root, v.namesFile), v);
  const samples: Sample[] = [];
  for (const file of files) samples.push(...(await readBatch(file, v, classes)));
  return { format: v.format, root, classes, classNames: classes.map(humanize), samples };
}

async function readBatch(file: string, v: Variant, classes: string[]): Promise<Sample[]> {
  const bytes = await readBytes(file, `${v.format} batch`);
  const record = v.labelBytes + IMAGE_BYTES;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    fail(
      'OWSD_ERR_DATASET',
      `${file} is ${bytes.length} bytes, not a whole number of ${v.format} records of ${record} bytes ` +
        `(${v.labelBytes} label byte${v.labelBytes > 1 ? 's' : ''} + 3072 pixel bytes): truncated or not a ${v.format} batch`,
    );
  }
  const base = path.basename(file);
  const count = bytes.length / record;
  const samples: Sample[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * record;
    const label = bytes[at + v.labelOffset];
    const id = `${base}#${i}`;
    checkLabel(label, classes.length, `${file} record ${i}`);
    const data = planarToInterleaved(bytes.subarray(at + v.labelBytes, at + record));
    samples[i] = { id, label, image: { kind: 'raw', data, width: CIFAR_SIDE, height: CIFAR_SIDE, channels: 3, name: id } };
  }
  return samples;
}

/** CIFAR-10: a batch file (`test_batch.bin`, `data_batch_N.bin`), or a folder with `test_batch.bin` (else its `data_batch_N.bin`, all of them). */
export function loadCifar10(pathOrDir: string): Promise<Dataset> {
  return loadCifar(pathOrDir, CIFAR10);
}

/** CIFAR-100 (fine labels): a batch file (`test.bin`, `train.bin`), or a folder with `test.bin` (else `train.bin`). */
export function loadCifar100(pathOrDir: string): Promise<Dataset> {
  return loadCifar(pathOrDir, CIFAR100);
}

/** Record sizes, for format detection from a file's size. */
export const CIFAR10_RECORD = 1 + IMAGE_BYTES;
export const CIFAR100_RECORD = 2 + IMAGE_BYTES;
