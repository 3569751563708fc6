/**
 * Does any 32-byte window of a secret thing (an image file, its pixels, an embedding, the key) appear in what was
 * recorded? Rabin-Karp: every 32-byte window of the haystack is hashed into a set, every window of each needle is
 * looked up, and a hit is confirmed byte for byte. Base64 strings in the recorded traffic are decoded and searched
 * too, so a base64-wrapped copy is found whatever its alignment; so are JSON arrays of numbers, as bytes (when all
 * are integers 0..255: pixels) and as float32 (embeddings sent as number lists).
 *
 * Windows with fewer than MIN_DISTINCT distinct byte values (flat image areas, runs of zeros) are skipped: they
 * carry no information about the image and occur in any PNG. Tests pair every use with a positive control that
 * shows the detector finds a real leak.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeRgb, Encoder, generatorLayers, readKeyFile, resolveModel } from '../src/index.js';
import { deriveNormals, streamKey } from '../src/key/keystream.js';
import type { RecordingProxy } from './proxy.js';

export const WINDOW = 32;
export const MIN_DISTINCT = 8;

const B = 0x01000193;
let BPOW = 1;
for (let i = 0; i < WINDOW - 1; i++) BPOW = Math.imul(BPOW, B);

function* windowHashes(buf: Uint8Array): Generator<[number, number]> {
  if (buf.length < WINDOW) return;
  let h = 0;
  for (let i = 0; i < WINDOW; i++) h = (Math.imul(h, B) + buf[i]!) | 0;
  yield [h, 0];
  for (let i = WINDOW; i < buf.length; i++) {
    h = (Math.imul((h - Math.imul(buf[i - WINDOW]!, BPOW)) | 0, B) + buf[i]!) | 0;
    yield [h, i - WINDOW + 1];
  }
}

function informative(buf: Uint8Array, at: number): boolean {
  const seen = new Set<number>();
  for (let i = at; i < at + WINDOW; i++) {
    seen.add(buf[i]!);
    if (seen.size >= MIN_DISTINCT) return true;
  }
  return false;
}

/** Base64 strings (40+ characters) in text, decoded. */
export function decodedBase64Strings(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) out.push(Buffer.from(m[0], 'base64'));
  return out;
}

/** JSON number arrays in a body (any depth, nested arrays flattened), as uint8 bytes and as float32 bytes. */
export function numberArrays(text: string): Buffer[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const out: Buffer[] = [];
  const flat = (a: unknown[]): number[] | null => {
    const xs: number[] = [];
    for (const v of a) {
      if (typeof v === 'number') xs.push(v);
      else if (Array.isArray(v)) {
        const inner = flat(v);
        if (!inner) return null;
        xs.push(...inner);
      } else return null;
    }
    return xs;
  };
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      const xs = flat(v);
      if (xs && xs.length >= 8) {
        if (xs.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) out.push(Buffer.from(xs));
        const f = Float32Array.from(xs);
        out.push(Buffer.from(f.buffer));
        return;
      }
      v.forEach(walk);
    } else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(json);
  return out;
}

export class Haystack {
  private readonly hashes = new Set<number>();
  private readonly parts: Buffer[] = [];

  /** What was recorded (each part on its own: a JSON body is parsed whole); base64 strings and number arrays in it are decoded and added as well. */
  constructor(recorded: Buffer[]) {
    for (const r of recorded) {
      this.add(r);
      const text = r.toString('latin1');
      for (const d of decodedBase64Strings(text)) this.add(d);
      for (const d of numberArrays(r.toString('utf8'))) this.add(d);
    }
  }

  private add(b: Buffer): void {
    this.parts.push(b);
    for (const [h] of windowHashes(b)) this.hashes.add(h);
  }

  get bytes(): number {
    return this.parts.reduce((a, p) => a + p.length, 0);
  }

  /** The offset in `needle` of the first informative window found in the haystack, or -1. */
  find(needle: Uint8Array): number {
    for (const [h, at] of windowHashes(needle)) {
      if (!this.hashes.has(h) || !informative(needle, at)) continue;
      const w = Buffer.from(needle.buffer, needle.byteOffset + at, WINDOW);
      if (this.parts.some((p) => p.indexOf(w) >= 0)) return at;
    }
    return -1;
  }
}

export interface Secret {
  what: string;
  bytes: Uint8Array;
}

/** The secrets whose windows appear in the haystack (empty: nothing leaked). */
export function leaks(hay: Haystack, secrets: Secret[]): string[] {
  const found: string[] = [];
  for (const s of secrets) {
    const at = hay.find(s.bytes);
    if (at >= 0) found.push(`${s.what} (bytes ${at}..${at + WINDOW})`);
  }
  return found;
}

/** The forms a float vector or key can travel in: raw bytes, and its base64 and hex text. */
export function forms(what: string, bytes: ArrayBufferView): Secret[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [
    { what, bytes: b },
    { what: `${what} as base64`, bytes: Buffer.from(b.toString('base64')) },
    { what: `${what} as hex`, bytes: Buffer.from(b.toString('hex')) },
  ];
}

/** Everything that could betray an image or the key: each file, its pixels, its embedding, the secret and the derived key material. */
export async function imageAndKeySecrets(files: string[], keyFile: string, encoderName: string, modelsDir: string): Promise<Secret[]> {
  const enc = await Encoder.create([await resolveModel(encoderName, { modelsDir })]);
  const emb = await enc.encode(files.map((p) => ({ kind: 'file' as const, path: p })));
  await enc.release();
  const out: Secret[] = [];
  for (const [i, f] of files.entries()) {
    const name = path.basename(f);
    out.push({ what: `${name} file`, bytes: fs.readFileSync(f) });
    out.push({ what: `${name} pixels`, bytes: (await decodeRgb({ kind: 'file', path: f })).data });
    out.push(...forms(`${name} embedding`, emb.subarray(i * enc.dim, (i + 1) * enc.dim)));
  }
  const key = readKeyFile(keyFile);
  out.push(...forms('key secret', key.secret));
  // Derived key material: each generator layer's stream key and the start of its weights (as the generator draws them).
  const g = key.generator;
  for (const layer of generatorLayers(enc.dim, g)) {
    const label = `generator/${g.design}/in${enc.dim}/size${g.imageSize}/c${g.baseChannels}/${layer.name}`;
    out.push(...forms(`${layer.name} stream key`, streamKey(key.secret, label)));
    out.push(...forms(`${layer.name} weights`, deriveNormals(key.secret, label, 4096, 0.02 * (Math.sqrt(2 / layer.fanIn) / 0.02)) /* the exact expression of deriveGeneratorWeights */).slice(0, 2));
  }
  return out;
}

/** What an observer of the traffic saw: request lines, headers and bodies. */
export function trafficOf(p: RecordingProxy): Buffer[] {
  return p.requests.flatMap((r) => [Buffer.from(`${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n`), r.body]);
}
