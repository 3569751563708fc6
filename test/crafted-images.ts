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
  // Nested <use> (5 levels of 10): 1.7 KB that renders 100,000 shapes, seconds of decoding.
  let defs = '<g id="a0"><rect width="10" height="10" fill="#c33" opacity="0.5"/></g>';
  for (let l = 1; l <= 5; l++) defs += `<g id="a${l}">${Array.from({ length: 10 }, (_, k) => `<use href="#a${l - 1}" x="${k}" y="${k % 3}"/>`).join('')}</g>`;
  const nested = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="1000"><defs>${defs}</defs><use href="#a5"/></svg>`);
  return [
    { name: 'nested-use.svg', bytes: new Uint8Array(nested), why: 'an SVG whose nested <use> elements render 100,000 shapes (seconds per image)' },
    { name: 'thin-1x5000.png', bytes: new Uint8Array(thin), why: 'a 1x5000 PNG: resized for the model, its long side explodes' },
    { name: 'tiny.svg', bytes: new Uint8Array(svg), why: 'an SVG (no document lists SVG), rendered at 4000x4000' },
    { name: 'random.bin', bytes: random, why: '4 KB of random bytes' },
    { name: 'truncated.jpg', bytes: new Uint8Array(jpeg.subarray(0, Math.floor(jpeg.length / 2))), why: 'a JPEG cut in half' },
  ];
}
