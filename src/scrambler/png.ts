/** 8-bit RGB pixels → PNG bytes, deterministically (no metadata, fixed zlib settings). */
import sharp from 'sharp';

/**
 * zlib level 0 (stored blocks), no filtering, no palette: lossless, and the fastest and smallest choice measured
 * for scrambled images, which are noise to zlib. On 20 real scrambled 256 px images (bench/latency.ts, table in
 * docs/performance-wire.md) level 0 gave the raw pixels plus 0.3% at about half level 1's encode time, where
 * level 1 gave raw plus 5.8% (its Huffman coding of incompressible bytes costs more than it saves); levels 3-9 and
 * adaptive filtering saved at most 0.3% more for 2-4 times the time. `effort` is not used: in sharp it turns the
 * palette (lossy quantisation) on.
 */
export const PNG_OPTIONS: { compressionLevel: number; adaptiveFiltering: boolean; palette: false } = { compressionLevel: 0, adaptiveFiltering: false, palette: false };

export async function encodePng(pixels: Uint8Array, size: number): Promise<Uint8Array> {
  const buf = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png(PNG_OPTIONS).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Split an [N,S,S,3] pixel batch and encode each image concurrently. */
export async function encodePngBatch(pixels: Uint8Array, n: number, size: number): Promise<Uint8Array[]> {
  const per = size * size * 3;
  return Promise.all(Array.from({ length: n }, (_, i) => encodePng(pixels.subarray(i * per, (i + 1) * per), size)));
}

