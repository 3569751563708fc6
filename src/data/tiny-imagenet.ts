/**
 * Tiny-ImageNet validation layout:
 *   root/wnids.txt                 one wnid per line (the classes)
 *   root/words.txt                 `<wnid>\t<name, synonym, ...>` (the first name is used)
 *   root/val/val_annotations.txt   `<file>\t<wnid>\t<bbox x0 y0 x1 y1>`
 *   root/val/images/<file>
 *
 * Class order: the wnids sorted in code-point order (not the order of wnids.txt, which is arbitrary). This is
 * the ILSVRC-2012 order, so class i of this dataset precedes class i+1 in a 1000-way ImageNet model's output too.
 * The image folder is listed once, so a missing or an unannotated image is an error at load time.
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Dataset, Sample } from '../types.js';
import { byCodePoint, isDir, isFile, isImageFile, isJunkFile, listDir, readLines } from './common.js';

/** `root` is the folder holding wnids.txt and val/; the val/ folder itself is accepted too. */
async function resolveRoot(p: string): Promise<string> {
  p = path.resolve(p);
  if (await isFile(path.join(p, 'val', 'val_annotations.txt'))) return p;
  if (await isFile(path.join(p, 'val_annotations.txt'))) return path.dirname(p);
  return fail('OWSD_ERR_DATASET', `${p}: expected a Tiny-ImageNet folder with val/val_annotations.txt`);
}

async function readWnids(file: string): Promise<string[]> {
  if (!(await isFile(file))) fail('OWSD_ERR_DATASET', `Tiny-ImageNet class list ${file} is missing`);
  const wnids = (await readLines(file, 'Tiny-ImageNet class list')).map((l) => l.trim());
  const seen = new Set<string>();
  wnids.forEach((w, i) => {
    if (w === '') fail('OWSD_ERR_DATASET', `${file} line ${i + 1} is empty: expected one wnid per line`);
    if (seen.has(w)) fail('OWSD_ERR_DATASET', `${file} line ${i + 1}: wnid ${w} is listed twice`);
    seen.add(w);
  });
  if (wnids.length === 0) fail('OWSD_ERR_DATASET', `${file} lists no classes`);
  return wnids.sort(byCodePoint);
}

/** First name of each wanted wnid from words.txt; wnids it lacks keep their wnid as name. */
async function readWords(file: string, wanted: Set<string>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  if (!(await isFile(file))) return names;
  for (const line of await readLines(file, 'Tiny-ImageNet words')) {
    const tab = line.indexOf('\t');
    if (tab <= 0) continue;
    const wnid = line.slice(0, tab).trim();
    if (wanted.has(wnid)) names.set(wnid, line.slice(tab + 1).split(',')[0].trim());
  }
  return names;
}

export async function loadTinyImagenet(pathOrDir: string): Promise<Dataset> {
  const root = await resolveRoot(pathOrDir);
  const classes = await readWnids(path.join(root, 'wnids.txt'));
  const index = new Map(classes.map((w, i) => [w, i]));
  const words = await readWords(path.join(root, 'words.txt'), new Set(classes));

  const annotations = path.join(root, 'val', 'val_annotations.txt');
  const imagesDir = path.join(root, 'val', 'images');
  if (!(await isDir(imagesDir))) fail('OWSD_ERR_DATASET', `Tiny-ImageNet image folder ${imagesDir} is missing`);
  const present = new Set((await listDir(imagesDir)).filter((e) => !isJunkFile(e.name)).map((e) => e.name));

  const samples: Sample[] = [];
  const annotated = new Set<string>();
  (await readLines(annotations, 'Tiny-ImageNet annotations')).forEach((line, i) => {
    const where = `${annotations} line ${i + 1}`;
    const [file, wnid] = line.split('\t').map((f) => f.trim());
    if (!file || !wnid) fail('OWSD_ERR_DATASET', `${where}: expected "<file>\\t<wnid>\\t...", got "${line}"`);
    const label = index.get(wnid);
    if (label === undefined) fail('OWSD_ERR_DATASET', `${where}: wnid ${wnid} is not in ${path.join(root, 'wnids.txt')}`);
    if (annotated.has(file)) fail('OWSD_ERR_DATASET', `${where}: ${file} is annotated twice`);
    if (!present.has(file)) fail('OWSD_ERR_DATASET', `${where}: image ${path.join(imagesDir, file)} does not exist`);
    annotated.add(file);
    samples.push({ id: `val/images/${file}`, label, image: { kind: 'file', path: path.join(imagesDir, file) } });
  });
  const unannotated = [...present].filter((f) => !annotated.has(f) && isImageFile(f));
  if (unannotated.length > 0) {
    fail(
      'OWSD_ERR_DATASET',
      `${unannotated.length} image(s) in ${imagesDir} have no line in ${annotations} (${unannotated.slice(0, 5).join(', ')}${unannotated.length > 5 ? ', ...' : ''})`,
    );
  }
  if (samples.length === 0) fail('OWSD_ERR_DATASET', `${annotations} lists no images`);
  return {
    format: 'tiny-imagenet',
    root,
    classes,
    classNames: classes.map((w) => words.get(w) ?? w),
    samples,
  };
}
