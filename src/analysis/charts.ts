/**
 * Dependency-free SVG charts for the experiment report: line charts (markers, error bars, dashed reference lines),
 * scatter charts and grouped bar charts, in a plain paper-like style. Colours are the Okabe-Ito palette, which
 * stays distinguishable under the common colour-vision deficiencies, and every series also gets its own marker
 * shape, so nothing depends on colour alone. The legend goes below the plot area, never over the data.
 *
 * Output is deterministic: the same input gives byte-identical SVG (coordinates are written with two decimals,
 * the clip-path id is a hash of the content). Text is XML-escaped and set in the generic `sans-serif` family, so
 * a chart needs no external resource. Points with a non-finite coordinate are not drawn; a chart with nothing
 * to draw still renders its axes and says "no data". `svgToPng` rasterizes a chart with sharp (librsvg).
 */
import sharp from 'sharp';
import { describe, fail } from '../errors.js';

export interface Point {
  x: number;
  y: number;
  /** half-width of an error bar (e.g. one std) */
  err?: number;
}
export interface Series {
  name: string;
  points: Point[];
  dashed?: boolean;
}
/** A horizontal dashed reference line (e.g. "paper: 95.5%"). */
export interface Reference {
  label: string;
  y: number;
}
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  references?: Reference[];
  /** Fixed y domain; points outside it are clipped. Default: nice bounds around the data, error bars and references. */
  yRange?: [number, number];
  /** Tick positions on the x axis (the domain is widened to include them). Default: nice ticks. */
  xTicks?: number[];
  /** Logarithmic x axis (points with x <= 0 are skipped). */
  xLog?: boolean;
  width?: number;
  height?: number;
  /** format y tick labels, e.g. v => `${(v*100).toFixed(0)}%` */
  yFormat?: (v: number) => string;
  /** format x tick labels */
  xFormat?: (v: number) => string;
}
export interface ScatterGroup {
  name: string;
  points: Array<[number, number]>;
}
export interface ScatterChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  groups: ScatterGroup[];
  width?: number;
  height?: number;
}
export interface BarSeries {
  name: string;
  values: number[];
  /** Half-widths of error bars, one per category (non-finite or 0: no bar). */
  errors?: number[];
}
export interface BarChartOptions {
  title: string;
  yLabel: string;
  categories: string[];
  series: BarSeries[];
  yRange?: [number, number];
  yFormat?: (v: number) => string;
  /** Optional label under the category axis. */
  xLabel?: string;
  width?: number;
  height?: number;
}

/** Okabe-Ito (yellow last: it is the hardest to see on white). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000', '#F0E442'];
type Shape = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangleDown';
const SHAPES: Shape[] = ['circle', 'square', 'triangle', 'diamond', 'triangleDown'];

const DEFAULT_WIDTH = 640;
const DEFAULT_HEIGHT = 400;
const TICK_FONT = 12;
const LABEL_FONT = 13;
const TITLE_FONT = 15;
const LEGEND_FONT = 12;
const INK = '#222222';
const GRID = '#e6e6e6';

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

/** A coordinate or length with fixed precision (two decimals, trailing zeros dropped, never "-0"). */
function num(v: number): string {
  let s = v.toFixed(2);
  if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for SVG content and attribute values; characters XML 1.0 forbids are removed. */
export function escapeXml(s: string): string {
  return String(s)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

/** Rough width of a text in the generic sans-serif face (DejaVu Sans is about 0.6 em per character). */
function textWidth(s: string, size: number): number {
  return [...s].length * size * 0.6;
}

/** Shorten `s` with an ellipsis so that it is at most `max` pixels wide. */
function fitText(s: string, size: number, max: number): string {
  if (textWidth(s, size) <= max) return s;
  const chars = [...s];
  const keep = Math.max(1, Math.floor(max / (size * 0.6)) - 1);
  return chars.slice(0, keep).join('') + '…';
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function dimension(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!(Number.isFinite(v) && v >= 100 && v <= 10000)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `chart ${what} must be a number of pixels between 100 and 10000 (got ${v})`);
  }
  return Math.round(v);
}

function checkRange(r: [number, number] | undefined, what: string): void {
  if (r === undefined) return;
  if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(r[0]) || !Number.isFinite(r[1]) || !(r[1] > r[0])) {
    fail('OWSD_ERR_BAD_ARGUMENT', `chart ${what} must be [low, high] with finite low < high (got ${JSON.stringify(r)})`);
  }
}

function checkArray(v: unknown, what: string): void {
  if (!Array.isArray(v)) fail('OWSD_ERR_BAD_ARGUMENT', `chart ${what} must be an array`);
}

// ---------------------------------------------------------------------------------------------------------------
// Scales and ticks

interface Axis {
  domain: [number, number];
  ticks: number[];
  /** Default label for a tick. */
  label: (v: number) => string;
  log: boolean;
}

function niceStep(span: number, target: number): number {
  const raw = span / target;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

function decimalsOf(step: number): number {
  return Math.min(20, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

function roundTo(v: number, decimals: number): number {
  const r = Number(v.toFixed(decimals));
  return r === 0 ? 0 : r; // no -0
}

function fixedLabel(decimals: number): (v: number) => string {
  return (v) => {
    const s = Math.abs(v) >= 1e6 ? v.toExponential(2) : v.toFixed(decimals);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  };
}

function padDegenerate(lo: number, hi: number): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
}

/** A linear axis whose domain is widened to nice tick values around [lo, hi]. */
function niceAxis(lo: number, hi: number, target = 5): Axis {
  [lo, hi] = padDegenerate(lo, hi);
  const step = niceStep(hi - lo, target);
  const dec = decimalsOf(step);
  const a = Math.floor(lo / step + 1e-9);
  const b = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let i = a; i <= b; i++) ticks.push(roundTo(i * step, dec));
  return { domain: [ticks[0]!, ticks[ticks.length - 1]!], ticks, label: fixedLabel(dec), log: false };
}

/** A linear axis over exactly [lo, hi], with nice ticks inside it. */
function fixedAxis(lo: number, hi: number, target = 5): Axis {
  const step = niceStep(hi - lo, target);
  const dec = decimalsOf(step);
  const a = Math.ceil(lo / step - 1e-9);
  const b = Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let i = a; i <= b; i++) ticks.push(roundTo(i * step, dec));
  return { domain: [lo, hi], ticks, label: fixedLabel(dec), log: false };
}

function compactLabel(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** A base-10 log axis around [lo, hi] (both > 0): 1-2-5 ticks over short spans, powers of ten otherwise. */
function logAxis(lo: number, hi: number): Axis {
  if (!(hi > lo)) [lo, hi] = [lo / 2, hi * 2];
  const e0 = Math.floor(Math.log10(lo) + 1e-9);
  const e1 = Math.ceil(Math.log10(hi) - 1e-9);
  let candidates: number[] = [];
  if (e1 - e0 <= 2) {
    for (let e = e0; e <= e1; e++) for (const m of [1, 2, 5]) candidates.push(roundTo(m * Math.pow(10, e), Math.max(0, -e)));
  } else {
    const every = Math.max(1, Math.ceil((e1 - e0) / 8));
    for (let e = e0; e <= e1 + every - 1; e += every) candidates.push(Number(`1e${e}`));
  }
  candidates = candidates.sort((p, q) => p - q);
  const below = candidates.filter((c) => c <= lo * (1 + 1e-9));
  const above = candidates.filter((c) => c >= hi * (1 - 1e-9));
  const dLo = below.length ? below[below.length - 1]! : candidates[0]!;
  const dHi = above.length ? above[0]! : candidates[candidates.length - 1]!;
  const ticks = candidates.filter((c) => c >= dLo && c <= dHi);
  return { domain: [dLo, dHi], ticks, label: compactLabel, log: true };
}

function scaler(axis: Axis, p0: number, p1: number): (v: number) => number {
  const f = axis.log ? Math.log10 : (v: number) => v;
  const d0 = f(axis.domain[0]);
  const d1 = f(axis.domain[1]);
  return (v) => p0 + ((f(v) - d0) / (d1 - d0)) * (p1 - p0);
}

function inDomain(axis: Axis, v: number): boolean {
  const [lo, hi] = axis.domain;
  const tol = (hi - lo) * 1e-9;
  return v >= lo - tol && v <= hi + tol;
}

// ---------------------------------------------------------------------------------------------------------------
// Layout: title, axes, gridlines, legend below the plot

interface LegendItem {
  name: string;
  color: string;
  kind: 'line' | 'marker' | 'bar';
  shape?: Shape;
  dashed?: boolean;
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

interface Layout {
  svgWidth: number;
  svgHeight: number;
  plot: Box;
  /** Baseline of the x tick labels. */
  xTickBaseline: number;
  /** Baseline of the x axis label. */
  xLabelBaseline: number;
  legendRows: Array<{ y: number; items: Array<{ x: number; item: LegendItem; text: string }> }>;
}

const LEGEND_ROW = 18;
const LEGEND_SAMPLE = 24;

function computeLayout(p: {
  width: number;
  height: number;
  title: string;
  yLabel: string;
  xLabel: string;
  yTickLabels: string[];
  lastXTickLabel: string;
  /** Extra height the x tick labels need (rotated category labels). */
  xTickExtra: number;
  legend: LegendItem[];
  /** Least left margin (room for rotated category labels). */
  minLeft?: number;
}): Layout {
  const top = p.title ? 40 : 16;
  const maxTick = Math.max(0, ...p.yTickLabels.map((s) => textWidth(s, TICK_FONT)));
  const left = Math.round(Math.max((p.yLabel ? 28 : 10) + maxTick + 10, p.minLeft ?? 0));
  const right = Math.round(Math.max(20, textWidth(p.lastXTickLabel, TICK_FONT) / 2 + 6));
  const plotWidth = p.width - left - right;
  if (plotWidth < 40) fail('OWSD_ERR_BAD_ARGUMENT', `chart width ${p.width} leaves no room for the plot`);

  // Legend rows, flowed across the plot width and centred under it.
  const rows: Array<Array<{ w: number; item: LegendItem; text: string }>> = [];
  let row: Array<{ w: number; item: LegendItem; text: string }> = [];
  let used = 0;
  for (const item of p.legend) {
    const text = fitText(item.name, LEGEND_FONT, plotWidth - LEGEND_SAMPLE - 6);
    const w = LEGEND_SAMPLE + 6 + textWidth(text, LEGEND_FONT);
    if (row.length > 0 && used + 18 + w > plotWidth) {
      rows.push(row);
      row = [];
      used = 0;
    }
    used += (row.length ? 18 : 0) + w;
    row.push({ w, item, text });
  }
  if (row.length) rows.push(row);

  const axisBelow = 6 + TICK_FONT + 4 + p.xTickExtra + (p.xLabel ? 22 : 0) + 6;
  const legendHeight = rows.length ? rows.length * LEGEND_ROW + 6 : 0;
  let plotHeight = p.height - top - axisBelow - legendHeight - 6;
  let svgHeight = p.height;
  if (plotHeight < 80) {
    svgHeight += 80 - plotHeight;
    plotHeight = 80;
  }
  const plot: Box = { left, top, width: plotWidth, height: plotHeight };
  const bottom = top + plotHeight;
  const xTickBaseline = bottom + 6 + TICK_FONT + 1;
  const xLabelBaseline = bottom + 6 + TICK_FONT + 4 + p.xTickExtra + 18;
  const legendTop = bottom + axisBelow;
  const legendRows = rows.map((r, i) => {
    const total = r.reduce((s, e) => s + e.w, 0) + 18 * (r.length - 1);
    let x = left + (plotWidth - total) / 2;
    const items = r.map((e) => {
      const out = { x, item: e.item, text: e.text };
      x += e.w + 18;
      return out;
    });
    return { y: legendTop + i * LEGEND_ROW + LEGEND_ROW / 2, items };
  });
  return { svgWidth: p.width, svgHeight, plot, xTickBaseline, xLabelBaseline, legendRows };
}

function marker(shape: Shape, cx: number, cy: number, r: number, attrs: string): string {
  switch (shape) {
    case 'circle':
      return `<circle cx="${num(cx)}" cy="${num(cy)}" r="${num(r)}" ${attrs}/>`;
    case 'square': {
      const s = r * 0.9;
      return `<rect x="${num(cx - s)}" y="${num(cy - s)}" width="${num(2 * s)}" height="${num(2 * s)}" ${attrs}/>`;
    }
    case 'triangle': {
      const h = r * 1.2;
      return `<path d="M${num(cx)} ${num(cy - h)}L${num(cx + h)} ${num(cy + h * 0.8)}L${num(cx - h)} ${num(cy + h * 0.8)}Z" ${attrs}/>`;
    }
    case 'triangleDown': {
      const h = r * 1.2;
      return `<path d="M${num(cx)} ${num(cy + h)}L${num(cx + h)} ${num(cy - h * 0.8)}L${num(cx - h)} ${num(cy - h * 0.8)}Z" ${attrs}/>`;
    }
    case 'diamond': {
      const h = r * 1.3;
      return `<path d="M${num(cx)} ${num(cy - h)}L${num(cx + h)} ${num(cy)}L${num(cx)} ${num(cy + h)}L${num(cx - h)} ${num(cy)}Z" ${attrs}/>`;
    }
  }
}

function renderLegend(layout: Layout): string {
  const out: string[] = [];
  for (const row of layout.legendRows) {
    for (const { x, item, text } of row.items) {
      const cy = row.y;
      const cx = x + LEGEND_SAMPLE / 2;
      const parts: string[] = [];
      if (item.kind === 'line') {
        const dash = item.dashed ? ' stroke-dasharray="6 4"' : '';
        parts.push(`<line x1="${num(x)}" y1="${num(cy)}" x2="${num(x + LEGEND_SAMPLE)}" y2="${num(cy)}" stroke="${item.color}" stroke-width="2"${dash}/>`);
        parts.push(marker(item.shape ?? 'circle', cx, cy, 3.5, `fill="${item.color}" stroke="#ffffff" stroke-width="0.8"`));
      } else if (item.kind === 'marker') {
        parts.push(marker(item.shape ?? 'circle', cx, cy, 4, `fill="${item.color}" fill-opacity="0.75" stroke="${item.color}" stroke-width="1"`));
      } else {
        parts.push(`<rect x="${num(x + 4)}" y="${num(cy - 6)}" width="${num(LEGEND_SAMPLE - 8)}" height="12" fill="${item.color}"/>`);
      }
      parts.push(`<text x="${num(x + LEGEND_SAMPLE + 6)}" y="${num(cy + 4)}" font-size="${LEGEND_FONT}" fill="${INK}">${escapeXml(text)}</text>`);
      out.push(parts.join(''));
    }
  }
  return out.length ? `<g class="legend">${out.join('\n')}</g>` : '';
}

interface FrameParts {
  layout: Layout;
  yAxis: Axis;
  yFormat: (v: number) => string;
  title: string;
  yLabel: string;
  xLabel: string;
  /** Gridline + tick + label for each x tick (line and scatter charts). */
  xAxis?: { axis: Axis; format: (v: number) => string };
  /** Category labels under bands (bar charts). */
  categories?: { labels: string[]; rotate: boolean };
  /** Drawn inside the clip path (lines, bars, error bars). */
  clipped: string[];
  /** Drawn on top, unclipped (markers already restricted to the domain, reference labels). */
  overlay: string[];
  empty: boolean;
}

function renderFrame(f: FrameParts): string {
  const { layout } = f;
  const { plot } = layout;
  const right = plot.left + plot.width;
  const bottom = plot.top + plot.height;
  const ys = scaler(f.yAxis, bottom, plot.top);
  const out: string[] = [];
  out.push(`<rect x="0" y="0" width="${layout.svgWidth}" height="${layout.svgHeight}" fill="#ffffff"/>`);
  out.push(`<defs><clipPath id="CLIPID"><rect x="${num(plot.left)}" y="${num(plot.top)}" width="${num(plot.width)}" height="${num(plot.height)}"/></clipPath></defs>`);
  if (f.title) {
    const size = Math.max(9, Math.min(TITLE_FONT, Math.floor((layout.svgWidth - 16) / ([...f.title].length * 0.6))));
    out.push(`<text x="${num(layout.svgWidth / 2)}" y="24" font-size="${size}" font-weight="bold" text-anchor="middle" fill="${INK}">${escapeXml(f.title)}</text>`);
  }

  // Gridlines and ticks.
  const grid: string[] = [];
  const ticks: string[] = [];
  const labels: string[] = [];
  for (const v of f.yAxis.ticks) {
    const y = ys(v);
    grid.push(`<line x1="${num(plot.left)}" y1="${num(y)}" x2="${num(right)}" y2="${num(y)}"/>`);
    ticks.push(`<line x1="${num(plot.left - 5)}" y1="${num(y)}" x2="${num(plot.left)}" y2="${num(y)}"/>`);
    labels.push(`<text x="${num(plot.left - 8)}" y="${num(y + 4)}" text-anchor="end">${escapeXml(f.yFormat(v))}</text>`);
  }
  if (f.xAxis) {
    const xs = scaler(f.xAxis.axis, plot.left, right);
    for (const v of f.xAxis.axis.ticks) {
      const x = xs(v);
      grid.push(`<line x1="${num(x)}" y1="${num(plot.top)}" x2="${num(x)}" y2="${num(bottom)}"/>`);
      ticks.push(`<line x1="${num(x)}" y1="${num(bottom)}" x2="${num(x)}" y2="${num(bottom + 5)}"/>`);
      labels.push(`<text x="${num(x)}" y="${num(layout.xTickBaseline)}" text-anchor="middle">${escapeXml(f.xAxis.format(v))}</text>`);
    }
  }
  if (f.categories) {
    const band = plot.width / f.categories.labels.length;
    f.categories.labels.forEach((label, i) => {
      const x = plot.left + band * (i + 0.5);
      if (f.categories!.rotate) {
        const y = bottom + 10;
        labels.push(`<text x="${num(x)}" y="${num(y)}" text-anchor="end" transform="rotate(-35 ${num(x)} ${num(y)})" dy="0.35em">${escapeXml(label)}</text>`);
      } else {
        labels.push(`<text x="${num(x)}" y="${num(layout.xTickBaseline)}" text-anchor="middle">${escapeXml(label)}</text>`);
      }
    });
  }
  out.push(`<g class="grid" stroke="${GRID}" stroke-width="1">${grid.join('')}</g>`);
  out.push(`<g class="ticks" stroke="${INK}" stroke-width="1">${ticks.join('')}</g>`);
  out.push(`<g class="tick-labels" font-size="${TICK_FONT}" fill="${INK}">\n${labels.join('\n')}\n</g>`);

  if (f.clipped.length) out.push(`<g clip-path="url(#CLIPID)">\n${f.clipped.join('\n')}\n</g>`);
  // Axes over the data's base, under the markers.
  out.push(`<path d="M${num(plot.left)} ${num(plot.top)}V${num(bottom)}H${num(right)}" fill="none" stroke="${INK}" stroke-width="1.2"/>`);
  if (f.overlay.length) out.push(f.overlay.join('\n'));
  if (f.empty) {
    out.push(`<text x="${num(plot.left + plot.width / 2)}" y="${num(plot.top + plot.height / 2)}" font-size="${LABEL_FONT + 1}" fill="#777777" text-anchor="middle">no data</text>`);
  }

  if (f.xLabel) {
    out.push(`<text x="${num(plot.left + plot.width / 2)}" y="${num(layout.xLabelBaseline)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="${INK}">${escapeXml(f.xLabel)}</text>`);
  }
  if (f.yLabel) {
    const cy = plot.top + plot.height / 2;
    out.push(`<text transform="translate(18 ${num(cy)}) rotate(-90)" font-size="${LABEL_FONT}" text-anchor="middle" fill="${INK}">${escapeXml(f.yLabel)}</text>`);
  }
  out.push(renderLegend(layout));

  const body = out.filter((s) => s !== '').join('\n');
  const head =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.svgWidth}" height="${layout.svgHeight}" ` +
    `viewBox="0 0 ${layout.svgWidth} ${layout.svgHeight}" font-family="sans-serif" role="img">\n` +
    `<title>${escapeXml(f.title)}</title>\n`;
  const doc = `${head}${body}\n</svg>\n`;
  return doc.replaceAll('CLIPID', `owsd-clip-${fnv1a(doc)}`);
}

function errorBar(x: number, y0: number, y1: number, cap: number, color: string): string {
  return (
    `<path d="M${num(x)} ${num(y0)}V${num(y1)}M${num(x - cap)} ${num(y0)}H${num(x + cap)}M${num(x - cap)} ${num(y1)}H${num(x + cap)}" ` +
    `fill="none" stroke="${color}" stroke-width="1.2"/>`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Line chart

/** A line chart: one line with markers per series, optional vertical error bars and dashed reference lines. */
export function lineChart(o: LineChartOptions): string {
  const width = dimension(o.width, DEFAULT_WIDTH, 'width');
  const height = dimension(o.height, DEFAULT_HEIGHT, 'height');
  checkArray(o.series, 'series');
  checkRange(o.yRange, 'yRange');
  const refs = o.references ?? [];
  checkArray(refs, 'references');
  const xLog = o.xLog === true;
  if (o.xTicks !== undefined) {
    checkArray(o.xTicks, 'xTicks');
    for (const t of o.xTicks) {
      if (!Number.isFinite(t) || (xLog && !(t > 0))) fail('OWSD_ERR_BAD_ARGUMENT', `chart xTicks must be finite${xLog ? ' and positive on a log axis' : ''} (got ${t})`);
    }
  }
  const drawable = (p: Point): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!xLog || p.x > 0);
  const errOf = (p: Point): number => (p.err !== undefined && Number.isFinite(p.err) && p.err > 0 ? p.err : 0);

  const xsData: number[] = [];
  const ysData: number[] = [];
  for (const s of o.series) {
    checkArray(s.points, `series "${s.name}" points`);
    for (const p of s.points) {
      if (!drawable(p)) continue;
      xsData.push(p.x);
      const e = errOf(p);
      ysData.push(p.y - e, p.y + e);
    }
  }
  const empty = xsData.length === 0;
  const refYs = refs.filter((r) => Number.isFinite(r.y)).map((r) => r.y);

  let yAxis: Axis;
  if (o.yRange) yAxis = fixedAxis(o.yRange[0], o.yRange[1]);
  else if (!empty || refYs.length) {
    const all = [...ysData, ...refYs];
    yAxis = niceAxis(Math.min(...all), Math.max(...all));
  } else yAxis = niceAxis(0, 1);

  let xAxis: Axis;
  const xAll = [...xsData, ...(o.xTicks ?? [])];
  if (o.xTicks && o.xTicks.length > 0) {
    const [lo, hi] = xLog
      ? ((): [number, number] => {
          const l = Math.min(...xAll);
          const h = Math.max(...xAll);
          return h > l ? [l, h] : [l / 2, h * 2];
        })()
      : padDegenerate(Math.min(...xAll), Math.max(...xAll));
    const sorted = [...new Set(o.xTicks)].sort((p, q) => p - q);
    xAxis = { domain: [lo, hi], ticks: sorted, label: compactLabel, log: xLog };
  } else if (xAll.length) {
    xAxis = xLog ? logAxis(Math.min(...xAll), Math.max(...xAll)) : niceAxis(Math.min(...xAll), Math.max(...xAll), 6);
  } else {
    xAxis = xLog ? logAxis(1, 10) : niceAxis(0, 1, 6);
  }
  const yFormat = o.yFormat ?? yAxis.label;
  const xFormat = o.xFormat ?? xAxis.label;

  const legend: LegendItem[] = o.series.map((s, i) => ({
    name: s.name,
    color: PALETTE[i % PALETTE.length]!,
    kind: 'line',
    shape: SHAPES[i % SHAPES.length]!,
    dashed: s.dashed === true,
  }));
  const layout = computeLayout({
    width,
    height,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel,
    yTickLabels: yAxis.ticks.map(yFormat),
    lastXTickLabel: xAxis.ticks.length ? xFormat(xAxis.ticks[xAxis.ticks.length - 1]!) : '',
    xTickExtra: 0,
    legend,
  });
  const { plot } = layout;
  const xs = scaler(xAxis, plot.left, plot.left + plot.width);
  const ys = scaler(yAxis, plot.top + plot.height, plot.top);

  const clipped: string[] = [];
  const overlay: string[] = [];
  for (const r of refs) {
    if (!Number.isFinite(r.y) || !inDomain(yAxis, r.y)) continue;
    const y = ys(r.y);
    clipped.push(`<line class="reference" x1="${num(plot.left)}" y1="${num(y)}" x2="${num(plot.left + plot.width)}" y2="${num(y)}" stroke="#555555" stroke-width="1.2" stroke-dasharray="4 3"/>`);
    const label = fitText(r.label, 11, plot.width - 8);
    overlay.push(
      `<text x="${num(plot.left + plot.width - 4)}" y="${num(y - 4)}" font-size="11" text-anchor="end" fill="#444444" ` +
        `stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">${escapeXml(label)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const color = legend[i]!.color;
    const shape = legend[i]!.shape!;
    // Line segments; a point that cannot be drawn breaks the line (a gap, not a silent interpolation).
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (!drawable(p)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${num(xs(p.x))} ${num(ys(p.y))}`;
      pen = true;
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (d.includes('L')) clipped.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${dash}/>`);
    for (const p of s.points) {
      const e = drawable(p) ? errOf(p) : 0;
      if (e > 0) clipped.push(errorBar(xs(p.x), ys(p.y - e), ys(p.y + e), 4, color));
    }
    const marks = s.points
      .filter((p) => drawable(p) && inDomain(xAxis, p.x) && inDomain(yAxis, p.y))
      .map((p) => marker(shape, xs(p.x), ys(p.y), 3.5, ''));
    if (marks.length) overlay.push(`<g class="markers" fill="${color}" stroke="#ffffff" stroke-width="0.8">${marks.join('')}</g>`);
  });

  return renderFrame({
    layout,
    yAxis,
    yFormat,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel,
    xAxis: { axis: xAxis, format: xFormat },
    clipped,
    overlay,
    empty,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Scatter chart

/** A scatter chart: one colour and marker shape per group, translucent so overlapping points stay visible. */
export function scatterChart(o: ScatterChartOptions): string {
  const width = dimension(o.width, DEFAULT_WIDTH, 'width');
  const height = dimension(o.height, DEFAULT_HEIGHT, 'height');
  checkArray(o.groups, 'groups');
  const ok = (p: [number, number]): boolean => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]);
  const xsData: number[] = [];
  const ysData: number[] = [];
  for (const g of o.groups) {
    checkArray(g.points, `group "${g.name}" points`);
    for (const p of g.points) {
      if (!ok(p)) continue;
      xsData.push(p[0]);
      ysData.push(p[1]);
    }
  }
  const empty = xsData.length === 0;
  const xAxis = empty ? niceAxis(0, 1, 6) : niceAxis(Math.min(...xsData), Math.max(...xsData), 6);
  const yAxis = empty ? niceAxis(0, 1) : niceAxis(Math.min(...ysData), Math.max(...ysData));
  const legend: LegendItem[] = o.groups.map((g, i) => ({
    name: g.name,
    color: PALETTE[i % PALETTE.length]!,
    kind: 'marker',
    shape: SHAPES[i % SHAPES.length]!,
  }));
  const layout = computeLayout({
    width,
    height,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel,
    yTickLabels: yAxis.ticks.map(yAxis.label),
    lastXTickLabel: xAxis.label(xAxis.ticks[xAxis.ticks.length - 1]!),
    xTickExtra: 0,
    legend,
  });
  const { plot } = layout;
  const xs = scaler(xAxis, plot.left, plot.left + plot.width);
  const ys = scaler(yAxis, plot.top + plot.height, plot.top);
  const overlay: string[] = [];
  o.groups.forEach((g, i) => {
    const { color, shape } = legend[i]!;
    const marks = g.points.filter(ok).map((p) => marker(shape!, xs(p[0]), ys(p[1]), 3.5, ''));
    if (marks.length) overlay.push(`<g class="markers" fill="${color}" fill-opacity="0.7" stroke="${color}" stroke-width="1">${marks.join('')}</g>`);
  });
  return renderFrame({
    layout,
    yAxis,
    yFormat: yAxis.label,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel,
    xAxis: { axis: xAxis, format: xAxis.label },
    clipped: [],
    overlay,
    empty,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Grouped bar chart

/** Grouped bars: one group per category, one bar per series, optional error bars with caps. */
export function barChart(o: BarChartOptions): string {
  const width = dimension(o.width, DEFAULT_WIDTH, 'width');
  const height = dimension(o.height, DEFAULT_HEIGHT, 'height');
  checkArray(o.categories, 'categories');
  checkArray(o.series, 'series');
  checkRange(o.yRange, 'yRange');
  const nCat = o.categories.length;
  for (const s of o.series) {
    checkArray(s.values, `series "${s.name}" values`);
    if (s.values.length !== nCat) {
      fail('OWSD_ERR_BAD_ARGUMENT', `bar chart series "${s.name}" has ${s.values.length} values for ${nCat} categories`);
    }
    if (s.errors !== undefined && (!Array.isArray(s.errors) || s.errors.length !== nCat)) {
      fail('OWSD_ERR_BAD_ARGUMENT', `bar chart series "${s.name}" needs one error per category (${nCat})`);
    }
  }
  const errOf = (s: BarSeries, j: number): number => {
    const e = s.errors?.[j];
    return e !== undefined && Number.isFinite(e) && e > 0 ? e : 0;
  };
  const vals: number[] = [];
  for (const s of o.series) {
    s.values.forEach((v, j) => {
      if (!Number.isFinite(v)) return;
      const e = errOf(s, j);
      vals.push(v - e, v + e);
    });
  }
  const empty = vals.length === 0 || nCat === 0;
  let yAxis: Axis;
  if (o.yRange) yAxis = fixedAxis(o.yRange[0], o.yRange[1]);
  else if (!empty) yAxis = niceAxis(Math.min(0, ...vals), Math.max(0, ...vals));
  else yAxis = niceAxis(0, 1);
  const yFormat = o.yFormat ?? yAxis.label;

  const colors = o.series.map((_, i) => PALETTE[i % PALETTE.length]!);
  // A single series needs no legend (the y label says what it is).
  const legend: LegendItem[] = o.series.length > 1 ? o.series.map((s, i) => ({ name: s.name, color: colors[i]!, kind: 'bar' })) : [];
  // Category labels: horizontal when they fit their band, else rotated (and the plot gets shorter for them).
  const labels = o.categories.map((c) => fitText(String(c), TICK_FONT, 180));
  const maxLabel = Math.max(0, ...labels.map((l) => textWidth(l, TICK_FONT)));
  const probe = computeLayout({
    width,
    height,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel ?? '',
    yTickLabels: yAxis.ticks.map(yFormat),
    lastXTickLabel: '',
    xTickExtra: 0,
    legend,
  });
  const rotate = nCat > 0 && maxLabel > probe.plot.width / nCat - 6;
  let layout = probe;
  if (rotate) {
    // Rotated labels hang to the left of their band's centre: the first one must stay inside the picture.
    const reach = maxLabel * Math.cos((35 * Math.PI) / 180);
    for (let i = 0; i < 3; i++) {
      layout = computeLayout({
        width,
        height,
        title: o.title,
        yLabel: o.yLabel,
        xLabel: o.xLabel ?? '',
        yTickLabels: yAxis.ticks.map(yFormat),
        lastXTickLabel: '',
        xTickExtra: Math.ceil(maxLabel * Math.sin((35 * Math.PI) / 180)),
        legend,
        minLeft: Math.ceil(reach - layout.plot.width / nCat / 2 + 6),
      });
    }
  }
  const { plot } = layout;
  const ys = scaler(yAxis, plot.top + plot.height, plot.top);
  const base = ys(Math.min(Math.max(0, yAxis.domain[0]), yAxis.domain[1]));
  const clipped: string[] = [];
  const overlay: string[] = [];
  if (!empty) {
    const band = plot.width / nCat;
    const group = band * 0.8;
    const barW = group / Math.max(1, o.series.length);
    const gap = Math.min(2, barW * 0.15);
    o.series.forEach((s, i) => {
      const color = colors[i]!;
      const rects: string[] = [];
      const errs: string[] = [];
      s.values.forEach((v, j) => {
        if (!Number.isFinite(v)) return;
        const x = plot.left + band * j + (band - group) / 2 + barW * i;
        const y = ys(v);
        rects.push(`<rect x="${num(x + gap / 2)}" y="${num(Math.min(y, base))}" width="${num(barW - gap)}" height="${num(Math.abs(base - y))}"/>`);
        const e = errOf(s, j);
        if (e > 0) errs.push(errorBar(x + barW / 2, ys(v - e), ys(v + e), Math.min(5, barW * 0.3), INK));
      });
      if (rects.length) clipped.push(`<g class="bars" fill="${color}">${rects.join('')}</g>`);
      clipped.push(...errs);
    });
    if (yAxis.domain[0] < 0 && yAxis.domain[1] > 0) {
      overlay.push(`<line x1="${num(plot.left)}" y1="${num(base)}" x2="${num(plot.left + plot.width)}" y2="${num(base)}" stroke="${INK}" stroke-width="1"/>`);
    }
  }
  return renderFrame({
    layout,
    yAxis,
    yFormat,
    title: o.title,
    yLabel: o.yLabel,
    xLabel: o.xLabel ?? '',
    categories: nCat > 0 ? { labels, rotate } : undefined,
    clipped,
    overlay,
    empty,
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** Rasterize an SVG chart to PNG with sharp (librsvg). `density` is in dpi; 72 (the default) keeps the SVG's pixel size. */
export async function svgToPng(svg: string, opts: { density?: number } = {}): Promise<Buffer> {
  const density = opts.density ?? 72;
  if (!(Number.isFinite(density) && density > 0 && density <= 2400)) {
    fail('OWSD_ERR_BAD_ARGUMENT', `svgToPng: density must be a positive number of dpi up to 2400 (got ${density})`);
  }
  try {
    return await sharp(Buffer.from(svg, 'utf8'), { density }).png().toBuffer();
  } catch (e) {
    fail('OWSD_ERR_IMAGE', `svgToPng: the SVG cannot be rendered: ${describe(e)}`, e);
  }
}
