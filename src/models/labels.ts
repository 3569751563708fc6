/** Built-in label lists (ImageNet-1k, CIFAR-10, CIFAR-100) and label files. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../errors.js';

/** The repo's assets folder: <root>/assets, from dist/src/models or src/models alike. */
function assetsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'assets');
    if (fs.existsSync(path.join(candidate, 'labels'))) return candidate;
    dir = path.dirname(dir);
  }
  return fail('OWSD_ERR_INTERNAL', 'cannot find the owsd assets folder (assets/labels) next to the installed package');
}

export interface Labels {
  ids: string[];
  names: string[];
}

const cache = new Map<string, Labels>();

function readLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return fail('OWSD_ERR_FILE', `cannot read labels file ${file}: ${(e as Error).message}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

/** Labels from a file: one label per line, or `id<TAB>name` per line. */
export function readLabelsFile(file: string): Labels {
  const lines = readLines(file);
  const ids: string[] = [];
  const names: string[] = [];
  for (const line of lines) {
    const [id, name] = line.split('\t');
    ids.push(id!);
    names.push(name ?? id!);
  }
  return { ids, names };
}

export const BUILTIN_LABELS = ['imagenet-1k', 'cifar-10', 'cifar-100'] as const;

export function builtinLabels(which: (typeof BUILTIN_LABELS)[number]): Labels {
  const hit = cache.get(which);
  if (hit) return hit;
  const file = { 'imagenet-1k': 'imagenet-1k.tsv', 'cifar-10': 'cifar10.txt', 'cifar-100': 'cifar100.txt' }[which];
  const labels = readLabelsFile(path.join(assetsDir(), 'labels', file));
  cache.set(which, labels);
  return labels;
}

/** Guess built-in labels from a manifest's free-text task ("ImageNet-1k classification", "CIFAR-10 ..."). */
export function labelsForTask(task: string | undefined): Labels | undefined {
  if (!task) return undefined;
  if (/imagenet-1k/i.test(task)) return builtinLabels('imagenet-1k');
  if (/cifar-100/i.test(task)) return builtinLabels('cifar-100');
  if (/cifar-10\b/i.test(task)) return builtinLabels('cifar-10');
  return undefined;
}
