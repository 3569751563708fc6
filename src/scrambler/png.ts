/** 8-bit RGB pixels → PNG bytes, deterministically (no metadata, stored deflate blocks). */
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
 * holding a zlib stream of stored deflate blocks of the rows (each row led by filter byte 0), and IEND. Written here because sharp's per-call overhead dominated at the default 96 px: one image took 0.96 ms
 * through sharp, 0.31 ms through fast-png (pure JS; 1.87 ms at 256 px, slower than sharp) and 0.18 ms this way
 * (0.61 ms at 256 px against sharp's 1.10), 2026-12-03, 300 images each, load 1.3 (the pixels are the same after
 * a decode: test/scrambler.test.ts "scrambled PNGs ..." and "the PNG writer ...").
 *
 * The stored blocks are written here too (`storedZlib`) rather than by zlib.deflateSync at level 0: for stored
 * blocks zlib only frames the bytes, but each call first sets up a compressor (about 256 KB of window and hash
 * tables, counted as external memory, which brings V8's collections forward). Right after an encoder run, as in the
 * client path, a 96 px PNG took 0.128 ms median (mean 0.192) through deflateSync and 0.060 (mean 0.079) this way
 * (1,010 images each, interleaved, 2026-12-03 07:11 UTC, load 6.2); zlib inflates the stream back to the rows and
 * sharp decodes the PNG to the same pixels (test/scrambler.test.ts "the PNG writer ...").
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

/** The most bytes a stored deflate block holds (its LEN field is 16 bits). */
const STORED_BLOCK = 65_535;

/**
 * `data` as a zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, BTYPE 00): the 2-byte header (deflate,
 * 32 KB window, no dictionary, "fastest" level), blocks of at most 65,535 bytes each led by BFINAL/BTYPE, LEN and
 * NLEN, and the Adler-32 of the data.
 */
export function storedZlib(data: Uint8Array): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / STORED_BLOCK));
  const out = Buffer.allocUnsafe(2 + 5 * blocks + data.length + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * STORED_BLOCK;
    const len = Math.min(STORED_BLOCK, data.length - start);
    out[o] = b === blocks - 1 ? 1 : 0;
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    out.set(data.subarray(start, start + len), o + 5);
    o += 5 + len;
  }
  // Adler-32, reduced every 5,552 bytes (the most before the sums can pass 2^32, as zlib does).
  let a = 1;
  let c = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i]!;
      c += a;
    }
    a %= 65521;
    c %= 65521;
  }
  out.writeUInt32BE(((c << 16) | a) >>> 0, o);
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
  const png = Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', storedZlib(rows)), pngChunk('IEND', new Uint8Array(0))]);
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
