/**
 * Find a model by name (in the manifest of the models directory, then in the pull cache) or by path (an `.onnx`
 * file with a sidecar `<file>.json`, or preprocessing given by the caller), and verify its sha256. A TF.js layers
 * model (`model.json` + weight shards) comes back as the spec of its ONNX conversion in the cache (see tfjs.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import { settings } from '../settings.js';
import { verifySha256 } from './checksum.js';
import { parseModelEntry, readManifest, type Manifest, type ManifestProblem } from './manifest.js';
import type { ModelSpec } from './spec.js';
import { prepareTfjsModel } from './tfjs.js';

export interface ResolveOptions {
  /** Directory holding models.json (default: settings.modelsDir, i.e. $OWSD_MODELS). */
  modelsDir?: string;
  cacheDir?: string;
  /** For a bare .onnx path: manifest-style fields (preprocess, labels, ...) given on the command line. */
  entry?: Record<string, unknown>;
  /** Skip the sha256 check (not recommended; used by tests that build models). */
  skipChecksum?: boolean;
}

export function manifestPath(dir: string): string {
  return path.join(dir, 'models.json');
}

export function pullCacheDir(cacheDir = settings.cacheDir): string {
  return path.join(cacheDir, 'models');
}

function manifests(opts: ResolveOptions): Manifest[] {
  const out: Manifest[] = [];
  const dir = opts.modelsDir ?? settings.modelsDir;
  if (dir) out.push(readManifest(manifestPath(dir)));
  const cache = pullCacheDir(opts.cacheDir);
  if (fs.existsSync(manifestPath(cache))) out.push(readManifest(manifestPath(cache)));
  return out;
}

/** All models the registry knows (entries that cannot be read are left out: see `manifestProblems`). */
export function listModels(opts: ResolveOptions = {}): ModelSpec[] {
  return manifests(opts).flatMap((m) => m.models);
}

/** The manifest entries that cannot be read, each with its error; the other entries work. */
export function manifestProblems(opts: ResolveOptions = {}): ManifestProblem[] {
  return manifests(opts).flatMap((m) => m.problems);
}

/** The models directory in use (--models or $OWSD_MODELS), or undefined when none is set. */
export function modelsDirOf(opts: ResolveOptions = {}): string | undefined {
  return opts.modelsDir ?? settings.modelsDir;
}

function looksLikePath(s: string): boolean {
  return s.endsWith('.onnx') || s.includes('/') || s.includes(path.sep);
}

function specFromPath(file: string, opts: ResolveOptions): ModelSpec {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) return fail('OWSD_ERR_MODEL_NOT_FOUND', `model file ${abs} does not exist`);
  const sidecars = [`${abs}.json`, abs.replace(/\.onnx$/, '.json')];
  const sidecar = sidecars.find((s) => s !== abs && fs.existsSync(s));
  let entry: Record<string, unknown> = {};
  if (sidecar) {
    try {
      entry = JSON.parse(fs.readFileSync(sidecar, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      return fail('OWSD_ERR_MANIFEST', `cannot parse sidecar ${sidecar}: ${(e as Error).message}`);
    }
  }
  entry = { name: path.basename(abs, '.onnx'), ...entry, ...opts.entry, file: abs };
  if (entry.preprocess === undefined) {
    return fail(
      'OWSD_ERR_MANIFEST',
      `${abs}: no preprocessing known for this file: add a sidecar ${sidecars[0]} with {"preprocess": {"resize": 224, "mean": [...], "std": [...]}} or pass --resize/--crop/--mean/--std`,
    );
  }
  return parseModelEntry(entry, path.dirname(abs), sidecar ?? abs);
}

/** Find a model by name or path, check its sha256 if the manifest gives one, and return its spec. */
export async function resolveModel(nameOrPath: string, opts: ResolveOptions = {}): Promise<ModelSpec> {
  let spec: ModelSpec | undefined;
  if (looksLikePath(nameOrPath)) {
    spec = specFromPath(nameOrPath, opts);
  } else {
    const all = manifests(opts);
    if (all.length === 0) {
      return fail(
        'OWSD_ERR_MODEL_NOT_FOUND',
        `model '${nameOrPath}': no models directory is set: pass --models DIR or set OWSD_MODELS to a folder holding models.json`,
      );
    }
    const named = all.flatMap((m) => m.models).filter((m) => m.name === nameOrPath);
    // The models directory first; the pull cache holds a copy when the directory's own file is missing.
    spec = named.find((m) => fs.existsSync(m.path)) ?? named[0];
    // An entry of that name that does not parse: its own error (the manifest's other entries still work).
    const broken = all.flatMap((m) => m.problems).find((p) => p.name === nameOrPath);
    if (!spec && broken) throw broken.error;
    if (!spec) {
      const known = all.flatMap((m) => m.models.map((x) => x.name));
      const bad = all.flatMap((m) => m.problems);
      return fail(
        'OWSD_ERR_MODEL_NOT_FOUND',
        `model '${nameOrPath}' is not in ${all.map((m) => m.file).join(' or ')}; known: ${known.join(', ') || 'none'}${bad.length ? ` (${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} cannot be read: ${bad.map((p) => p.error.message).join('; ')})` : ''}`,
      );
    }
    if (!fs.existsSync(spec.path)) {
      return fail('OWSD_ERR_MODEL_NOT_FOUND', `model '${spec.name}': file ${spec.path} does not exist${spec.officialUrl ? ` (run: owsd models pull ${spec.name})` : ''}`);
    }
  }
  // A TF.js layers model: checked (sha256 over its files) and converted to ONNX in the cache, once per content.
  if (spec.format === 'tfjs') return prepareTfjsModel(spec, { cacheDir: opts.cacheDir ?? settings.cacheDir, skipChecksum: opts.skipChecksum });
  if (spec.sha256 && !opts.skipChecksum) await verifySha256(spec.path, spec.sha256);
  return spec;
}
