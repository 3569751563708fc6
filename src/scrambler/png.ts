/** 8-bit RGB pixels → PNG bytes, deterministically (no metadata, fixed zlib settings). */
import sharp from 'sharp';

/** zlib level 1: scrambled images are noise and barely compress, so higher levels only cost time. */
const PNG_OPTIONS = { compressionLevel: 1, adaptiveFiltering: false, palette: false } as const;

export async function encodePng(pixels: Uint8Array, size: number): Promise<Uint8Array> {
  const buf = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).png(PNG_OPTIONS).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Split an [N,S,S,3] pixel batch and encode each image concurrently. */
export async function encodePngBatch(pixels: Uint8Array, n: number, size: number): Promise<Uint8Array[]> {
  const per = size * size * 3;
  return Promise.all(Array.from({ length: n }, (_, i) => encodePng(pixels.subarray(i * per, (i + 1) * per), size)));
}

