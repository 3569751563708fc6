/** 8-bit RGB pixels → PNG bytes, deterministically (no metadata, fixed zlib settings). */
import zlib from 'node:zlib';

/**
 * zlib level 0 (stored blocks), no filtering, no palette: lossless, and the fastest choice measured for scrambled
 * images, which are noise to zlib. On 20 real scrambled 256 px images (bench/latency.ts; docs/performance-wire.md)
 * level 0 gave 197,266 bytes (the raw pixels plus 0.3%) in 1.5-1.8 ms, level 1 (the old setting) 207,973 bytes
 * (raw plus 5.8%: its Huffman coding of incompressible bytes costs more than it saves) in 3.4-3.8 ms; levels 3-9
 * were 0.25% smaller than level 0 for 3-5 times its time, and adaptive filtering only added bytes and time.
 * These are sharp's names for the settings; bench/latency.ts compares them with sharp.
 */
export const PNG_OPTIONS: { compressionLevel: number; adaptiveFiltering: boolean; palette: false } = { compressionLevel: 0, adaptiveFiltering: false, palette: false };

/*
 * With those settings a PNG is only framing around the pixels: the 8-byte signature, an IHDR chunk, one IDAT chunk
 * holding zlib's stored deflate stream of the rows (each row led by filter byte 0), and IEND; node's zlib does the
 * deflate. Written here because sharp's per-call overhead dominated at the default 96 px: one image took 0.96 ms
 * through sharp, 0.31 ms through fast-png (pure JS; 1.87 ms at 256 px, slower than sharp) and 0.18 ms this way
 * (0.61 ms at 256 px against sharp's 1.10), 2026-12-03, 300 images each, load 1.3 (the pixels are the same after
 * a decode: test/scrambler.test.ts "scrambled PNGs ..." and "the PNG writer ...").
 */
export const PNG_SIGNATURE = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);

/** The CRC-32 PNG chunks carry (ISO 3309 polynomial, reflected), by table: node's own zlib.crc32 (20.15 and later) is used where present. */
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

export function crc32Table(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 255]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The CRC of a chunk: zlib's (native) where node has it, 7 µs for a 96 px image's IDAT against 40-50 µs by the
 * table in JavaScript (2026-12-03, load 6.7); the same number (test/scrambler.test.ts).
 */
const crc32: (bytes: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (bytes) => zlib.crc32(bytes) : crc32Table;

/** A PNG chunk: length, type, data, and the CRC of type + data (also how the tests craft PNGs). */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** One image of `size` x `size` RGB pixels (row-major, 3 bytes a pixel) as PNG bytes. */
export function encodePngSync(pixels: Uint8Array, size: number): Uint8Array {
  const row = size * 3;
  if (pixels.length !== row * size) throw new RangeError(`PNG: expected ${row * size} bytes of ${size}x${size} RGB pixels, got ${pixels.length}`);
  const rows = Buffer.alloc((row + 1) * size); // filter byte 0 (none) before each row
  for (let y = 0; y < size; y++) rows.set(pixels.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bits per sample
  header[9] = 2; // colour type: RGB; compression, filter method and interlace stay 0
  const png = Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', zlib.deflateSync(rows, { level: PNG_OPTIONS.compressionLevel })), pngChunk('IEND', new Uint8Array(0))]);
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

export async function encodePng(pixels: Uint8Array, size: number): Promise<Uint8Array> {
  return encodePngSync(pixels, size);
}

/** Split an [N,S,S,3] pixel batch and encode each image. */
export async function encodePngBatch(pixels: Uint8Array, n: number, size: number): Promise<Uint8Array[]> {
  const per = size * size * 3;
  return Array.from({ length: n }, (_, i) => encodePngSync(pixels.subarray(i * per, (i + 1) * per), size));
}
