/**
 * STUB of the crafted-image corpus (issue 16): a few generated hostile inputs so that the gateway's fairness test
 * runs now. The full corpus (thin and tall images, bombs, SVG variants, multi-page TIFF and GIF, HEIC, truncated and
 * random files) is written by the image-hardening change and replaces this file at merge, with the same API.
 */
import sharp from 'sharp';
import { createRng } from '../src/internal/random.js';

export interface CraftedImage {
  name: string;
  bytes: Uint8Array;
  why: string;
}

export async function craftedCorpus(): Promise<CraftedImage[]> {
  const thin = await sharp({ create: { width: 1, height: 5000, channels: 3, background: '#808080' } }).png().toBuffer();
  const rng = createRng(16);
  const random = new Uint8Array(4096).map(() => rng.int(256));
  const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366aa' } }).jpeg({ quality: 90 }).toBuffer();
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><rect width="4000" height="4000" fill="#c33"/></svg>');
  return [
    { name: 'thin-1x5000.png', bytes: new Uint8Array(thin), why: 'a 1x5000 PNG: resized for the model, its long side explodes' },
    { name: 'tiny.svg', bytes: new Uint8Array(svg), why: 'an SVG (no document lists SVG), rendered at 4000x4000' },
    { name: 'random.bin', bytes: random, why: '4 KB of random bytes' },
    { name: 'truncated.jpg', bytes: new Uint8Array(jpeg.subarray(0, Math.floor(jpeg.length / 2))), why: 'a JPEG cut in half' },
  ];
}
