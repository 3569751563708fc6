import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { barChart, lineChart, scatterChart, svgToPng, type LineChartOptions } from '../src/analysis/charts.js';
import { OwsdError } from '../src/errors.js';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The plot area: the rectangle of the chart's clip path. */
function plotBox(svg: string): Box {
  const m = /<clipPath id="[^"]+"><rect x="([\d.-]+)" y="([\d.-]+)" width="([\d.-]+)" height="([\d.-]+)"\/><\/clipPath>/.exec(svg);
  assert.ok(m, 'the chart has a clip path for its plot area');
  return { x: Number(m[1]), y: Number(m[2]), width: Number(m[3]), height: Number(m[4]) };
}

/** Centres of the circle markers of the data (not the legend), in document order. */
function dataCircles(svg: string): Array<{ cx: number; cy: number }> {
  const out: Array<{ cx: number; cy: number }> = [];
  for (const g of svg.matchAll(/<g class="markers"[^>]*>(.*?)<\/g>/g)) {
    for (const c of g[1]!.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"/g)) out.push({ cx: Number(c[1]), cy: Number(c[2]) });
  }
  return out;
}

function inside(b: Box, x: number, y: number): boolean {
  return x >= b.x - 1e-9 && x <= b.x + b.width + 1e-9 && y >= b.y - 1e-9 && y <= b.y + b.height + 1e-9;
}

async function pngSize(svg: string, density?: number): Promise<{ width: number; height: number; format: string }> {
  const png = await svgToPng(svg, density === undefined ? undefined : { density });
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'PNG signature');
  const meta = await sharp(png).metadata();
  return { width: meta.width!, height: meta.height!, format: meta.format! };
}

/** Fraction of pixels that are not (near) white: a rendered chart has ink. */
async function inkShare(svg: string): Promise<number> {
  const { data, info } = await sharp(await svgToPng(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let ink = 0;
  for (let i = 0; i < data.length; i += info.channels) if (data[i]! < 200 || data[i + 1]! < 200 || data[i + 2]! < 200) ink++;
  return ink / (info.width * info.height);
}

const accuracy: LineChartOptions = {
  title: 'Accuracy vs images per label',
  xLabel: 'images per label',
  yLabel: 'top-1',
  series: [{ name: 'IIN', points: [{ x: 10, y: 0.61, err: 0.03 }, { x: 20, y: 0.72 }, { x: 50, y: 0.93, err: 0.01 }, { x: 100, y: 0.85 }] }],
  references: [{ label: 'paper: 95.5%', y: 0.955 }],
};

test('lineChart: a complete SVG that renders to a PNG of the requested size', async () => {
  const svg = lineChart(accuracy);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="640" height="400" /);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /font-family="sans-serif"/);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
  assert.deepEqual(await pngSize(svg), { width: 640, height: 400, format: 'png' });
  assert.deepEqual(await pngSize(svg, 144), { width: 1280, height: 800, format: 'png' });
  const small = lineChart({ ...accuracy, width: 320, height: 240 });
  assert.deepEqual(await pngSize(small), { width: 320, height: 240, format: 'png' });
  assert.ok((await inkShare(svg)) > 0.01, 'something is drawn');
});

test('lineChart: data land inside the plot area, higher values higher up, x in order', () => {
  const svg = lineChart(accuracy);
  const box = plotBox(svg);
  const pts = dataCircles(svg);
  assert.equal(pts.length, 4);
  for (const p of pts) assert.ok(inside(box, p.cx, p.cy), `marker (${p.cx}, ${p.cy}) inside ${JSON.stringify(box)}`);
  // The highest point (y = 0.93, the third) has the smallest y coordinate; the lowest (0.61, the first) the largest.
  const cys = pts.map((p) => p.cy);
  assert.equal(cys.indexOf(Math.min(...cys)), 2);
  assert.equal(cys.indexOf(Math.max(...cys)), 0);
  for (let i = 1; i < pts.length; i++) assert.ok(pts[i]!.cx > pts[i - 1]!.cx, 'x increases left to right');
  // Linear scale: equal steps in y are equal steps in pixels.
  const lin = lineChart({ ...accuracy, references: [], series: [{ name: 's', points: [0, 1, 2, 3].map((x) => ({ x, y: x * 2 })) }] });
  const c = dataCircles(lin);
  const dy = c.map((p, i) => (i ? p.cy - c[i - 1]!.cy : 0)).slice(1);
  for (const d of dy) assert.ok(Math.abs(d - dy[0]!) < 0.02 && d < 0, `uniform upward steps ${dy}`);
  // The reference line is drawn dashed, with its label, inside the plot.
  assert.match(svg, /<line class="reference"[^>]*stroke-dasharray/);
  assert.match(svg, />paper: 95\.5%<\/text>/);
});

test('lineChart: error bars with caps centred on their points; the legend sits below the plot', () => {
  const svg = lineChart(accuracy);
  const box = plotBox(svg);
  const pts = dataCircles(svg);
  const bars = [...svg.matchAll(/<path d="M([\d.]+) ([\d.]+)V([\d.]+)M([\d.]+) [\d.]+H([\d.]+)M[\d.]+ [\d.]+H[\d.]+"/g)];
  assert.equal(bars.length, 2, 'two points have an error');
  const [bar] = bars;
  const x = Number(bar![1]);
  const y0 = Number(bar![2]);
  const y1 = Number(bar![3]);
  assert.ok(Math.abs(x - pts[0]!.cx) < 0.01, 'the bar is at its point');
  assert.ok(Math.abs((y0 + y1) / 2 - pts[0]!.cy) < 0.02, 'symmetric around the point');
  assert.ok(y0 - y1 > 2, 'err = 0.03 is visible');
  assert.ok(Number(bar![5]) - Number(bar![4]) > 4, 'caps have a width');
  const legend = /<g class="legend">[\s\S]*?<text x="[\d.]+" y="([\d.]+)"[^>]*>IIN<\/text>/.exec(svg);
  assert.ok(legend, 'the legend names the series');
  assert.ok(Number(legend[1]) > box.y + box.height + 20, 'legend below the plot and its axis labels');
});

test('lineChart: yRange and yFormat set the axis; points outside it are not marked', () => {
  const svg = lineChart({ ...accuracy, yRange: [0.5, 1], yFormat: (v) => `${(v * 100).toFixed(0)}%` });
  for (const label of ['50%', '60%', '70%', '80%', '90%', '100%']) assert.match(svg, new RegExp(`>${label}</text>`));
  assert.doesNotMatch(svg, />40%</);
  const box = plotBox(svg);
  const top = dataCircles(svg);
  assert.equal(top.length, 4);
  // 0.5 is the bottom edge and 1 the top: y = 0.61 sits 22% of the way up.
  assert.ok(Math.abs(top[0]!.cy - (box.y + box.height * (1 - 0.22))) < 0.05);
  const clipped = lineChart({ ...accuracy, yRange: [0.7, 0.9] });
  assert.equal(dataCircles(clipped).length, 2, 'only 0.72 and 0.85 are inside [0.7, 0.9]');
  assert.throws(() => lineChart({ ...accuracy, yRange: [1, 0] }), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT');
});

test('lineChart: NaN and Infinity points are skipped and break the line', async () => {
  const svg = lineChart({
    ...accuracy,
    references: [],
    series: [{ name: 's', points: [{ x: 1, y: 1 }, { x: 2, y: NaN }, { x: 3, y: 3 }, { x: 4, y: 4 }, { x: 5, y: Infinity }, { x: NaN, y: 2 }] }],
  });
  assert.equal(dataCircles(svg).length, 3);
  const line = /<path class="series" d="([^"]+)"/.exec(svg);
  assert.ok(line);
  assert.equal(line[1]!.match(/M/g)!.length, 2, 'a gap where the NaN was');
  assert.equal(line[1]!.match(/L/g)!.length, 1, 'only 3 -> 4 is joined');
  assert.doesNotMatch(svg, /NaN|Infinity/);
  assert.doesNotMatch(svg, /no data/);
  await pngSize(svg);

  const allBad = lineChart({ ...accuracy, references: [], series: [{ name: 's', points: [{ x: 1, y: NaN }] }] });
  assert.match(allBad, />no data</);
  assert.equal(dataCircles(allBad).length, 0);
  assert.deepEqual(await pngSize(allBad), { width: 640, height: 400, format: 'png' });
});

test('lineChart: an empty series list renders axes and a "no data" note', async () => {
  const svg = lineChart({ title: 'nothing yet', xLabel: 'x', yLabel: 'y', series: [] });
  assert.match(svg, />no data</);
  assert.match(svg, /<g class="ticks"/);
  assert.match(svg, />x<\/text>/);
  assert.deepEqual(await pngSize(svg), { width: 640, height: 400, format: 'png' });
});

test('escaping: titles, labels, names and categories with <&>"\' stay text', async () => {
  const nasty = `a < b && "c" > 'd'`;
  const escaped = 'a &lt; b &amp;&amp; &quot;c&quot; &gt; &#39;d&#39;';
  const charts = [
    lineChart({ title: nasty, xLabel: nasty, yLabel: nasty, series: [{ name: nasty, points: [{ x: 1, y: 2 }, { x: 2, y: 3 }] }], references: [{ label: nasty, y: 2.5 }] }),
    scatterChart({ title: nasty, xLabel: nasty, yLabel: nasty, groups: [{ name: nasty, points: [[1, 2]] }, { name: 'b', points: [[2, 1]] }] }),
    barChart({ title: nasty, yLabel: nasty, categories: [nasty, 'x'], series: [{ name: nasty, values: [1, 2] }, { name: 'b', values: [2, 1] }] }),
  ];
  for (const svg of charts) {
    assert.ok(!svg.includes(nasty), 'the raw text does not appear');
    assert.ok(svg.includes(`<title>${escaped}</title>`), 'the escaped title does');
    assert.ok(svg.split(escaped).length - 1 >= 4, 'every label is escaped');
    assert.deepEqual(await pngSize(svg), { width: 640, height: 400, format: 'png' }, 'librsvg parses it');
  }
  // Control characters XML forbids are dropped rather than breaking the document.
  const ctl = lineChart({ title: 'bell\u0007 here', xLabel: '', yLabel: '', series: [] });
  assert.ok(ctl.includes('<title>bell here</title>'));
  await pngSize(ctl);
});

test('determinism: identical input gives byte-identical SVG', () => {
  const make = () => [
    lineChart({ ...accuracy, series: [...accuracy.series, { name: 'b', dashed: true, points: [{ x: 10, y: 1 / 3 }, { x: 100, y: Math.PI / 4 }] }] }),
    scatterChart({ title: 't', xLabel: 'x', yLabel: 'y', groups: [{ name: 'g', points: [[0.1, 1 / 7], [2, 3]] }] }),
    barChart({ title: 't', yLabel: 'y', categories: ['a', 'b'], series: [{ name: 's', values: [1 / 3, 2 / 3], errors: [0.1, 0.2] }] }),
  ];
  const a = make();
  const b = make();
  assert.deepEqual(a, b);
  // Numbers are written with fixed precision, never with 15 digits.
  for (const svg of a) assert.doesNotMatch(svg, /\d\.\d{3,}/);
  // Different content gets a different clip-path id, so charts can share one HTML page.
  const id = (svg: string) => /<clipPath id="([^"]+)"/.exec(svg)![1];
  assert.notEqual(id(a[0]!), id(a[1]!));
});

test('lineChart: several series get distinct colours, dashes and log x axes work', () => {
  const sizes = [10, 20, 50, 100, 500];
  const svg = lineChart({
    title: 'log',
    xLabel: 'n',
    yLabel: 'acc',
    xLog: true,
    xTicks: sizes,
    series: [
      { name: 'a', points: sizes.map((x, i) => ({ x, y: i })) },
      { name: 'b', dashed: true, points: sizes.map((x, i) => ({ x, y: i + 1 })) },
      { name: 'c', points: [{ x: 0, y: 1 }, { x: 10, y: 1 }] }, // x = 0 cannot be drawn on a log axis
    ],
  });
  const strokes = [...svg.matchAll(/<path class="series"[^>]*stroke="(#[0-9A-F]{6})"/g)].map((m) => m[1]);
  assert.equal(new Set(strokes).size, 2, 'c has a single drawable point: no line');
  assert.equal([...svg.matchAll(/<path class="series"[^>]*stroke-dasharray/g)].length, 1);
  for (const t of sizes) assert.match(svg, new RegExp(`>${t}</text>`));
  const c = dataCircles(svg);
  assert.equal(c.length, 5);
  // Log scale: 10 -> 100 spans the same width as 50 -> 500.
  const w1 = c[3]!.cx - c[0]!.cx;
  const w2 = c[4]!.cx - c[2]!.cx;
  assert.ok(Math.abs(w1 - w2) < 0.05, `${w1} vs ${w2}`);
});

test('scatterChart: one marker per finite point, inside the plot', async () => {
  const svg = scatterChart({
    title: 'embeddings',
    xLabel: 'PC 1',
    yLabel: 'PC 2',
    groups: [
      { name: 'cats', points: [[0, 0], [1, 5], [NaN, 1], [2, Infinity]] },
      { name: 'dogs', points: [[3, -2], [4, 1]] },
    ],
  });
  const box = plotBox(svg);
  const cats = dataCircles(svg);
  assert.equal(cats.length, 2, 'the first group uses circles; two of its points are finite');
  for (const p of cats) assert.ok(inside(box, p.cx, p.cy));
  assert.ok(cats[1]!.cy < cats[0]!.cy);
  const dogs = /<g class="markers"[^>]*>((?:(?!<\/g>).)*)<\/g>\s*<g class="markers"[^>]*>(.*?)<\/g>/.exec(svg);
  assert.ok(dogs);
  assert.equal(dogs[2]!.match(/<rect /g)!.length, 2, 'the second group uses squares');
  assert.deepEqual(await pngSize(svg), { width: 640, height: 400, format: 'png' });
  const empty = scatterChart({ title: 'e', xLabel: 'x', yLabel: 'y', groups: [] });
  assert.match(empty, />no data</);
  await pngSize(empty);
});

test('barChart: grouped bars proportional to their values, error bars with caps', async () => {
  const svg = barChart({
    title: 'accuracy',
    yLabel: 'top-1',
    categories: ['Imagenette', 'CIFAR-10', 'GTSRB'],
    series: [
      { name: 'with cloud', values: [1.0, 0.5, 0.25], errors: [0.05, 0, NaN] },
      { name: 'without', values: [0.8, NaN, 0.4] },
    ],
    yRange: [0, 1],
    yFormat: (v) => `${Math.round(v * 100)}%`,
  });
  const groups = [...svg.matchAll(/<g class="bars" fill="(#[0-9A-F]{6})">(.*?)<\/g>/g)];
  assert.equal(groups.length, 2);
  assert.notEqual(groups[0]![1], groups[1]![1], 'series have different colours');
  const rects = (g: string) => [...g.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"\/>/g)].map((m) => m.slice(1).map(Number));
  const first = rects(groups[0]![2]!);
  const second = rects(groups[1]![2]!);
  assert.equal(first.length, 3);
  assert.equal(second.length, 2, 'the NaN bar is not drawn');
  const box = plotBox(svg);
  assert.ok(Math.abs(first[0]![3]! - box.height) < 0.02, 'value 1 fills the [0, 1] range');
  assert.ok(Math.abs(first[0]![3]! / first[1]![3]! - 2) < 1e-3, 'heights proportional to values');
  assert.ok(Math.abs(first[1]![3]! / first[2]![3]! - 2) < 1e-3);
  for (const r of [...first, ...second]) {
    assert.ok(Math.abs(r[1]! + r[3]! - (box.y + box.height)) < 0.02, 'bars stand on the baseline');
    assert.ok(r[0]! >= box.x && r[0]! + r[2]! <= box.x + box.width);
  }
  assert.ok(first[0]![0]! < second[0]![0]!, 'series side by side within a category');
  assert.ok(second[0]![0]! < first[1]![0]!, 'categories left to right');
  const errorBars = [...svg.matchAll(/<path d="M[\d.]+ [\d.]+V[\d.]+M[\d.]+ [\d.]+H[\d.]+M[\d.]+ [\d.]+H[\d.]+"/g)];
  assert.equal(errorBars.length, 1, 'only the finite, positive error is drawn');
  for (const label of ['0%', '20%', '40%', '60%', '80%', '100%', 'Imagenette', 'CIFAR-10', 'GTSRB', 'with cloud', 'without']) {
    assert.match(svg, new RegExp(`>${label}</text>`));
  }
  assert.deepEqual(await pngSize(svg), { width: 640, height: 400, format: 'png' });
});

test('barChart: negative values hang below zero; long category labels are rotated; bad input is refused', async () => {
  const svg = barChart({ title: 'gain', yLabel: 'points', categories: ['a', 'b'], series: [{ name: 'g', values: [2, -1] }] });
  for (const label of ['-1.0', '0.0', '2.0']) assert.match(svg, new RegExp(`>${label}</text>`));
  const box = plotBox(svg);
  const bars = /<g class="bars"[^>]*>(.*?)<\/g>/.exec(svg)![1]!;
  const [up, down] = [...bars.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"\/>/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const zero = up![0]! + up![1]!;
  assert.ok(Math.abs(down![0]! - zero) < 0.02, 'the negative bar starts at zero');
  assert.ok(Math.abs(down![0]! + down![1]! - (box.y + box.height)) < 0.02, 'and reaches the bottom (-1)');
  assert.ok(Math.abs(up![1]! / down![1]! - 2) < 1e-3, 'heights proportional to |value|');
  const zeroLine = /<line x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="([\d.]+)" stroke="#222222"/.exec(svg);
  assert.ok(zeroLine && zeroLine[1] === zeroLine[2] && Math.abs(Number(zeroLine[1]) - zero) < 0.02, 'a zero line');
  const long = barChart({
    title: 'gain',
    yLabel: 'points',
    categories: Array.from({ length: 8 }, (_, i) => `a rather long category name ${i}`),
    series: [{ name: 'g', values: [1, 2, 3, 4, 5, 6, 7, 8] }],
  });
  assert.match(long, /rotate\(-35 /);
  const firstLabel = /<text x="([\d.]+)"[^>]*rotate\(-35/.exec(long);
  assert.ok(firstLabel && Number(firstLabel[1]) > 100, 'room on the left for the first rotated label');
  await pngSize(long);
  const bad = (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_BAD_ARGUMENT';
  assert.throws(() => barChart({ title: 't', yLabel: 'y', categories: ['a', 'b'], series: [{ name: 's', values: [1] }] }), bad);
  assert.throws(() => barChart({ title: 't', yLabel: 'y', categories: ['a'], series: [{ name: 's', values: [1], errors: [] }] }), bad);
  assert.throws(() => lineChart({ ...accuracy, width: 0 }), bad);
  await assert.rejects(svgToPng('<svg', { density: -1 }), bad);
  await assert.rejects(svgToPng('not an svg'), (e: unknown) => e instanceof OwsdError && e.code === 'OWSD_ERR_IMAGE');
  const empty = barChart({ title: 't', yLabel: 'y', categories: [], series: [] });
  assert.match(empty, />no data</);
  await pngSize(empty);
});
