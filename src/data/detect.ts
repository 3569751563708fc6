/**
 * `loadDataset(path)`: find out which layout a folder (or file) holds and load it.
 *
 * Checked in this order, first match wins:
 *   cifar10        test_batch.bin, else data_batch_N.bin (all of them); or a *.bin file of 3073-byte records beside batches.meta.txt
 *   cifar100       test.bin (else train.bin) + fine_label_names.txt; or a *.bin file beside fine_label_names.txt
 *   tiny-imagenet  val/val_annotations.txt (or the val/ folder itself)
 *   gtsrb          GT-final_test.csv in ., Images/ or Final_Test/Images/, or GTSRB_Class_Names.csv
 *   folders        sub-folders holding images, one per class
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Dataset } from '../types.js';
import { CIFAR100_RECORD, CIFAR10_RECORD, cifar10TrainingBatches, loadCifar10, loadCifar100 } from './cifar.js';
import { isFile, isImageFile, isJunkFile, listDir, statOrNull } from './common.js';
import { classFolders, loadFolders } from './folders.js';
import { findGtsrb, GTSRB_GT_FILE, loadGtsrb } from './gtsrb.js';
import { loadTinyImagenet } from './tiny-imagenet.js';

export type DatasetFormat = Dataset['format'];

const LAYOUTS =
  'CIFAR-10 (test_batch.bin or data_batch_N.bin + batches.meta.txt), CIFAR-100 (test.bin or train.bin + fine_label_names.txt), ' +
  'Tiny-ImageNet (val/val_annotations.txt, wnids.txt), GTSRB (Final_Test/Images/GT-final_test.csv, GTSRB_Class_Names.csv), ' +
  'or a folder of class folders holding images';

const LOADERS: Record<DatasetFormat, (p: string) => Promise<Dataset>> = {
  cifar10: loadCifar10,
  cifar100: loadCifar100,
  'tiny-imagenet': loadTinyImagenet,
  gtsrb: loadGtsrb,
  folders: loadFolders,
};

/** The format of a single file: a CIFAR batch, or GTSRB's ground-truth CSV. */
async function detectFile(file: string, size: number): Promise<DatasetFormat | null> {
  const base = path.basename(file);
  const dir = path.dirname(file);
  if (base === GTSRB_GT_FILE) return 'gtsrb';
  if (path.extname(base).toLowerCase() !== '.bin') return null;
  if (/^(test_batch|data_batch_\d+)\.bin$/.test(base)) return 'cifar10';
  if (/^(test|train)\.bin$/.test(base)) return 'cifar100';
  const fits10 = size > 0 && size % CIFAR10_RECORD === 0;
  const fits100 = size > 0 && size % CIFAR100_RECORD === 0;
  if ((await isFile(path.join(dir, 'batches.meta.txt'))) && fits10) return 'cifar10';
  if ((await isFile(path.join(dir, 'fine_label_names.txt'))) && fits100) return 'cifar100';
  // The size of CIFAR records but no class names beside it: say which file is missing, not "not a dataset".
  if (fits10 || fits100) {
    const what = [fits10 ? `CIFAR-10 batch (${size / CIFAR10_RECORD} records of ${CIFAR10_RECORD} bytes): batches.meta.txt` : '', fits100 ? `CIFAR-100 batch (${size / CIFAR100_RECORD} records of ${CIFAR100_RECORD} bytes): fine_label_names.txt` : '']
      .filter(Boolean)
      .join(', or a ');
    fail('OWSD_ERR_DATASET', `${file} looks like a ${what} (the class names, one a line) is missing beside it in ${dir}`);
  }
  return null;
}

/** The format of a folder, or null when no layout matches. */
export async function detectFormat(dir: string): Promise<DatasetFormat | null> {
  const has = (...p: string[]): Promise<boolean> => isFile(path.join(dir, ...p));
  if (await has('test_batch.bin')) return 'cifar10';
  if ((await has('test.bin')) && (await has('fine_label_names.txt'))) return 'cifar100';
  if ((await cifar10TrainingBatches(dir)).length > 0) return 'cifar10';
  if ((await has('train.bin')) && (await has('fine_label_names.txt'))) return 'cifar100';
  if ((await has('val', 'val_annotations.txt')) || (await has('val_annotations.txt'))) return 'tiny-imagenet';
  if (await findGtsrb(dir)) return 'gtsrb';
  for (const folder of await classFolders(dir)) {
    const entries = await listDir(path.join(dir, folder));
    if (entries.some((e) => !isJunkFile(e.name) && isImageFile(e.name))) return 'folders';
  }
  return null;
}

export interface LoadOptions {
  /** Skip detection and load as this format. */
  format?: DatasetFormat;
}

/** Load a dataset from a folder, or from a file (a CIFAR batch, GTSRB's GT-final_test.csv). */
export async function loadDataset(p: string, options: LoadOptions = {}): Promise<Dataset> {
  const resolved = path.resolve(p);
  const st = await statOrNull(resolved);
  if (!st) fail('OWSD_ERR_DATASET', `dataset path ${resolved} does not exist`);
  if (options.format) {
    const loader = LOADERS[options.format];
    if (!loader) fail('OWSD_ERR_BAD_ARGUMENT', `unknown dataset format "${options.format}", expected one of ${Object.keys(LOADERS).join(', ')}`);
    return loader(options.format === 'gtsrb' && st.isFile() ? path.dirname(resolved) : resolved);
  }
  if (st.isFile()) {
    const format = await detectFile(resolved, st.size);
    if (!format) fail('OWSD_ERR_DATASET', `${resolved} is not a dataset file: expected a CIFAR batch (*.bin) or ${GTSRB_GT_FILE}; a folder may hold ${LAYOUTS}`);
    return LOADERS[format](format === 'gtsrb' ? path.dirname(resolved) : resolved);
  }
  if (!st.isDirectory()) fail('OWSD_ERR_DATASET', `dataset path ${resolved} is neither a file nor a folder`);
  const format = await detectFormat(resolved);
  if (!format) fail('OWSD_ERR_DATASET', `no dataset layout recognised in ${resolved}: looked for ${LAYOUTS}`);
  return LOADERS[format](resolved);
}
