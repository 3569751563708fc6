/**
 * Secret → deterministic weights. Each named stream (one per generator layer) gets its own AES-256 key from
 * HKDF-SHA256(secret, label); AES-256-CTR over zeros gives the keystream; pairs of 32-bit words become standard
 * normal samples by the Marsaglia polar method. V8's Math.log and Math.sqrt are deterministic, so the same
 * secret gives bit-identical weights on any machine. Different labels (or secrets) give independent streams.
 */
import crypto from 'node:crypto';

const SALT = Buffer.from('owsd keystream v1');
const CHUNK = 1 << 20;

export function streamKey(secret: Uint8Array, label: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, SALT, Buffer.from(label, 'utf8'), 32));
}

/**
 * An endless keystream of 32-bit words for (secret, label), in chunks of `chunkBytes` (a multiple of 16; the
 * words are the same whatever the chunking, only how many are made at a time changes).
 */
export function* keystreamWords(secret: Uint8Array, label: string, chunkBytes = CHUNK): Generator<Uint32Array> {
  if (!(Number.isInteger(chunkBytes) && chunkBytes > 0 && chunkBytes % 16 === 0)) throw new RangeError(`keystream chunk must be a positive multiple of 16 bytes, got ${chunkBytes}`);
  const cipher = crypto.createCipheriv('aes-256-ctr', streamKey(secret, label), Buffer.alloc(16));
  const zeros = Buffer.alloc(chunkBytes);
  for (;;) {
    const bytes = cipher.update(zeros);
    yield new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
}

/** Keystream bytes per chunk for `count` normal samples: 1.5 words a sample, rounded up to 16 bytes, at most CHUNK. */
export function normalsChunkBytes(count: number): number {
  return Math.min(CHUNK, 16 * Math.ceil((6 * Math.max(1, count) + 64) / 16));
}

const INV_2_31 = 1 / 2147483648;

/**
 * `count` samples of N(0, std²) from the (secret, label) stream. The keystream is made in chunks of about what
 * `count` needs (the polar method keeps π/4 of the pairs: 1.27 words a sample; 1.5 asked, at most CHUNK): a
 * submission's noise (1,280 samples an image) used to encrypt a whole 1 MB chunk, 0.7 ms an image at batch 1 and
 * 2 MB of garbage that set off V8's external-memory collections. A chunk holds whole pairs, so the samples are the
 * same bits whatever its size (test/key.test.ts).
 */
export function deriveNormals(secret: Uint8Array, label: string, count: number, std = 1): Float32Array {
  const out = new Float32Array(count);
  let i = 0;
  for (const words of keystreamWords(secret, label, normalsChunkBytes(count))) {
    for (let w = 0; w + 1 < words.length && i < count; w += 2) {
      const u = words[w]! * INV_2_31 - 1;
      const v = words[w + 1]! * INV_2_31 - 1;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = Math.sqrt((-2 * Math.log(s)) / s) * std;
      out[i++] = u * f;
      if (i < count) out[i++] = v * f;
    }
    if (i >= count) break;
  }
  return out;
}
