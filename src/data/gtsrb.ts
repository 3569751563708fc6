/**
 * GTSRB (German Traffic Sign Recognition Benchmark) test set. Two layouts are read:
 *   - the official one: `Final_Test/Images/*.ppm` with `Final_Test/Images/GT-final_test.csv`
 *     (`Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId`, semicolon separated);
 *   - the same images sorted into one folder per class (shared/data/gtsrb-test), with the same CSV beside them.
 * `GTSRB_Class_Names.csv` (lines `<ClassId>;<folder name>`, found at the root or beside the images) names the
 * classes; without it classes are named by ClassId. Classes are ordered by ClassId 0..42; `classes` holds the
 * ClassId as a string, `classNames` the folder name with spaces (German: "20 kmh", "vorfahrt gewaehren", ...).
 *
 * Every CSV row must name an existing image, every image must have a row, and an image in a class folder must be
 * in the folder of the ClassId its row gives. Without the CSV, class folders alone give the labels.
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Dataset, Sample } from '../types.js';
import { entryKind, humanize, isDir, isFile, isImageFile, isJunkFile, listDir, readLines } from './common.js';

/** GTSRB has 43 classes; used when no class names file says otherwise. */
export const GTSRB_CLASSES = 43;
export const GTSRB_GT_FILE = 'GT-final_test.csv';
export const GTSRB_NAMES_FILE = 'GTSRB_Class_Names.csv';

/** Folders (relative to the root) where the images and GT-final_test.csv may be. */
const IMAGE_DIRS = [['Final_Test', 'Images'], ['Images'], []];

/** Where the images of a GTSRB root are, and its two CSV files (null when absent). */
export async function findGtsrb(root: string): Promise<{ imagesDir: string; gt: string | null; names: string | null } | null> {
  let names: string | null = null;
  for (const c of [root, path.join(root, 'Final_Test'), path.join(root, 'Final_Test', 'Images'), path.join(root, 'Images')]) {
    if (names === null && (await isFile(path.join(c, GTSRB_NAMES_FILE)))) names = path.join(c, GTSRB_NAMES_FILE);
  }
  for (const dir of IMAGE_DIRS) {
    const imagesDir = path.join(root, ...dir);
    const gt = path.join(imagesDir, GTSRB_GT_FILE);
    if (await isFile(gt)) {
      // Given Final_Test/Images itself: the names file is two levels up in the official layout.
      for (const up of [path.join(root, '..'), path.join(root, '..', '..')]) {
        if (names === null && dir.length === 0 && (await isFile(path.join(up, GTSRB_NAMES_FILE)))) names = path.resolve(up, GTSRB_NAMES_FILE);
      }
      return { imagesDir, gt, names };
    }
  }
  if (names === null) return null;
  for (const dir of IMAGE_DIRS) {
    const imagesDir = path.join(root, ...dir);
    if (await isDir(imagesDir)) return { imagesDir, gt: null, names };
  }
  return { imagesDir: root, gt: null, names };
}

/** `<ClassId>;<name>` lines; other lines (a title, a header) are skipped. Ids must be 0..n-1, each once. */
async function readClassNames(file: string): Promise<string[]> {
  const names: string[] = [];
  for (const line of await readLines(file, 'GTSRB class names')) {
    const m = /^\s*(\d+)\s*;\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const id = Number(m[1]);
    if (names[id] !== undefined) fail('OWSD_ERR_DATASET', `${file}: ClassId ${id} is listed twice`);
    if (m[2] === '') fail('OWSD_ERR_DATASET', `${file}: ClassId ${id} has an empty name`);
    names[id] = m[2];
  }
  if (names.length === 0) fail('OWSD_ERR_DATASET', `${file}: no "<ClassId>;<name>" lines found`);
  for (let i = 0; i < names.length; i++) {
    if (names[i] === undefined) fail('OWSD_ERR_DATASET', `${file}: ClassId ${i} is missing (ids must run 0..${names.length - 1})`);
  }
  return names;
}

/** Image files directly in `imagesDir` and one level down (class folders): file name -> path relative to it. */
async function indexImages(imagesDir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const add = (name: string, rel: string): void => {
    const prev = index.get(name);
    if (prev !== undefined) fail('OWSD_ERR_DATASET', `${imagesDir}: image file name ${name} occurs twice (${prev} and ${rel})`);
    index.set(name, rel);
  };
  const entries = (await listDir(imagesDir)).filter((e) => !isJunkFile(e.name));
  const kinds = await Promise.all(entries.map((e) => entryKind(imagesDir, e)));
  const sub = await Promise.all(
    entries.map(async (e, i) => (kinds[i] === 'dir' ? (await listDir(path.join(imagesDir, e.name))).filter((f) => !isJunkFile(f.name)) : [])),
  );
  entries.forEach((e, i) => {
    if (kinds[i] === 'file' && isImageFile(e.name)) add(e.name, e.name);
    for (const f of sub[i]) if (isImageFile(f.name)) add(f.name, `${e.name}/${f.name}`);
  });
  return index;
}

export async function loadGtsrb(pathOrDir: string): Promise<Dataset> {
  const root = path.resolve(pathOrDir);
  const found = await findGtsrb(root);
  if (!found) fail('OWSD_ERR_DATASET', `${root}: expected a GTSRB folder with ${GTSRB_GT_FILE} (in Final_Test/Images/) or ${GTSRB_NAMES_FILE}`);
  const { imagesDir, gt } = found;
  const names = found.names ? await readClassNames(found.names) : null;
  const numClasses = names?.length ?? GTSRB_CLASSES;
  const classes = Array.from({ length: numClasses }, (_, i) => String(i));
  const folderLabel = new Map((names ?? []).map((n, i) => [n, i]));
  const index = await indexImages(imagesDir);
  const samples: Sample[] = [];

  const push = (rel: string, label: number): void => {
    samples.push({ id: rel, label, image: { kind: 'file', path: path.join(imagesDir, ...rel.split('/')) } });
  };

  if (gt) {
    const lines = await readLines(gt, 'GTSRB ground truth');
    const header = (lines[0] ?? '').split(';').map((h) => h.trim().toLowerCase());
    const fileCol = header.indexOf('filename');
    const classCol = header.indexOf('classid');
    if (fileCol < 0 || classCol < 0) fail('OWSD_ERR_DATASET', `${gt} line 1: expected a header with Filename and ClassId columns, got "${lines[0] ?? ''}"`);
    const used = new Set<string>();
    for (let i = 1; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      const where = `${gt} line ${i + 1}`;
      const cells = lines[i].split(';').map((c) => c.trim());
      const file = cells[fileCol] ?? '';
      const raw = cells[classCol] ?? '';
      const label = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!file || Number.isNaN(label)) fail('OWSD_ERR_DATASET', `${where}: expected a Filename and an integer ClassId, got "${lines[i]}"`);
      if (label >= numClasses) fail('OWSD_ERR_DATASET', `${where}: ClassId ${label} is out of range, expected 0..${numClasses - 1}`);
      if (used.has(file)) fail('OWSD_ERR_DATASET', `${where}: ${file} is listed twice`);
      const rel = index.get(file);
      if (rel === undefined) fail('OWSD_ERR_DATASET', `${where}: image ${file} does not exist in ${imagesDir} or its class folders`);
      const folder = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : null;
      if (folder !== null && names && folderLabel.get(folder) !== label) {
        fail('OWSD_ERR_DATASET', `${where}: ${file} is in folder ${folder} but its ClassId ${label} is folder ${names[label]}`);
      }
      used.add(file);
      push(rel, label);
    }
    const unlisted = [...index.keys()].filter((f) => !used.has(f));
    if (unlisted.length > 0) {
      fail('OWSD_ERR_DATASET', `${unlisted.length} image(s) under ${imagesDir} have no row in ${gt} (${unlisted.slice(0, 5).join(', ')}${unlisted.length > 5 ? ', ...' : ''})`);
    }
  } else {
    if (!names) fail('OWSD_ERR_DATASET', `${root}: without ${GTSRB_GT_FILE}, ${GTSRB_NAMES_FILE} is needed to label class folders`);
    for (const [file, rel] of [...index].sort((a, b) => (a[1] < b[1] ? -1 : 1))) {
      const folder = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : null;
      const label = folder === null ? undefined : folderLabel.get(folder);
      if (label === undefined) {
        fail('OWSD_ERR_DATASET', `${path.join(imagesDir, rel)}: ${folder === null ? 'is not in a class folder' : `folder ${folder} is not in ${found.names}`} and there is no ${GTSRB_GT_FILE} to label ${file}`);
      }
      push(rel, label);
    }
  }
  if (samples.length === 0) fail('OWSD_ERR_DATASET', `${imagesDir}: no GTSRB images found`);
  return { format: 'gtsrb', root, classes, classNames: names ? names.map(humanize) : classes.slice(), samples };
}
