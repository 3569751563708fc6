/** Parse and validate a `models.json` manifest (see spec.ts for the format) into ModelSpecs. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, fail, OwsdError } from '../errors.js';
import type { ModelSpec, PreprocessSpec } from './spec.js';
import { builtinLabels, BUILTIN_LABELS, labelsForTask, readLabelsFile, type Labels } from './labels.js';

type Json = Record<string, unknown>;

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function triple(v: unknown, where: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number')) {
    return fail('OWSD_ERR_MANIFEST', `${where}: expected an array of 3 numbers, got ${JSON.stringify(v)}`);
  }
  return v as [number, number, number];
}

function parsePreprocess(p: unknown, where: string): PreprocessSpec {
  if (!isObject(p)) return fail('OWSD_ERR_MANIFEST', `${where}.preprocess: expected an object with at least "resize"`);
  const resize = p.resize;
  if (typeof resize !== 'number' || !(resize > 0)) {
    return fail('OWSD_ERR_MANIFEST', `${where}.preprocess.resize: expected a positive number, got ${JSON.stringify(resize)}`);
  }
  const crop = p.center_crop ?? p.centerCrop;
  if (crop !== undefined && (typeof crop !== 'number' || crop <= 0 || crop > resize)) {
    return fail('OWSD_ERR_MANIFEST', `${where}.preprocess.center_crop: expected a number in (0, resize], got ${JSON.stringify(crop)}`);
  }
  let mean: [number, number, number];
  let std: [number, number, number];
  if (typeof p.scale === 'string') {
    // "x/127.5 - 1" maps [0,255] to [-1,1]: mean 0.5, std 0.5 after scaling to [0,1].
    if (!/127\.5/.test(p.scale)) return fail('OWSD_ERR_MANIFEST', `${where}.preprocess.scale: only "x/127.5 - 1" is supported, got ${p.scale}`);
    mean = [0.5, 0.5, 0.5];
    std = [0.5, 0.5, 0.5];
  } else {
    mean = p.mean === undefined ? IMAGENET_MEAN : triple(p.mean, `${where}.preprocess.mean`);
    std = p.std === undefined ? IMAGENET_STD : triple(p.std, `${where}.preprocess.std`);
  }
  const method = String(p.resize_method ?? p.kernel ?? 'bilinear');
  const kernel = /nearest/.test(method) ? 'nearest' : /cubic/.test(method) ? 'cubic' : /lanczos/.test(method) ? 'lanczos3' : 'linear';
  return { resize, centerCrop: crop as number | undefined, mean, std, kernel };
}

function parseLabels(v: unknown, baseDir: string, task: string | undefined, where: string): Labels | undefined {
  if (v === undefined) return labelsForTask(task);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return { ids: v as string[], names: v as string[] };
  if (typeof v === 'string') {
    if ((BUILTIN_LABELS as readonly string[]).includes(v)) return builtinLabels(v as (typeof BUILTIN_LABELS)[number]);
    return readLabelsFile(path.resolve(baseDir, v));
  }
  return fail('OWSD_ERR_MANIFEST', `${where}.labels: expected "imagenet-1k", "cifar-10", "cifar-100", a file name or an array of names`);
}

/** One manifest entry (or sidecar) → ModelSpec. `baseDir` resolves relative file names. */
export function parseModelEntry(e: unknown, baseDir: string, where: string): ModelSpec {
  if (!isObject(e)) return fail('OWSD_ERR_MANIFEST', `${where}: expected an object`);
  const name = e.name;
  const file = e.file;
  if (typeof name !== 'string' || !name) return fail('OWSD_ERR_MANIFEST', `${where}.name: expected a non-empty string`);
  where = `${where} (${name})`;
  if (typeof file !== 'string' || !file) return fail('OWSD_ERR_MANIFEST', `${where}.file: expected a file name`);
  const input = isObject(e.input) ? e.input : {};
  const output = isObject(e.output) ? e.output : {};
  const shape = Array.isArray(input.shape) ? (input.shape as Array<number | string>) : ['batch', 3, 'height', 'width'];
  const layout = input.layout === 'NHWC' || (shape.length === 4 && shape[3] === 3 && shape[1] !== 3) ? 'NHWC' : 'NCHW';
  const task = typeof e.task === 'string' ? e.task : undefined;
  const emb = isObject(e.embedding) ? e.embedding : undefined;
  const kind = output.kind === 'probabilities' || /softmax probabilities/i.test(task ?? '') ? 'probabilities' : 'logits';
  const sha = e.sha256;
  if (sha !== undefined && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/i.test(sha))) {
    return fail('OWSD_ERR_MANIFEST', `${where}.sha256: expected 64 hex digits, got ${JSON.stringify(sha)}`);
  }
  return {
    name,
    path: path.resolve(baseDir, file),
    sha256: sha?.toLowerCase(),
    format: file.endsWith('.onnx') ? 'onnx' : 'tfjs',
    task,
    input: { name: typeof input.name === 'string' ? input.name : undefined, shape, layout },
    output: {
      name: typeof output.name === 'string' ? output.name : undefined,
      shape: Array.isArray(output.shape) ? (output.shape as Array<number | string>) : undefined,
      kind,
    },
    preprocess: parsePreprocess(e.preprocess, where),
    embedding: emb
      ? {
          tensor: typeof emb.tensor === 'string' ? emb.tensor : undefined,
          scale: typeof emb.scale === 'string' ? emb.scale : undefined,
          zeroPoint: typeof emb.zero_point === 'string' ? emb.zero_point : typeof emb.zeroPoint === 'string' ? emb.zeroPoint : undefined,
          dim: typeof emb.dim === 'number' ? emb.dim : undefined,
        }
      : undefined,
    labels: parseLabels(e.labels, baseDir, task, where),
    officialUrl: typeof e.official_url === 'string' ? e.official_url : undefined,
    source: typeof e.source === 'string' ? e.source : undefined,
  };
}

/** A manifest entry that could not be read: the others are still usable, this one is reported. */
export interface ManifestProblem {
  /** Its index in "models". */
  index: number;
  /** Its "name", when it has one. */
  name?: string;
  error: OwsdError;
}

export interface Manifest {
  file: string;
  dir: string;
  /** The entries that parse. */
  models: ModelSpec[];
  /** The entries that do not, each with its error (naming the file, the entry and the field). */
  problems: ManifestProblem[];
}

export function readManifest(file: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message;
    return fail('OWSD_ERR_MANIFEST', `cannot read model manifest ${file}: ${why}`);
  }
  const list = isObject(json) ? json.models : undefined;
  if (!Array.isArray(list)) return fail('OWSD_ERR_MANIFEST', `${file}: expected {"models": [...]}`);
  const dir = path.dirname(path.resolve(file));
  const models: ModelSpec[] = [];
  const problems: ManifestProblem[] = [];
  list.forEach((entry, i) => {
    try {
      models.push(parseModelEntry(entry, dir, `${file}: models[${i}]`));
    } catch (e) {
      const name = isObject(entry) && typeof entry.name === 'string' && entry.name ? entry.name : undefined;
      const error = e instanceof OwsdError ? e : new OwsdError('OWSD_ERR_MANIFEST', `${file}: models[${i}]: ${describe(e)}`, { cause: e });
      problems.push({ index: i, ...(name ? { name } : {}), error });
    }
  });
  return { file, dir, models, problems };
}
