/**
 * The traffic study's figures: the paper's section 5.1 figure (originals above their scrambled images, PNG) and the
 * PCA scatter of the cloud's answers for two labels (SVG). The study (security-traffic.ts) computes the data; this
 * file only draws it.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { describe, fail } from '../errors.js';
import { decodeRgb } from '../image/decode.js';
import { scatterChart } from '../analysis/charts.js';
import type { PcaScatter } from '../analysis/cloud-outputs.js';
import type { Sample } from '../types.js';

/** Write a file, creating its folder; a failure names the file. */
export function writeFile(file: string, data: string | Buffer): void {
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, data);
  } catch (e) {
    fail('OWSD_ERR_FILE', `cannot write ${file}: ${describe(e)}`, e);
  }
}

/** Section 5.1: originals (resized to 256 px) in the top row, their scrambled images below, 4 px white gaps. */
export async function writeSideBySide(file: string, samples: Sample[], scrambled: Uint8Array[]): Promise<void> {
  const S = 256;
  const gap = 4;
  const cols = samples.length;
  if (cols === 0 || scrambled.length !== cols) fail('OWSD_ERR_BAD_ARGUMENT', `side-by-side figure: ${cols} originals and ${scrambled.length} scrambled images`);
  const tiles: OverlayOptions[] = [];
  for (let c = 0; c < cols; c++) {
    const orig = await decodeRgb(samples[c]!.image, { resize: { size: S, fit: 'fill', kernel: 'cubic' } });
    tiles.push({ input: Buffer.from(orig.data), raw: { width: S, height: S, channels: 3 }, left: c * (S + gap), top: 0 });
    tiles.push({ input: Buffer.from(scrambled[c]!), raw: { width: S, height: S, channels: 3 }, left: c * (S + gap), top: S + gap });
  }
  const png = await sharp({ create: { width: cols * S + (cols - 1) * gap, height: 2 * S + gap, channels: 3, background: '#ffffff' } })
    .composite(tiles)
    .png({ compressionLevel: 9 })
    .toBuffer();
  writeFile(file, png);
}

/** The PCA scatter (SVG) of the cloud's answers on scrambled images of two labels. */
export function trafficPcaSvg(p: PcaScatter, names: [string, string], dataset: string, cloud: string): string {
  const share = (x: number): string => `${(x * 100).toFixed(1)}%`;
  return scatterChart({
    title: `Cloud answers on scrambled ${dataset} images (${cloud}), PCA`,
    xLabel: `PC 1 (${share(p.explained[0])} of variance)`,
    yLabel: `PC 2 (${share(p.explained[1])})`,
    groups: p.groups.map((g, i) => ({ name: names[i]!, points: g.points })),
  });
}
