/** 8-bit RGB pixels → PNG bytes, deterministically (no metadata, fixed zlib settings). */
import sharp from 'sharp';

/**
 * zlib level 0 (stored blocks), no filtering, no palette: lossless, and the fastest choice measured for scrambled
 * images, which are noise to zlib. On 20 real scrambled 256 px images (bench/latency.ts; docs/performance-wire.md)
 * level 0 gave 197,266 bytes (the raw pixels plus 0.3%) in 1.5-1.8 ms, level 1 (the old setting) 207,973 bytes
 * (raw plus 5.8%: its Huffman coding of incompressible bytes costs more than it saves) in 3.4-3.8 ms; levels 3-9
 * were 0.25% smaller than level 0 for 3-5 times its time, and adaptive filtering only added bytes and time.
 * `effort` is not used: in sharp it turns the palette (lossy quantisation) on.
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

