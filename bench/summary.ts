/**
 * docs/benchmarks.md, written from the bench records (reports/bench/<name>.json) and nothing else: `npm run bench`
 * (bench/all.ts) writes it after the benches have run, so the figures there are always the last run's, each table
 * with its record's date, the machine's load over that bench and the command that measures it. Issue 20's targets
 * come first, with MET or MISSED as the benches judged them.
 *
 *   npm run build && node dist/bench/summary.js        (rewrites docs/benchmarks.md from the records on disk)
 *
 * test/bench-summary.test.ts checks that the committed page is what the committed records render to.
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../test/helpers.js';
import { isMain } from './lib.js';

/** The records the page is written from, in the order `npm run bench` runs them. */
export const SUMMARY_RECORDS = ['stages', 'latency', 'privacy', 'iin-train', 'cloud-server', 'gateway', 'scale', 'he-vs-owsd', 'growth'] as const;
export const SUMMARY_PAGE = path.join(repoRoot, 'docs', 'benchmarks.md');

// A record is JSON written by bench/lib.ts saveResult: read loosely, every field checked where it is used.
type Json = Record<string, unknown>;
type Records = Partial<Record<(typeof SUMMARY_RECORDS)[number], Json>>;

export function readRecords(dir = path.join(repoRoot, 'reports', 'bench')): Records {
  const out: Records = {};
  for (const name of SUMMARY_RECORDS) {
    const file = path.join(dir, `${name}.json`);
    if (fs.existsSync(file)) out[name] = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  }
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const fmt = (v: unknown, digits = 1): string => {
  const n = num(v);
  return n === undefined ? '–' : n.toFixed(digits);
};
const pct = (v: unknown): string => {
  const n = num(v);
  return n === undefined ? '–' : `${(100 * n).toFixed(0)}%`;
};
const verdict = (met: boolean): string => (met ? '**MET**' : 'MISSED');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** "2026-12-03 06:51 UTC, load 1.1 → 1.6, AMD EPYC x2, Node v20.20.2": when and under what a record was made. */
export function provenance(rec: Json | undefined, command: string): string {
  if (!rec) return `*No record: run \`${command}\`.*`;
  const c = obj(rec.conditions);
  const load = arr(c.loadAverage) as unknown as number[];
  const date = typeof rec.date === 'string' ? `${rec.date.slice(0, 10)} ${rec.date.slice(11, 16)} UTC` : 'undated';
  const machine = `${String(c.cpu ?? '?')} x${String(c.cores ?? '?')}, ${String(c.threads ?? '?')} ORT threads, Node ${String(c.node ?? '?')}`;
  return `*\`${command}\`, ${date}, load average ${fmt(load[0], 2)} → ${fmt(load[1], 2)} (1-minute, at the start and the end; other jobs share these cores), ${machine}.*`;
}

function heSection(r: Json | undefined): string[] {
  const out = ['## 1. OWSD against its homomorphic-encryption peer', '', provenance(r, 'node dist/bench/he-vs-owsd.js')];
  if (!r) return out;
  const t = obj(r.task);
  out.push('', `The demo's task (${String(t.testImages ?? '?')} Imagenette test images, 10 labels), encoder ${String(t.encoder)}, cloud ${String(t.cloud)} in another process on loopback, the default key (${String(t.imageSize)} px, ${String(t.baseChannels)} channels, ${String(t.design)}, ${String(t.embeddingNoise)}x noise); HE: a CKKS linear head on the same embeddings, in-process (no transport counted). OWSD / HE, at most the target:`, '');
  out.push(table(['target', 'OWSD', 'HE', 'ratio', 'target', 'verdict'], arr(r.targets).map((x) => [String(x.target), String(x.owsd), String(x.he), fmt(x.ratio, 2), `≤ ${fmt(x.atMost, 2)}`, verdict(x.met === true)])));
  const o = obj(r.owsd);
  out.push('', `OWSD at batch 1: ${fmt(o.msPerImageBatch1)} ms per image (median ${fmt(o.msPerImageBatch1Median)}), the encoder ${fmt(r.encoderMsPerImage)} ms of it, the cloud round trip ${fmt(o.cloudRoundTripMsBatch1)} ms and the key's budget count ${fmt(o.ledgerReserveMsBatch1, 2)} ms (each timed alone); at batch 32 ${fmt(o.msPerImageBatch32)} ms per image. Top-1 ${pct(o.top1)} (IIN on the embedding alone ${pct(o.top1EmbeddingAlone)}).`, '');
  out.push(table(['HE', 'encrypt ms', 'evaluate ms', 'decrypt ms', 'ms/image b1', 'ms/image, 2 workers', 'KB up', 'KB down', 'top-1'], arr(r.he).map((h) => [String(h.params), fmt(h.encryptMs, 2), fmt(h.evaluateMs, 2), fmt(h.decryptMs, 2), fmt(h.msPerImage), fmt(h.msPerImageParallel), fmt((num(h.bytesUpPerImage) ?? NaN) / 1024), fmt((num(h.bytesDownPerImage) ?? NaN) / 1024), pct(h.top1)])));
  return out;
}

function generatorSection(r: Json | undefined): string[] {
  const out = ['## 2. The generator against the machine\'s matmul rate', '', provenance(r, 'node dist/bench/stages.js')];
  if (!r) return out;
  const p = obj(r.peakGflops);
  out.push('', `Share of an onnxruntime float32 MatMul 1024³ measured in the same run (${fmt(obj(p.before).median)} GFLOP/s before the stages, ${fmt(obj(p.after).median)} after). Targets: 50% at batch 1, 85% at batch 32, at 256 px.`, '');
  out.push(table(['generator', 'batch', 'images/s', 'GFLOP/s', 'share of matmul', 'CPU-ms/image', 'target', 'verdict'], arr(r.generatorShares).map((s) => {
    const target = s.batch === 32 ? 0.85 : 0.5;
    return [String(s.generator), String(s.batch), fmt(s.imagesPerSecond), fmt(s.gflops), pct(s.shareOfMatmul), fmt(s.cpuMsPerImage, 2), pct(target), verdict((num(s.shareOfMatmul) ?? 0) >= target)];
  })));
  out.push('', 'Every stage (images/s, share of the matmul rate):', '');
  out.push(table(['stage', 'batch', 'images/s', 'GFLOP/image', 'share of matmul'], arr(r.rows).map((s) => [String(s.stage), String(s.batch), fmt(s.imagesPerSecond), s.gflopPerImage === undefined ? '' : fmt(s.gflopPerImage, 3), s.shareOfPeak === undefined ? '' : pct(s.shareOfPeak)])));
  return out;
}

function privacySection(r: Json | undefined): string[] {
  const out = ['## 3. What the privacy layer costs the organization', '', provenance(r, 'node dist/bench/privacy.js')];
  if (!r) return out;
  const t = obj(r.task);
  out.push('', `Images/s of decode + encoder (${String(t.encoder)}) alone against the client path (the same, plus the key's generator at ${String(t.imageSize)} px with its noise, PNG and the IIN), taking turns call by call; median of ${String(t.rounds ?? '?')} rounds. Target: the client path at least 80% of the encoder alone.`, '');
  out.push(table(['batch', 'encoder alone', 'client path', 'ratio', 'verdict', 'client path + budget count', 'ratio'], arr(r.rows).map((x) => [String(x.batch), fmt(x.encoderAlone), fmt(x.clientPath), pct(x.ratio), verdict(x.met === true), fmt(x.clientPathWithLedger), pct(x.ratioWithLedger)])));
  return out;
}

function latencySection(r: Json | undefined): string[] {
  const out = ['## 4 and 6. Batch-1 latency by stage, and the bytes on the wire', '', provenance(r, 'node dist/bench/latency.js')];
  if (!r) return out;
  const t = obj(r.task);
  const m = obj(r.medianMs);
  const names: Array<[string, string]> = [
    ['decode', 'decode (file → encoder input)'],
    ['encode', `encode (${String(t.encoder)})`],
    ['generate', `generate (key, ${String(t.imageSize)} px)`],
    ['png', 'PNG'],
    ['ledger', "the key's budget count (the mean: one durable write per block)"],
    ['httpJson', 'HTTP, JSON wire'],
    ['cloudJson', `cloud (${String(t.cloud)}), JSON request`],
    ['httpBinary', 'HTTP, binary wire'],
    ['cloudBinary', `cloud (${String(t.cloud)}), binary request`],
    ['cloudPreprocess', "  of which, called directly: the cloud's preprocessing (decode, resize, crop, normalise)"],
    ['cloudRun', "  of which, called directly: the cloud's model run"],
    ['iin', 'IIN'],
  ];
  out.push('', `Median over ${String(t.images ?? '?')} Imagenette images (the budget count: the mean), each stage timed on its own.`, '');
  out.push(table(['stage', 'ms'], [...names.filter(([k]) => m[k] !== undefined).map(([k, label]) => [label, fmt(m[k], 2)]), ['sum, JSON wire', fmt(r.totalMsJson)], ['sum, binary wire', fmt(r.totalMsBinary)]]));
  const w = obj(r.wire);
  out.push('', table(['wire', 'bytes up', 'bytes down'], [['JSON (base64 PNG)', String(obj(w.json).bytesUpPerImage), String(obj(w.json).bytesDownPerImage)], ['binary_tensor_data (raw PNG up, FP32 down)', String(obj(w.binary).bytesUpPerImage), String(obj(w.binary).bytesDownPerImage)]]));
  return out;
}

function otherSection(rs: Records): string[] {
  const out = ['## Other benches'];
  const iin = rs['iin-train'];
  out.push('', '### IIN training', '', provenance(iin, 'node dist/bench/iin-train.js'));
  if (iin) out.push('', `${String(iin.epochs)} epochs over ${String(iin.samples)} samples (${String(iin.inputDim)} → ${String(iin.hidden)} → ${String(iin.classes)}): ${fmt(iin.seconds)} s, ${fmt(iin.msPerEpoch)} ms per epoch, ${pct(iin.shareOfMatmul)} of the matmul rate at its batch.`);
  const cs = rs['cloud-server'];
  out.push('', '### The embedded cloud server', '', provenance(cs, 'node dist/bench/cloud-server.js'));
  if (cs) {
    const l = obj(cs.latencyMs);
    out.push('', `${String(cs.model)} on ${String(cs.imageSize)} px PNGs, ${String(cs.concurrency)} requests in flight: ${fmt(cs.imagesPerSecond)} images/s, latency p50 ${fmt(l.p50)} / p90 ${fmt(l.p90)} / p99 ${fmt(l.p99)} ms, ${String(cs.errors)} errors.`);
  }
  const gw = rs.gateway;
  out.push('', '### The gateway: single-image requests, batched', '', provenance(gw, 'node dist/bench/gateway.js'));
  if (gw) out.push('', `${String(gw.size)} px key, cloud ${String(gw.model)} embedded in the same process, all on loopback:`, '', table(['requests', 'images/s', 'gateway batches'], arr(gw.rows).map((x) => [String(x.name), fmt(x.imagesPerSecond), String(x.batches)])));
  const sc = rs.scale;
  out.push('', '### Scale-out workers (Redis)', '', provenance(sc, 'node dist/bench/scale.js'));
  if (sc) out.push('', table(['workers', 'images/s', 'against 1 worker'], arr(sc.rows).map((x) => [String(x.workers), fmt(x.imagesPerSecond), `${fmt(x.ratio, 2)}x`])));
  const g = rs.growth;
  out.push('', '### Growth with batch, image size and labels', '', provenance(g, 'node dist/bench/growth.js'));
  if (g) out.push('', table(['what', 'value', 'items/s', 'ms/item', 'peak RSS MB'], arr(g.points).map((x) => [String(x.kind), String(x.value), fmt(x.itemsPerSecond), fmt(x.perItemMs, 2), String(x.peakRssMb)])));
  return out;
}

/** The page, from the records alone (deterministic: the same records give the same bytes). */
export function renderBenchSummary(rs: Records): string {
  const dates = SUMMARY_RECORDS.map((n) => rs[n]?.date).filter((d): d is string => typeof d === 'string').sort();
  return [
    '# Benchmarks: the last run\'s figures',
    '',
    '<!-- Written by bench/summary.ts from reports/bench/*.json: do not edit by hand. `npm run bench` rewrites it. -->',
    '',
    `Written by \`npm run bench\` (bench/all.ts runs every bench, then bench/summary.ts writes this page from their records in reports/bench/; \`node dist/bench/summary.js\` rewrites it from the records on disk). Records from ${dates.length ? `${dates[0]!.slice(0, 16).replace('T', ' ')} to ${dates[dates.length - 1]!.slice(0, 16).replace('T', ' ')} UTC` : 'none'}. The machine is shared: each table gives the load it ran under, and the ratios inside one bench are measured side by side in that run. test/bench-summary.test.ts checks that this page is what the committed records give. How the figures are read, and why some targets are out of reach: [results.md](results.md), [generator-choice.md](generator-choice.md), [performance-wire.md](performance-wire.md), [performance-encoders.md](performance-encoders.md).`,
    '',
    ...heSection(rs['he-vs-owsd']),
    '',
    ...generatorSection(rs.stages),
    '',
    ...privacySection(rs.privacy),
    '',
    ...latencySection(rs.latency),
    '',
    ...otherSection(rs),
    '',
  ].join('\n');
}

export function writeBenchSummary(dir?: string, page = SUMMARY_PAGE): string {
  const text = renderBenchSummary(readRecords(dir));
  fs.writeFileSync(page, text);
  return page;
}

if (isMain(import.meta.url)) console.log(`wrote ${path.relative(process.cwd(), writeBenchSummary())}`);
