/**
 * Small file helpers shared by the dataset loaders: reading text files and listing folders with errors that
 * name the file, and the list of image extensions a folder dataset may hold.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import type { Dirent, Stats } from 'node:fs';
import path from 'node:path';
import { describe, fail } from '../errors.js';

/**
 * Extensions (lower case) of the image files the loaders pick up. sharp reads jpeg/png/webp/gif/tiff/avif;
 * Netpbm (ppm/pgm/pnm, used by GTSRB) is not in sharp's prebuilt libvips, see `src/image/netpbm.ts`. BMP is read by neither.
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.ppm', '.pgm', '.pnm',
];

/** Whether a file name has one of IMAGE_EXTENSIONS (case-insensitive). */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/** Hidden files and OS droppings (.DS_Store, Thumbs.db, desktop.ini) that loaders skip. */
export function isJunkFile(name: string): boolean {
  const lower = name.toLowerCase();
  return name.startsWith('.') || lower === 'thumbs.db' || lower === 'desktop.ini';
}

/** Code-point order: the same on every machine and locale (unlike localeCompare). */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** stat, or null when the path does not exist. Other failures (permissions) are errors naming the path. */
export async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    return fail('OWSD_ERR_DATASET', `cannot read ${p}: ${describe(e)}`, e);
  }
}

export async function isFile(p: string): Promise<boolean> {
  return (await statOrNull(p))?.isFile() ?? false;
}

export async function isDir(p: string): Promise<boolean> {
  return (await statOrNull(p))?.isDirectory() ?? false;
}

/** Folder entries, sorted by name, with an error naming the folder if it cannot be read. */
export async function listDir(dir: string): Promise<Dirent[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.sort((a, b) => byCodePoint(a.name, b.name));
  } catch (e) {
    return fail('OWSD_ERR_DATASET', `cannot list folder ${dir}: ${describe(e)}`, e);
  }
}

/** What a folder entry is, following symbolic links (a link to a folder counts as a folder). */
export async function entryKind(dir: string, e: Dirent): Promise<'dir' | 'file' | 'other'> {
  if (e.isDirectory()) return 'dir';
  if (e.isFile()) return 'file';
  if (e.isSymbolicLink()) {
    const st = await statOrNull(path.join(dir, e.name));
    return st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : 'other';
  }
  return 'other';
}

/** A whole file as bytes; `what` says what the file is for, in the error message. */
export async function readBytes(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    return fail('OWSD_ERR_DATASET', `cannot read ${what} ${file}: ${describe(e)}`, e);
  }
}

/** A UTF-8 text file split into lines (BOM and \r removed; trailing empty lines dropped). */
export async function readLines(file: string, what: string): Promise<string[]> {
  let text = (await readBytes(file, what)).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

/** `aquarium_fish` -> `aquarium fish`. */
export function humanize(name: string): string {
  return name.replace(/_/g, ' ');
}

/** Check each class index a sample uses, with an error naming where it came from. */
export function checkLabel(label: number, numClasses: number, where: string): void {
  if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
    fail('OWSD_ERR_DATASET', `${where}: label ${label} is out of range, expected 0..${numClasses - 1}`);
  }
}
