/**
 * Key rotation: a bundle's key(s) near their budget are replaced by fresh ones. New keys (same generator design,
 * image size and budget, 256-bit secrets from the OS CSPRNG) are written beside the old ones (mode 0600); the
 * bundle's stored training set (`bundle.training`: the same images by reference, in the same data folder) is
 * scrambled again with the new keys, sent to the same cloud, and the IINs are refitted with the bundle's own
 * settings and seed, by `fit`. The result is a new bundle folder; the old bundle and keys are left untouched, so
 * a service can keep answering with them until it swaps the new bundle in (see src/server/gateway.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import { createKey, readKeyFile, validateBudget, writeKeyFile, type Key } from '../key/keyfile.js';
import type { ResolveOptions } from '../models/registry.js';
import { readBundle, type Bundle } from './bundle.js';
import { fit, type FitResult } from './fit.js';
import type { ProgressFn } from './features.js';
import { checkKeysMatch, type CloudSettings } from './session.js';
import { writeFileAtomic } from '../key/files.js';

export interface RotateOptions extends ResolveOptions {
  /** The bundle folder whose keys are replaced. */
  bundle: string;
  /** The bundle's current keys, in order (to check the bundle and to place the new key files). */
  keys: Key[];
  /** Override the cloud the bundle names (URL, timeouts). */
  cloud?: Partial<CloudSettings>;
  /** Folder for the new key files (default: beside the first old key). */
  keyDir?: string;
  /** The new bundle folder (default: `rotatedBundlePath(bundle, newKeyIds)`). */
  out?: string;
  /** Budget of the new keys (default: the old keys' budget). */
  budget?: number;
  /** Where the training images are now, when the data folder moved (default: the bundle's `data.path`). */
  dataPath?: string;
  /** For tests and reproducible runs only: the new keys' secrets instead of the CSPRNG. */
  secrets?: Uint8Array[];
  /** 'rotate' (0/2: new keys written; 1/2: refitted; 2/2: successor recorded), and fit's phases in between. */
  onProgress?: ProgressFn;
}

export interface RotateResult {
  /** The new keys (their secrets are not enumerable) and the files they were written to. */
  keys: Key[];
  keyFiles: string[];
  bundleDir: string;
  bundle: Bundle;
  /** The old keys' ids, in the same order. */
  replaced: string[];
  fit: Omit<FitResult, 'bundle'>;
}

/** `<parent>/<name>-<newKeyId>`, dropping a key id an earlier rotation appended. */
export function rotatedBundlePath(bundleDir: string, newKeyIds: string[]): string {
  const dir = path.resolve(bundleDir);
  const base = path.basename(dir).replace(/(-k_[0-9a-f]{16})+$/, '');
  return path.join(path.dirname(dir), `${base}-${newKeyIds[0]}`);
}

/** Written into the old bundle once its successor is complete, so a restarted service serves the new one. */
export const SUCCESSOR_FILE = 'rotated-to.json';

export interface Successor {
  bundle: string;
  keyFiles: string[];
  keyIds: string[];
  rotated: string;
}

function writeSuccessor(bundleDir: string, s: Successor): void {
  writeFileAtomic(path.join(bundleDir, SUCCESSOR_FILE), JSON.stringify(s, null, 2) + '\n', { code: 'OWSD_ERR_BUNDLE' });
}

/** The successor a rotation recorded in `bundleDir`, or undefined when it has none. */
function readSuccessor(bundleDir: string): Successor | undefined {
  const file = path.join(bundleDir, SUCCESSOR_FILE);
  if (!fs.existsSync(file)) return undefined;
  let s: Partial<Successor>;
  try {
    s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Successor>;
  } catch {
    return fail('OWSD_ERR_BUNDLE', `${file}: not valid JSON (it names the bundle that replaced this one)`);
  }
  if (typeof s.bundle !== 'string' || !Array.isArray(s.keyFiles) || !s.keyFiles.every((f) => typeof f === 'string')) {
    return fail('OWSD_ERR_BUNDLE', `${file}: expected "bundle" and "keyFiles"`);
  }
  return { bundle: s.bundle, keyFiles: s.keyFiles, keyIds: Array.isArray(s.keyIds) ? s.keyIds : [], rotated: String(s.rotated ?? '') };
}

/**
 * The newest bundle and key files, following the successors rotations recorded from `bundleDir`, and the
 * bundles passed on the way (empty when `bundleDir` is current). The key files given are checked first (each a
 * readable key file, together exactly `bundleDir`'s keys), and so are the successor's, so a wrong or missing
 * `--key` is refused even when a rotation means it is not the one used. Pass no key files to only follow.
 */
export function currentBundle(bundleDir: string, keyFiles: string[]): { bundle: string; keyFiles: string[]; skipped: string[] } {
  let bundle = path.resolve(bundleDir);
  let files = keyFiles;
  const check = keyFiles.length > 0;
  if (check) checkKeysMatch(files.map((f) => readKeyFile(f)), readBundle(bundle).keyIds, `bundle ${bundleDir}`);
  const skipped: string[] = [];
  for (;;) {
    const s = readSuccessor(bundle);
    if (!s) return { bundle, keyFiles: files, skipped };
    const file = path.join(bundle, SUCCESSOR_FILE);
    if (skipped.length > 1000 || skipped.includes(bundle)) return fail('OWSD_ERR_BUNDLE', `${file}: the rotation records form a loop`);
    skipped.push(bundle);
    bundle = path.resolve(s.bundle);
    files = s.keyFiles;
    if (check) checkKeysMatch(files.map((f) => readKeyFile(f)), readBundle(bundle).keyIds, `bundle ${bundle} (the successor ${file} names)`);
  }
}

/** A bundle and its keys, as every command that sends opens them: see `openCurrentBundle`. */
export interface CurrentBundle {
  /** The bundle folder to use (the newest successor). */
  bundle: string;
  keyFiles: string[];
  keys: Key[];
  /** The retired bundles passed on the way (empty when the one given is current). */
  skipped: string[];
  /** Set when a rotation was followed: says which bundle and key replace the ones given, for the user to see. */
  notice: string | undefined;
}

/**
 * The one rule for retired keys, used by serve, predict and eval: a bundle whose keys were rotated
 * (`rotated-to.json`) is followed to its successor and its new keys, and `notice` says so; the old key is never
 * sent on again. The key files given are checked against the bundle given (see `currentBundle`).
 */
export function openCurrentBundle(bundleDir: string, keyFiles: string[]): CurrentBundle {
  if (keyFiles.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'give the bundle\'s key file(s) with --key');
  const cur = currentBundle(bundleDir, keyFiles);
  const keys = cur.keyFiles.map((f) => readKeyFile(f));
  const notice =
    cur.skipped.length === 0
      ? undefined
      : `key(s) ${keyFiles.map((f) => readKeyFile(f).id).join(', ')} of bundle ${bundleDir} were retired by a rotation: using the successor bundle ${cur.bundle} with key(s) ${keys.map((k) => k.id).join(', ')} (${cur.keyFiles.join(', ')})`;
  return { ...cur, keys, notice };
}

export async function rotateKeys(opts: RotateOptions): Promise<RotateResult> {
  if (opts.budget !== undefined) validateBudget(opts.budget, 'budget');
  const old = readBundle(opts.bundle);
  const cur = currentBundle(opts.bundle, []);
  if (cur.skipped.length > 0) {
    return fail('OWSD_ERR_BUNDLE', `bundle ${opts.bundle} was already rotated: its successor is ${cur.bundle} (rotate that one, with its key)`);
  }
  checkKeysMatch(opts.keys, old.keyIds, `bundle ${opts.bundle}`);
  if (!old.training) {
    return fail('OWSD_ERR_BUNDLE', `bundle ${opts.bundle} does not keep its training set's references (written before key rotation existed): fit it again with owsd fit`);
  }
  if (opts.secrets && opts.secrets.length !== opts.keys.length) fail('OWSD_ERR_BAD_ARGUMENT', `rotateKeys: give one secret per key (${opts.keys.length}), got ${opts.secrets.length}`);
  const keyDir = opts.keyDir ?? (opts.keys[0]!.file ? path.dirname(opts.keys[0]!.file) : undefined);
  if (!keyDir) return fail('OWSD_ERR_BAD_ARGUMENT', 'rotateKeys: the keys were not read from files: give keyDir for the new key files');
  const fresh = opts.keys.map((k, i) =>
    // The same design: image size, channels, and per-submission embedding noise (absent in old key files: none).
    createKey({ imageSize: k.generator.imageSize, baseChannels: k.generator.baseChannels, embeddingNoise: k.generator.embeddingNoise ?? 0, budget: opts.budget ?? k.budget, secret: opts.secrets?.[i] }),
  );
  const keyFiles = fresh.map((k) => path.join(keyDir, `${k.id}.key`));
  fresh.forEach((k, i) => writeKeyFile(keyFiles[i]!, k));
  // Read back from the files, so the ledgers live beside them.
  const keys = keyFiles.map((f) => readKeyFile(f));
  opts.onProgress?.('rotate', 0, 2, `new key(s) ${keys.map((k) => k.id).join(', ')}: refitting`);
  const out = opts.out ?? rotatedBundlePath(opts.bundle, keys.map((k) => k.id));
  const { data } = old;
  const fitted = await fit({
    keys,
    encoders: old.encoders.map((e) => e.name),
    cloud: { url: old.cloud.url, protocol: old.cloud.protocol, modelName: old.cloud.modelName, ...(old.cloud.wire ? { wire: old.cloud.wire } : {}), ...opts.cloud },
    data: { path: opts.dataPath ?? data.path, labels: data.labels, perLabel: data.perLabel, testFraction: data.testFraction, seed: data.seed },
    expectTrainIds: old.training.ids,
    out,
    modelsDir: opts.modelsDir,
    iin: old.iins.both.config,
    onProgress: opts.onProgress,
  });
  opts.onProgress?.('rotate', 1, 2, 'recording the successor');
  writeSuccessor(opts.bundle, { bundle: out, keyFiles, keyIds: keys.map((k) => k.id), rotated: new Date().toISOString() });
  opts.onProgress?.('rotate', 2, 2);
  const { bundle, ...summary } = fitted;
  return { keys, keyFiles, bundleDir: out, bundle, replaced: old.keyIds, fit: summary };
}
