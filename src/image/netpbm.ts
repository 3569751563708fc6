/**
 * Decoder for Netpbm images (P2/P5 greymaps, P3/P6 pixmaps), which GTSRB ships as `.ppm` and which sharp's
 * prebuilt libvips does not read. Samples wider than 8 bits (maxval > 255) are scaled to 0..255.
 */
import { fail } from '../errors.js';

export interface DecodedNetpbm {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Whether the bytes start like a Netpbm file this decoder reads (P2, P3, P5, P6). */
export function isNetpbm(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 && [0x32, 0x33, 0x35, 0x36].includes(bytes[1]);
}

/** Decode P2/P3/P5/P6 bytes to interleaved 8-bit samples. `name` is used in error messages. */
export function decodeNetpbm(bytes: Uint8Array, name = '<netpbm image>'): DecodedNetpbm {
  if (!isNetpbm(bytes)) fail('OWSD_ERR_IMAGE', `${name}: not a P2/P3/P5/P6 Netpbm image`);
  const magic = bytes[1];
  const binary = magic === 0x35 || magic === 0x36;
  const channels: 1 | 3 = magic === 0x33 || magic === 0x36 ? 3 : 1;
  let pos = 2;
  const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const readInt = (what: string): number => {
    for (;;) {
      while (pos < bytes.length && isSpace(bytes[pos])) pos++;
      if (bytes[pos] !== 0x23) break; // '#' comment to end of line
      while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
    }
    const start = pos;
    let v = 0;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) v = v * 10 + (bytes[pos++] - 0x30);
    if (pos === start) fail('OWSD_ERR_IMAGE', `${name}: Netpbm header is malformed (expected ${what} at byte ${start})`);
    return v;
  };
  const width = readInt('width');
  const height = readInt('height');
  const maxval = readInt('maxval');
  if (width < 1 || height < 1 || maxval < 1 || maxval > 65535) {
    fail('OWSD_ERR_IMAGE', `${name}: Netpbm header has width ${width}, height ${height}, maxval ${maxval}`);
  }
  const count = width * height * channels;
  const wide = binary && maxval > 255 ? 2 : 1;
  if (binary) pos++; // exactly one whitespace byte after maxval
  // Checked before allocating: a header must not make us allocate more than the file could hold.
  const need = binary ? count * wide : count * 2 - 1;
  if (bytes.length - pos < need) {
    fail('OWSD_ERR_IMAGE', `${name}: Netpbm data is truncated (${bytes.length - pos} bytes after the header, ${width}x${height}x${channels} samples expected)`);
  }
  const data = new Uint8Array(count);
  const scale = (v: number): number => (maxval === 255 ? v : Math.round((Math.min(v, maxval) * 255) / maxval));
  if (binary && maxval === 255) {
    data.set(bytes.subarray(pos, pos + count));
  } else if (binary) {
    for (let i = 0; i < count; i++) data[i] = scale(wide === 2 ? (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1] : bytes[pos + i]);
  } else {
    for (let i = 0; i < count; i++) data[i] = scale(readInt(`sample ${i}`));
  }
  return { data, width, height, channels };
}
