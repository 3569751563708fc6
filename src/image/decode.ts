/**
 * Decode the image formats owsd accepts (SUPPORTED_FORMATS: JPEG, PNG, WebP, GIF, TIFF, AVIF, and PPM/PGM through
 * our own netpbm.ts; grey, CMYK, alpha, 16-bit) into 8-bit interleaved RGB, optionally resized. Every failure names
 * the image.
 *
 * Every entry point that reads an image goes through `decodeRgb`, and images are hostile (issue 16), so before any
 * pixel is decoded:
 * - the format is sniffed from the first bytes and everything outside SUPPORTED_FORMATS is refused (SVG rendered for
 *   minutes and could include files from its folder; HEIC gets a message naming the fix). A file is read once into
 *   memory and those same bytes are sniffed and decoded, so it cannot be swapped between the check and the decode;
 * - the header is read, and images over the pixel limit or thinner than MAX_ASPECT_RATIO:1 are refused (a 1x5000 PNG
 *   resized to 256 wide became 256x1,280,000: 13-17 s and +0.8 GB). Inside the limits, a resize's output is bounded
 *   by size x size*MAX_ASPECT_RATIO;
 * - libvips is stopped after `deadlineMs` of work, only the first page of a multi-page TIFF or GIF is read, and an
 *   AbortSignal makes the call reject at once.
 * Pixels of images inside the limits are byte-identical to what this module decoded before these checks.
 */
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { describe, fail, OwsdError } from '../errors.js';
import { imageName, type ImageInput } from '../types.js';
import { decodeNetpbm, isNetpbm } from './netpbm.js';
import fs from 'node:fs/promises';

/** Decompression-bomb guard: images with more pixels than this are refused (default 40 megapixels). */
export const MAX_INPUT_PIXELS = 40_000_000;

/**
 * The image formats owsd reads, in the words docs and errors use. Anything else is refused before decoding.
 * PPM/PGM (binary or plain P6/P3/P5/P2, GTSRB's format) are decoded by src/image/netpbm.ts, the rest by sharp.
 */
export const SUPPORTED_FORMATS = ['JPEG', 'PNG', 'WebP', 'GIF', 'TIFF', 'AVIF', 'PPM/PGM'] as const;

/** One of SUPPORTED_FORMATS, as `sniffImageFormat` names it. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'netpbm';

/**
 * Images whose long side is more than this many times their short side are refused. Phone panoramas are about 4:1
 * to 10:1; 20:1 leaves room for those and for strips, and bounds the resize for a 224-pixel model at 224 x 4,480
 * (3 MB) where a 1x5000 image would have asked for 224 x 1,120,000.
 */
export const MAX_ASPECT_RATIO = 20;

/**
 * Default decode deadline: libvips stops working on an image after this long (sharp's `timeout`, whole seconds,
 * counted from when libvips opens the image; time waiting for a libuv thread is not counted).
 */
export const DEFAULT_DECODE_DEADLINE_MS = 10_000;

/** "JPEG, PNG, WebP, GIF, TIFF, AVIF or PPM/PGM" */
export const SUPPORTED_FORMATS_TEXT = `${SUPPORTED_FORMATS.slice(0, -1).join(', ')} or ${SUPPORTED_FORMATS.at(-1)}`;

export interface RgbImage {
  /** Interleaved RGB, row-major, 3 bytes a pixel. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Resize: 'outside' makes the shorter side `size`; 'fill' makes the image exactly size x size. */
  resize?: { size: number; fit: 'outside' | 'fill'; kernel?: 'linear' | 'cubic' | 'lanczos3' | 'nearest' };
  /** Images with more pixels are refused (default MAX_INPUT_PIXELS). */
  maxPixels?: number;
  /** libvips stops after this many ms of work on the image, rounded up to whole seconds (default DEFAULT_DECODE_DEADLINE_MS). */
  deadlineMs?: number;
  /** Refuse to start if aborted; reject at once (OWSD_ERR_CANCELLED) if aborted while decoding. */
  signal?: AbortSignal;
}

/** What the first bytes say: an accepted format, or why the input is refused. */
export type SniffResult = { format: ImageFormat } | { format: null; refused: string };

const ascii = (bytes: Uint8Array, start: number, end: number): string => String.fromCharCode(...bytes.subarray(start, end));
const startsWith = (bytes: Uint8Array, sig: number[], at = 0): boolean => bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);

const HEVC_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'hevm', 'hevs', 'mif1', 'msf1', 'mif2', 'miaf']);
const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_FIX = 'convert it to JPEG first (on an iPhone: Settings > Camera > Formats > Most Compatible; on a Mac: sips -s format jpeg IN.heic --out OUT.jpg)';

/**
 * The format of an image from its first bytes (the first 4 KB are enough), without decoding anything.
 * ISO-BMFF files are told apart by their `ftyp` brands: AVIF is accepted, HEIC/HEIF (iPhone photos) is refused
 * with the fix, anything else in that container (MP4 video) is refused.
 */
export function sniffImageFormat(bytes: Uint8Array): SniffResult {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return { format: 'jpeg' };
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { format: 'png' };
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return { format: 'gif' };
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return { format: 'webp' };
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) {
    return { format: 'tiff' };
  }
  if (isNetpbm(bytes)) return { format: 'netpbm' };
  if (bytes.length >= 12 && ascii(bytes, 4, 8) === 'ftyp') {
    const size = Math.min(bytes.length, Math.max(16, ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0), 4096);
    const major = ascii(bytes, 8, 12).replace(/[^\x20-\x7e]/g, '?');
    const compatible: string[] = [];
    for (let i = 16; i + 4 <= size; i += 4) compatible.push(ascii(bytes, i, i + 4));
    const brands = [major, ...compatible];
    // AVIF when its major brand says so, or when it is compatible with AVIF and claims no HEVC brand but the generic ones.
    if (AVIF_BRANDS.has(major)) return { format: 'avif' };
    const hevc = brands.filter((b) => HEVC_BRANDS.has(b) && !['mif1', 'msf1', 'mif2', 'miaf'].includes(b));
    if (brands.some((b) => AVIF_BRANDS.has(b)) && hevc.length === 0) return { format: 'avif' };
    if (brands.some((b) => HEVC_BRANDS.has(b))) {
      return { format: null, refused: `HEIC/HEIF (ftyp brand '${major}', the format iPhones save photos in) is not accepted; ${HEIC_FIX}` };
    }
    return { format: null, refused: `ISO media file with ftyp brand '${major}' (a video?) is not an image format owsd reads` };
  }
  // Text formats: SVG or other XML, possibly after a BOM and whitespace.
  let i = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (i < bytes.length && i < 4096 && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] === 0x3c /* < */) {
    const head = ascii(bytes, i, Math.min(bytes.length, i + 4096)).toLowerCase();
    const what = head.includes('<svg') ? 'SVG' : 'XML/HTML text';
    return { format: null, refused: `${what} is not accepted (rendering SVG can take minutes and read files beside it); convert it to PNG` };
  }
  const named: Array<[string, boolean]> = [
    ['PDF', ascii(bytes, 0, 5) === '%PDF-'],
    ['BMP', ascii(bytes, 0, 2) === 'BM' && bytes.length >= 26 && bytes[6] === 0 && bytes[7] === 0 && bytes[8] === 0 && bytes[9] === 0],
    ['JPEG XL', startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])],
    ['JPEG 2000', startsWith(bytes, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20])],
    ['PBM/PAM (Netpbm bitmap)', bytes[0] === 0x50 && [0x31, 0x34, 0x37].includes(bytes[1]!)],
    ['Photoshop PSD', ascii(bytes, 0, 4) === '8BPS'],
    ['ICO', startsWith(bytes, [0, 0, 1, 0])],
    ['libvips .v', startsWith(bytes, [0x08, 0xf2, 0xa6, 0xb6]) || startsWith(bytes, [0xb6, 0xa6, 0xf2, 0x08])],
  ];
  const hit = named.find(([, is]) => is);
  if (hit) return { format: null, refused: `${hit[0]} is not an image format owsd reads; convert it to PNG or JPEG` };
  return { format: null, refused: 'not an image format owsd can read' };
}

/** Refuse dimensions over the pixel limit or the aspect limit, naming the image; cheap (header only). */
export function checkDimensions(name: string, width: number, height: number, maxPixels = MAX_INPUT_PIXELS): void {
  if (!(width >= 1 && height >= 1)) fail('OWSD_ERR_IMAGE', `${name}: cannot decode image: header gives ${width}x${height} pixels`);
  if (width * height > maxPixels) {
    fail('OWSD_ERR_IMAGE', `${name}: cannot decode image: ${width}x${height} is larger than the ${maxPixels / 1e6} megapixel limit (a decompression bomb?)`);
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio > MAX_ASPECT_RATIO) {
    fail('OWSD_ERR_IMAGE', `${name}: cannot decode image: ${width}x${height} is ${ratio >= 100 ? Math.round(ratio) : +ratio.toFixed(2)}:1, over the ${MAX_ASPECT_RATIO}:1 aspect-ratio limit (crop or pad it)`);
  }
}

function sharpOptions(maxPixels: number): SharpOptions {
  // First page of multi-page TIFF/GIF only; libpng's and librsvg's memory limits kept (unlimited: false).
  return { limitInputPixels: maxPixels, failOn: 'error', pages: 1, page: 0, unlimited: false };
}

function explain(e: unknown, maxPixels: number): string {
  const m = describe(e);
  if (/pixel limit/i.test(m)) return `image is larger than the ${maxPixels / 1e6} megapixel limit (a decompression bomb?)`;
  if (/unsupported image format/i.test(m)) return `not an image format owsd can read (expected ${SUPPORTED_FORMATS_TEXT})`;
  if (/ENOENT|no such file|input file is missing/i.test(m)) return 'file not found';
  if (/corrupt header/i.test(m)) return 'the header is corrupt or truncated';
  return m;
}

function cancelled(name: string, signal: AbortSignal): OwsdError {
  const why = signal.reason instanceof Error ? `: ${describe(signal.reason)}` : typeof signal.reason === 'string' ? `: ${signal.reason}` : '';
  return new OwsdError('OWSD_ERR_CANCELLED', `${name}: decoding cancelled${why}`);
}

/** Read a file input into memory (one read: what is sniffed is what is decoded). */
async function bytesOf(input: ImageInput & { kind: 'file' | 'encoded' }, maxPixels: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (input.kind === 'encoded') return input.bytes;
  try {
    return await fs.readFile(input.path, { signal });
  } catch (e) {
    if (signal?.aborted) throw cancelled(input.path, signal);
    return fail('OWSD_ERR_IMAGE', `${input.path}: cannot read image: ${explain(e, maxPixels)}`, e);
  }
}

/** Sniff, check the header and decode; `decodeRgb` adds the deadline's error and cancellation. */
async function decode(input: ImageInput, opts: DecodeOptions, maxPixels: number, seconds: number): Promise<RgbImage> {
  const name = imageName(input);
  let source: { raw: ImageInput & { kind: 'raw' } } | { bytes: Uint8Array };
  if (input.kind === 'raw') {
    source = { raw: input };
  } else {
    const bytes = await bytesOf(input, maxPixels, opts.signal);
    if (bytes.length === 0) fail('OWSD_ERR_IMAGE', `${name}: empty image (0 bytes)`);
    const sniffed = sniffImageFormat(bytes.subarray(0, 4096));
    if (sniffed.format === null) fail('OWSD_ERR_IMAGE', `${name}: cannot decode image: ${sniffed.refused} (expected ${SUPPORTED_FORMATS_TEXT})`);
    if (sniffed.format === 'netpbm') {
      // decodeNetpbm allocates no more than the file holds; the limits are checked before libvips sees the pixels.
      const img = decodeNetpbm(bytes, name);
      source = { raw: { kind: 'raw', data: img.data, width: img.width, height: img.height, channels: img.channels, name } };
    } else {
      source = { bytes };
    }
  }
  if ('raw' in source) {
    const r = source.raw;
    checkDimensions(name, r.width, r.height, maxPixels);
    if (r.channels === 3 && !opts.resize) return { data: r.data, width: r.width, height: r.height };
    if (r.channels === 3 && opts.resize?.fit === 'fill' && r.width === opts.resize.size && r.height === opts.resize.size) {
      return { data: r.data, width: r.width, height: r.height };
    }
  }
  try {
    let img: Sharp;
    if ('raw' in source) {
      const r = source.raw;
      img = sharp(r.data, { ...sharpOptions(maxPixels), raw: { width: r.width, height: r.height, channels: r.channels } });
    } else {
      // The header only: width and height of the first page, before any pixel is decoded.
      // No pixel limit here, so that the refusal below can name the dimensions; metadata() decodes no pixels.
      const meta = await sharp(source.bytes, { ...sharpOptions(maxPixels), limitInputPixels: false }).metadata();
      checkDimensions(name, meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0, maxPixels);
      img = sharp(source.bytes, sharpOptions(maxPixels));
    }
    img = img.timeout({ seconds }).rotate().flatten({ background: '#000000' }).toColourspace('srgb');
    if (opts.resize) {
      const { size, fit, kernel } = opts.resize;
      img = img.resize({ width: size, height: size, fit, kernel: kernel ?? 'linear' });
    }
    const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return fail('OWSD_ERR_IMAGE', `${name}: decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('OWSD_ERR')) throw e;
    if (/timeout/i.test(describe(e))) {
      return fail('OWSD_ERR_IMAGE_TIMEOUT', `${name}: cannot decode image: decoding took longer than its ${seconds} s deadline (too complex an image, or too busy a machine)`, e);
    }
    return fail('OWSD_ERR_IMAGE', `${name}: cannot decode image: ${explain(e, maxPixels)}`, e);
  }
}

/**
 * Decode an image into 8-bit RGB, refusing (OWSD_ERR_IMAGE, naming the image) formats outside SUPPORTED_FORMATS,
 * images over `maxPixels` or MAX_ASPECT_RATIO, and unreadable data; OWSD_ERR_IMAGE_TIMEOUT past the deadline;
 * OWSD_ERR_CANCELLED when `signal` is (or becomes) aborted.
 */
export async function decodeRgb(input: ImageInput, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = imageName(input);
  const maxPixels = opts.maxPixels ?? MAX_INPUT_PIXELS;
  const deadlineMs = opts.deadlineMs ?? DEFAULT_DECODE_DEADLINE_MS;
  if (!(deadlineMs > 0) || deadlineMs > 3_600_000) fail('OWSD_ERR_BAD_ARGUMENT', `decode deadline must be between 1 ms and 1 hour, got ${deadlineMs} ms (for ${name})`);
  const { signal } = opts;
  if (signal?.aborted) throw cancelled(name, signal);
  const work = decode(input, opts, maxPixels, Math.ceil(deadlineMs / 1000));
  if (!signal) return work;
  // libvips cannot be interrupted from here; the caller is answered at once and the work ends by its deadline.
  work.catch(() => {});
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(cancelled(name, signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
