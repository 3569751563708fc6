/**
 * The image paths of every command that takes images (scramble, predict, batch submit): files and folders named
 * on the command line, and list files given with `--from` (repeatable), in that order.
 *
 * - A file is taken as given (whatever its extension: the decoder names it if it cannot be read).
 * - A folder means every image in it and in its subfolders (recursive), by extension (IMAGE_EXTENSIONS), sorted
 *   by path in code-point order (the same on every machine); other files are skipped and counted, hidden files and
 *   folders (".name") too; links to folders are not followed (no loops), links to files are taken.
 * - A list file holds one path a line; a relative path is relative to the list file's folder (to the current
 *   folder for `-`, standard input); spaces around a path, blank lines and lines starting with `#` are ignored; a
 *   listed folder is expanded as above.
 *
 * A path that does not exist is an error naming it (and the list file's line); a folder with no image is an error.
 * Nothing here opens an image: 10,000 paths cost 10,000 stat calls.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, fail, byCodePoint, IMAGE_EXTENSIONS, isImageFile } from '../index.js';
import { collect } from './run.js';

export interface InputFlags {
  from?: string[];
}

export interface Inputs {
  /** Image paths, in order: as given for files, joined to the folder for folder contents. */
  files: string[];
  /** Non-image files found in the folders given (not followed into), and where. */
  skipped: number;
  /** One line for the user, e.g. "2 folders: 118 images, 3 other files skipped", or '' when only files were named. */
  note: string;
}

/** `.argument(...IMAGES_ARGUMENT).option(...FROM_OPTION)`: what every command taking images registers. */
export const IMAGES_ARGUMENT = ['[images...]', 'image files or folders (folders: every image in them, recursively, sorted)'] as const;
export const FROM_OPTION = ['--from <list>', 'read image paths (or folders) from a file, one a line (relative to its folder; # comments; - for stdin); repeatable', collect] as const;

function statOrFail(p: string, where: string): fs.Stats {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return fail('OWSD_ERR_FILE', `${where}${p} does not exist`);
    if (code === 'ELOOP') return fail('OWSD_ERR_FILE', `${where}${p} is a symbolic link that leads nowhere (a loop)`);
    return fail('OWSD_ERR_FILE', `${where}cannot read ${p}: ${describe(e)}`, e);
  }
}

/** Every image under `dir`, sorted; counts what it skips. */
function walk(dir: string, out: string[], counts: { skipped: number }): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return fail('OWSD_ERR_FILE', `cannot list the folder ${dir}: ${describe(e)}`, e);
  }
  entries.sort((a, b) => byCodePoint(a.name, b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.name.startsWith('.')) {
      if (!e.isDirectory()) counts.skipped++;
      continue;
    }
    if (e.isDirectory()) walk(p, out, counts);
    else if (e.isFile() || e.isSymbolicLink()) {
      // A link is taken when it leads to a file with an image extension; a link to a folder is not followed.
      const isFile = e.isFile() || (fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false);
      if (isFile && isImageFile(e.name)) out.push(p);
      else if (isFile || !e.isSymbolicLink()) counts.skipped++;
    } else counts.skipped++;
  }
}

function readList(list: string): { text: string; base: string } {
  if (list === '-') {
    try {
      return { text: fs.readFileSync(0, 'utf8'), base: process.cwd() };
    } catch (e) {
      return fail('OWSD_ERR_FILE', `--from -: cannot read standard input: ${describe(e)}`, e);
    }
  }
  const st = statOrFail(list, '--from: ');
  if (st.isDirectory()) fail('OWSD_ERR_BAD_ARGUMENT', `--from ${list} is a folder: --from takes a list file (one path a line); name a folder as an argument instead`);
  try {
    return { text: fs.readFileSync(list, 'utf8'), base: path.dirname(list) };
  } catch (e) {
    return fail('OWSD_ERR_FILE', `--from: cannot read ${list}: ${describe(e)}`, e);
  }
}

/**
 * The image paths named by `args` and the list files `from`. `who` starts the error when there are none
 * ("owsd scramble needs images").
 */
export function resolveInputs(args: readonly string[], from: readonly string[] = [], who = 'this command'): Inputs {
  const files: string[] = [];
  const counts = { skipped: 0 };
  let folders = 0;
  const add = (p: string, where: string): void => {
    const st = statOrFail(p, where);
    if (!st.isDirectory()) {
      files.push(p);
      return;
    }
    folders++;
    const before = files.length;
    const skippedBefore = counts.skipped;
    walk(p, files, counts);
    if (files.length === before) {
      const other = counts.skipped - skippedBefore;
      fail('OWSD_ERR_FILE', `${where}the folder ${p} holds no images${other ? ` (${other} other file${other === 1 ? '' : 's'} skipped)` : ''}; images are ${IMAGE_EXTENSIONS.join(' ')} files`);
    }
  };
  for (const a of args) add(a, '');
  if (from.filter((f) => f === '-').length > 1) fail('OWSD_ERR_BAD_ARGUMENT', '--from - (standard input) can be given once');
  for (const list of from) {
    const { text, base } = readList(list);
    const name = list === '-' ? 'standard input' : list;
    text.split('\n').forEach((raw, i) => {
      const t = raw.trim();
      if (t === '' || t.startsWith('#')) return;
      add(path.isAbsolute(t) ? t : path.join(base, t), `--from ${name} line ${i + 1}: `);
    });
  }
  if (files.length === 0) {
    if (from.length > 0) fail('OWSD_ERR_BAD_ARGUMENT', `${who}: --from ${from.join(', ')} lists no image (only blank lines and # comments)`);
    fail('OWSD_ERR_BAD_ARGUMENT', `${who} needs images: name image files or folders, or --from LIST (one path a line, - for stdin)`);
  }
  const note = folders > 0 ? `${folders} folder${folders === 1 ? '' : 's'} given: ${files.length} images in all, ${counts.skipped} other file${counts.skipped === 1 ? '' : 's'} skipped` : '';
  return { files, skipped: counts.skipped, note };
}

/** resolveInputs for a command's action, writing its note (folders, skipped files) to stderr as `owsd <cmd>: ...`. */
export function imageInputs(args: readonly string[], o: object, cmd: string): string[] {
  const r = resolveInputs(args, (o as InputFlags).from ?? [], cmd);
  if (r.note) process.stderr.write(`owsd ${cmd}: ${r.note}\n`);
  return r.files;
}
