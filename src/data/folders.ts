/**
 * A folder of class folders: `root/<class>/**\/*.<image ext>`. Class order is the sorted folder names (code-point
 * order). An optional `root/classes.tsv` (`<id>\t<human name>` per line, as Imagenette has) gives the human names.
 *
 * Samples are lazy `{kind:'file'}` inputs: no image is read here. Hidden files (.DS_Store...) are skipped; any
 * other file that is not a supported image is an error rather than a silently dropped sample.
 */
import path from 'node:path';
import { fail } from '../errors.js';
import type { Dataset, Sample } from '../types.js';
import { IMAGE_EXTENSIONS, entryKind, isFile, isImageFile, isJunkFile, listDir, readLines } from './common.js';

/** Names of the (non-hidden) sub-folders of `root`, sorted. */
export async function classFolders(root: string): Promise<string[]> {
  const entries = (await listDir(root)).filter((e) => !isJunkFile(e.name));
  const kinds = await Promise.all(entries.map((e) => entryKind(root, e)));
  return entries.filter((_, i) => kinds[i] === 'dir').map((e) => e.name);
}

/** All image files under `dir` (recursively), as paths relative to `dir` with '/' separators, in name order. */
export async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  const unsupported: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const here = path.join(dir, rel);
    const entries = (await listDir(here)).filter((e) => !isJunkFile(e.name));
    for (const e of entries) {
      const relPath = rel === '' ? e.name : `${rel}/${e.name}`;
      const kind = await entryKind(here, e);
      if (kind === 'dir') await walk(relPath);
      else if (isImageFile(e.name)) out.push(relPath);
      else unsupported.push(relPath);
    }
  };
  await walk('');
  if (unsupported.length > 0) {
    const shown = unsupported.slice(0, 5).map((f) => path.join(dir, f)).join(', ');
    fail(
      'OWSD_ERR_DATASET',
      `${unsupported.length} file(s) in class folder ${dir} are not supported images (${shown}${unsupported.length > 5 ? ', ...' : ''}); ` +
        `expected extensions ${IMAGE_EXTENSIONS.join(' ')} — convert or remove them`,
    );
  }
  return out;
}

/** `classes.tsv` as a map id -> name, checked against the folder names. */
async function readClassesTsv(file: string, folders: string[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const lines = await readLines(file, 'class list');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const tab = line.indexOf('\t');
    if (tab <= 0) fail('OWSD_ERR_DATASET', `${file} line ${i + 1}: expected "<class id>\\t<name>", got "${line}"`);
    const id = line.slice(0, tab).trim();
    if (names.has(id)) fail('OWSD_ERR_DATASET', `${file} line ${i + 1}: class ${id} is listed twice`);
    names.set(id, line.slice(tab + 1).trim());
  });
  const missingFolder = [...names.keys()].filter((id) => !folders.includes(id));
  if (missingFolder.length > 0) {
    fail('OWSD_ERR_DATASET', `${file} lists class(es) with no folder under ${path.dirname(file)}: ${missingFolder.join(', ')}`);
  }
  const unlisted = folders.filter((f) => !names.has(f));
  if (unlisted.length > 0) {
    fail('OWSD_ERR_DATASET', `class folder(s) ${unlisted.join(', ')} in ${path.dirname(file)} are not listed in ${file}`);
  }
  return names;
}

/** Load `root` as a folder of class folders. Errors on no class folders, or on an empty class folder. */
export async function loadFolders(root: string): Promise<Dataset> {
  root = path.resolve(root);
  const folders = await classFolders(root);
  if (folders.length === 0) {
    fail('OWSD_ERR_DATASET', `${root} has no class folders: expected one sub-folder of images per class`);
  }
  const tsv = path.join(root, 'classes.tsv');
  const names = (await isFile(tsv)) ? await readClassesTsv(tsv, folders) : null;

  const perClass = await Promise.all(folders.map((f) => listImages(path.join(root, f))));
  const samples: Sample[] = [];
  perClass.forEach((files, label) => {
    if (files.length === 0) {
      fail('OWSD_ERR_DATASET', `class folder ${path.join(root, folders[label])} has no images (expected ${IMAGE_EXTENSIONS.join(' ')})`);
    }
    for (const rel of files) {
      const id = `${folders[label]}/${rel}`;
      samples.push({ id, label, image: { kind: 'file', path: path.join(root, folders[label], ...rel.split('/')) } });
    }
  });
  return {
    format: 'folders',
    root,
    classes: folders,
    classNames: folders.map((f) => names?.get(f) ?? f),
    samples,
  };
}
