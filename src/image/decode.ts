/**
 * Decode any image sharp reads (JPEG, PNG, WebP, GIF, TIFF, PPM, ...; grey, CMYK, alpha, 16-bit) into 8-bit
 * interleaved RGB, optionally resized. Every failure names the image.
 */
import sharp, { type Sharp } from 'sharp';
import { describe, fail } from '../errors.js';
import { imageName, type ImageInput } from '../types.js';
import { decodeNetpbm, isNetpbm } from './netpbm.js';
import fs from 'node:fs/promises';

/** Decompression-bomb guard: images with more pixels than this are refused (default 40 megapixels). */
export const MAX_INPUT_PIXELS = 40_000_000;

export interface RgbImage {
  /** Interleaved RGB, row-major, 3 bytes a pixel. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Resize: 'outside' makes the shorter side `size`; 'fill' makes the image exactly size x size. */
  resize?: { size: number; fit: 'outside' | 'fill'; kernel?: 'linear' | 'cubic' | 'lanczos3' | 'nearest' };
  maxPixels?: number;
  /** Give up on this image after this long (implemented with the decode-deadline change; accepted here in the type only). */
  deadlineMs?: number;
  /** Stop working on this image when aborted (implemented with the decode-deadline change; accepted here in the type only). */
  signal?: AbortSignal;
}

function open(input: ImageInput, maxPixels: number): Sharp {
  const opts = { limitInputPixels: maxPixels, failOn: 'error' as const };
  switch (input.kind) {
    case 'file':
      return sharp(input.path, opts);
    case 'encoded':
      return sharp(input.bytes, opts);
    case 'raw':
      return sharp(input.data, { ...opts, raw: { width: input.width, height: input.height, channels: input.channels } });
  }
}

function explain(e: unknown): string {
  const m = describe(e);
  if (/pixel limit/i.test(m)) return `image is larger than the ${MAX_INPUT_PIXELS / 1e6} megapixel limit (a decompression bomb?)`;
  if (/unsupported image format/i.test(m)) return 'not an image format owsd can read (expected JPEG, PNG, WebP, GIF, TIFF, AVIF or PPM)';
  if (/ENOENT|no such file|input file is missing/i.test(m)) return 'file not found';
  return m;
}

/** sharp cannot read PPM/PGM (GTSRB's format): decode those ourselves into a raw input. */
async function netpbmToRaw(input: ImageInput): Promise<ImageInput> {
  if (input.kind === 'raw') return input;
  if (input.kind === 'file' && !/\.(ppm|pgm|pnm|pbm)$/i.test(input.path)) return input;
  let bytes: Uint8Array;
  if (input.kind === 'file') {
    try {
      bytes = await fs.readFile(input.path);
    } catch (e) {
      return fail('OWSD_ERR_IMAGE', `${input.path}: cannot read image: ${explain(e)}`, e);
    }
  } else bytes = input.bytes;
  if (!isNetpbm(bytes)) return input;
  const img = decodeNetpbm(bytes, imageName(input));
  return { kind: 'raw', data: img.data, width: img.width, height: img.height, channels: img.channels, name: imageName(input) };
}

export async function decodeRgb(input: ImageInput, opts: DecodeOptions = {}): Promise<RgbImage> {
  input = await netpbmToRaw(input);
  if (input.kind === 'raw' && input.channels === 3 && !opts.resize) {
    return { data: input.data, width: input.width, height: input.height };
  }
  if (input.kind === 'raw' && input.channels === 3 && opts.resize?.fit === 'fill' && input.width === opts.resize.size && input.height === opts.resize.size) {
    return { data: input.data, width: input.width, height: input.height };
  }
  if (input.kind === 'encoded' && input.bytes.length === 0) fail('OWSD_ERR_IMAGE', `${imageName(input)}: empty image (0 bytes)`);
  try {
    let img = open(input, opts.maxPixels ?? MAX_INPUT_PIXELS).rotate().flatten({ background: '#000000' }).toColourspace('srgb');
    if (opts.resize) {
      const { size, fit, kernel } = opts.resize;
      img = img.resize({ width: size, height: size, fit, kernel: kernel ?? 'linear' });
    }
    const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return fail('OWSD_ERR_IMAGE', `${imageName(input)}: decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('OWSD_ERR')) throw e;
    return fail('OWSD_ERR_IMAGE', `${imageName(input)}: cannot decode image: ${explain(e)}`, e);
  }
}
