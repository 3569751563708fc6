/**
 * The inversion study's figures: the grid of reconstructions (PNG: originals, scrambled images as sent and pooled,
 * reconstructions at the smallest and largest N, the surrogate generator's outputs) and the PSNR and
 * re-identification charts (PNG). The study (security-inversion.ts) computes the data; this file only draws it.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { escapeXml, lineChart, svgToPng, type Series } from '../analysis/charts.js';
import { INPUT_SIDE, ORIGINAL_SIDE, SCRAMBLED_SIDE, SURROGATE_SIDE } from './inversion-pairs.js';

/** The regressor variants the study fits (linear ridge, ridge on random ReLU features). */
export type Variant = 'linear' | 'random-features';

/** The figure's reconstruction rows, filled as the study runs (first FIGURE_IMAGES test images each). */
export interface FigureRows {
  low?: Float32Array;
  high?: Float32Array;
  surrogate?: Float32Array;
  mean?: Float32Array;
  /** The mean training scrambled image at 64 px (what every scrambled image mostly is). */
  meanScrambled?: Float32Array;
}

const TILE = 128;
const GAP = 6;
const LABEL_W = 330;
const HEADER = 34;

function paste(canvas: Uint8Array, width: number, x0: number, y0: number, src: ArrayLike<number>, side: number, scale255: boolean): void {
  for (let y = 0; y < TILE; y++) {
    for (let x = 0; x < TILE; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      if (side <= TILE) {
        const p = (Math.floor((y * side) / TILE) * side + Math.floor((x * side) / TILE)) * 3;
        r = src[p]!;
        g = src[p + 1]!;
        b = src[p + 2]!;
      } else {
        const f = side / TILE;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) {
            const p = ((y * f + dy) * side + x * f + dx) * 3;
            r += src[p]!;
            g += src[p + 1]!;
            b += src[p + 2]!;
          }
        }
        r /= f * f;
        g /= f * f;
        b /= f * f;
      }
      const k = scale255 ? 255 : 1;
      const o = ((y0 + y) * width + x0 + x) * 3;
      canvas[o] = Math.max(0, Math.min(255, Math.round(r * k)));
      canvas[o + 1] = Math.max(0, Math.min(255, Math.round(g * k)));
      canvas[o + 2] = Math.max(0, Math.min(255, Math.round(b * k)));
    }
  }
}

export interface InversionFigureData {
  dataset: string;
  originals: Float32Array;
  full: Uint8Array[];
  s32: Float32Array;
  s64: Float32Array;
  rows: FigureRows;
  nLow: number;
  nHigh: number;
  best: Variant;
  bestSurrogate: Variant;
  count: number;
  testIds: string[];
}

/** Draw the reconstruction grid into `file` (PNG); returns its path, row labels and the test images shown. */
export async function writeInversionFigure(file: string, f: InversionFigureData): Promise<{ path: string; rows: string[]; testIds: string[] }> {
  const o = ORIGINAL_SIDE * ORIGINAL_SIDE * 3;
  const s = SURROGATE_SIDE * SURROGATE_SIDE * 3;
  const i32 = INPUT_SIDE * INPUT_SIDE * 3;
  const full = SCRAMBLED_SIDE * SCRAMBLED_SIDE * 3;
  // What is specific to each input: the deviation from the mean scrambled image, contrast-stretched so that three
  // standard deviations of the real images' deviations fill the range.
  const meanS = f.rows.meanScrambled ?? new Float32Array(s);
  let ss = 0;
  for (let i = 0; i < f.count * s; i++) ss += (f.s64[i]! - meanS[i % s]!) ** 2;
  const gain = 0.5 / (3 * Math.sqrt(ss / Math.max(1, f.count * s)) || 1);
  const stretch = (x: Float32Array): Float32Array => Float32Array.from(x, (v, j) => 0.5 + (v - meanS[j]!) * gain);
  const rows: Array<{ label: string; side: number; bytes: boolean; get: (i: number) => ArrayLike<number> | undefined }> = [
    { label: `original (${ORIGINAL_SIDE} px, the target)`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.originals.subarray(i * o, (i + 1) * o) },
    { label: `scrambled, as sent (${SCRAMBLED_SIDE} px)`, side: SCRAMBLED_SIDE, bytes: true, get: (i) => f.full[i]?.subarray(0, full) },
    { label: `scrambled, pooled to ${INPUT_SIDE} px (inverter input)`, side: INPUT_SIDE, bytes: false, get: (i) => f.s32.subarray(i * i32, (i + 1) * i32) },
    { label: `reconstruction, N=${f.nLow} (${f.best})`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.rows.low?.subarray(i * o, (i + 1) * o) },
    { label: `reconstruction, N=${f.nHigh} (${f.best})`, side: ORIGINAL_SIDE, bytes: false, get: (i) => f.rows.high?.subarray(i * o, (i + 1) * o) },
    { label: 'mean training image (trivial guess)', side: ORIGINAL_SIDE, bytes: false, get: () => f.rows.mean },
    { label: `scrambled, pooled to ${SURROGATE_SIDE} px`, side: SURROGATE_SIDE, bytes: false, get: (i) => f.s64.subarray(i * s, (i + 1) * s) },
    { label: `the same minus their mean (x${gain.toFixed(0)})`, side: SURROGATE_SIDE, bytes: false, get: (i) => stretch(f.s64.subarray(i * s, (i + 1) * s)) },
    { label: `surrogate, N=${f.nHigh}, minus the mean (x${gain.toFixed(0)})`, side: SURROGATE_SIDE, bytes: false, get: (i) => (f.rows.surrogate ? stretch(f.rows.surrogate.subarray(i * s, (i + 1) * s)) : undefined) },
  ];
  const width = LABEL_W + f.count * (TILE + GAP) + GAP;
  const height = HEADER + rows.length * (TILE + GAP) + GAP;
  const canvas = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) => {
    for (let i = 0; i < f.count; i++) {
      const src = row.get(i);
      if (src) paste(canvas, width, LABEL_W + i * (TILE + GAP), HEADER + r * (TILE + GAP), src, row.side, !row.bytes);
    }
  });
  const text = rows
    .map((row, r) => `<text x="10" y="${HEADER + r * (TILE + GAP) + TILE / 2 + 5}" font-family="sans-serif" font-size="14" fill="#222">${escapeXml(row.label)}</text>`)
    .join('');
  const title = `<text x="10" y="22" font-family="sans-serif" font-size="16" font-weight="bold" fill="#222">${escapeXml(`Known-plaintext inversion and key recovery on ${f.dataset}: unseen images`)}</text>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${title}${text}</svg>`;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await sharp(Buffer.from(canvas), { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), left: 0, top: 0 }])
    .png()
    .toFile(file);
  return { path: file, rows: rows.map((r) => r.label), testIds: f.testIds };
}

/** Draw the PSNR and re-identification curves (x = N) into `dir` as PNG charts; returns their paths. */
export async function writeInversionCharts(dir: string, dataset: string, curves: { psnr: Series[]; reid: Series[] }, pool: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const xTicks = [...new Set(curves.psnr[0]?.points.map((p) => p.x) ?? [])];
  const files: Array<[string, string]> = [
    [
      `inversion-${dataset}-psnr.png`,
      lineChart({ title: `${dataset}: reconstructing unseen plaintexts from scrambled images`, xLabel: 'leaked pairs N', yLabel: 'PSNR (dB), 32 px', series: curves.psnr, xLog: true, xTicks }),
    ],
    [
      `inversion-${dataset}-reid.png`,
      lineChart({
        title: `${dataset}: re-identification among ${pool} candidates`,
        xLabel: 'leaked pairs N',
        yLabel: 'top-1',
        series: curves.reid,
        references: [
          { label: 'chance', y: 1 / pool },
          { label: '10x chance', y: 10 / pool },
        ],
        xLog: true,
        xTicks,
        yFormat: (v) => `${(v * 100).toFixed(0)}%`,
      }),
    ],
  ];
  const out: string[] = [];
  for (const [name, svg] of files) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, await svgToPng(svg, { density: 144 }));
    out.push(p);
  }
  return out;
}
