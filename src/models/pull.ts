/**
 * `owsd models pull NAME`: download a model from its official address (the manifest's `official_url`) into the
 * cache, verify its sha256 and register it in the cache's own models.json. The file appears only once verified.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, fail } from '../errors.js';
import { settings } from '../settings.js';
import { fsyncFolder, tempNameFor, writeFileAtomic } from '../internal/files.js';
import { manifestPath, pullCacheDir } from './registry.js';
import { readManifest } from './manifest.js';
import type { ModelSpec } from './spec.js';

export interface PullOptions {
  modelsDir?: string;
  cacheDir?: string;
  /** Download from here instead of the manifest's official_url (a mirror). */
  url?: string;
  /** Called with bytes received and total (when the server says). */
  onProgress?: (received: number, total: number | undefined) => void;
}

function findEntry(name: string, modelsDir: string | undefined): { raw: Record<string, unknown>; spec: ModelSpec } {
  if (!modelsDir) return fail('OWSD_ERR_MODEL_NOT_FOUND', `cannot pull '${name}': no models directory (--models DIR or OWSD_MODELS) names it`);
  const file = manifestPath(modelsDir);
  const manifest = readManifest(file);
  const spec = manifest.models.find((m) => m.name === name);
  const broken = manifest.problems.find((p) => p.name === name);
  if (!spec && broken) throw broken.error;
  if (!spec) return fail('OWSD_ERR_MODEL_NOT_FOUND', `model '${name}' is not in ${file}`);
  const raw = (JSON.parse(fs.readFileSync(file, 'utf8')) as { models: Array<Record<string, unknown>> }).models.find((m) => m.name === name)!;
  return { raw, spec };
}

/** Returns the path of the verified model file in the cache. */
export async function pullModel(name: string, opts: PullOptions = {}): Promise<string> {
  const { raw, spec } = findEntry(name, opts.modelsDir ?? settings.modelsDir);
  const url = opts.url ?? spec.officialUrl;
  if (!url) return fail('OWSD_ERR_DOWNLOAD', `model '${name}' has no official_url in its manifest entry; pass --url`);
  if (!spec.sha256) return fail('OWSD_ERR_DOWNLOAD', `model '${name}' has no sha256 in its manifest entry: refusing to download what cannot be verified`);
  const dir = pullCacheDir(opts.cacheDir);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, path.basename(spec.path));
  const tmp = tempNameFor(target);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    return fail('OWSD_ERR_DOWNLOAD', `cannot download ${url}: ${describe((e as Error).cause ?? e)}`);
  }
  if (!res.ok || !res.body) return fail('OWSD_ERR_DOWNLOAD', `cannot download ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || undefined;
  const hash = crypto.createHash('sha256');
  const out = fs.createWriteStream(tmp, { mode: 0o644 });
  let received = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (e) {
    out.destroy();
    fs.rmSync(tmp, { force: true });
    return fail('OWSD_ERR_DOWNLOAD', `download of ${url} broke off after ${received} bytes: ${describe(e)}`);
  }
  const digest = hash.digest('hex');
  if (digest !== spec.sha256) {
    fs.rmSync(tmp, { force: true });
    return fail('OWSD_ERR_CHECKSUM', `downloaded ${url} has sha256 ${digest}, expected ${spec.sha256}: not saved`);
  }
  fs.renameSync(tmp, target);
  fsyncFolder(dir);
  // Register it in the cache's manifest (replacing an older entry of the same name).
  const cacheManifest = manifestPath(dir);
  const existing = fs.existsSync(cacheManifest)
    ? (JSON.parse(fs.readFileSync(cacheManifest, 'utf8')) as { models: Array<Record<string, unknown>> })
    : { models: [] };
  existing.models = existing.models.filter((m) => m.name !== name);
  existing.models.push({ ...raw, file: path.basename(target) });
  writeFileAtomic(cacheManifest, JSON.stringify(existing, null, 2));
  return target;
}
