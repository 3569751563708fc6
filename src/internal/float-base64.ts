/** float32 arrays as base64 of their little-endian bytes (bundles, the answer journal): the same on every machine. */

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export function float32ToBase64(a: Float32Array): string {
  const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return bytes.toString('base64');
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy.toString('base64');
}

/**
 * Decode `n` floats (or as many as the bytes hold when n is omitted). On a length mismatch, returns a short
 * description of what was found instead (for the caller's error message).
 */
export function base64ToFloat32(s: string, n?: number): Float32Array | string {
  const bytes = Buffer.from(s, 'base64');
  if (n === undefined ? bytes.length % 4 !== 0 : bytes.length !== 4 * n) return `${bytes.length} bytes`;
  if (!LITTLE_ENDIAN) bytes.swap32();
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
