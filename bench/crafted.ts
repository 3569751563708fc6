/**
 * Time and peak memory of decoding each input of the crafted corpus (test/crafted-images.ts) for the MobileNetV2
 * encoder's preprocessing (resize 256, centre crop 224, normalise), as `owsd scramble` does it: each input written
 * to a file beside a `secret.txt` and a `secret.png` (what the SVGs try to include), decoded in a fresh child
 * process whose peak RSS is `process.resourceUsage().maxRSS`. A child still running after the cap (default 60 s)
 * is killed with SIGKILL (a librsvg render ignores SIGTERM) and reported as "> 60 s".
 *
 *   npm run build && node dist/bench/crafted.js [--json] [--cap SECONDS] [--only NAME,NAME]
 *        (OWSD_MODELS or ../shared; the "before" and "after" tables of issue 16 came from this command)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PreprocessSpec } from '../src/models/spec.js';

interface ChildResult {
  ok: boolean;
  ms: number;
  maxRssMb: number;
  /** Output size when decoded, or the error message (first 160 characters). */
  detail: string;
}

export interface CraftedRow {
  input: string;
  bytes: number;
  outcome: string;
  /** Wall time of the decode inside the child, ms (absent when the child was killed). */
  ms?: number;
  /** Peak RSS of the child, MB (absent when the child was killed). */
  peakRssMb?: number;
  detail: string;
}

/** In the child: decode one file for the encoder and report. */
async function child(file: string, specJson: string): Promise<void> {
  const { loadForModel, normalizeInto, outputSize } = await import('../src/image/preprocess.js');
  const spec = JSON.parse(specJson) as PreprocessSpec;
  const t0 = performance.now();
  let result: ChildResult;
  try {
    const img = await loadForModel({ kind: 'file', path: file }, spec);
    const size = outputSize(spec);
    normalizeInto(img, spec, 'NCHW', new Float32Array(3 * size * size));
    result = { ok: true, ms: performance.now() - t0, maxRssMb: 0, detail: `${img.width}x${img.height}` };
  } catch (e) {
    result = { ok: false, ms: performance.now() - t0, maxRssMb: 0, detail: (e as Error).message.slice(0, 160) };
  }
  result.maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

function runChild(file: string, spec: PreprocessSpec, capSeconds: number): Promise<ChildResult | 'killed'> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', file, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let killed = false;
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', () => {});
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, capSeconds * 1000);
    p.on('close', () => {
      clearTimeout(timer);
      if (killed) return resolve('killed');
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
      } catch {
        resolve({ ok: false, ms: NaN, maxRssMb: NaN, detail: `child died: ${out.slice(0, 120)}` });
      }
    });
  });
}

export async function runCraftedBench(opts: { capSeconds?: number; only?: string[] } = {}): Promise<{ rows: CraftedRow[]; capSeconds: number; loadAverage: number[] }> {
  const capSeconds = opts.capSeconds ?? 60;
  const { craftedCorpus } = await import('../test/crafted-images.js');
  const { resolveModel } = await import('../src/models/registry.js');
  const { modelsDir } = await import('../test/helpers.js');
  const spec = (await resolveModel('mobilenetv2-12-int8', { modelsDir })).preprocess;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-crafted-'));
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'the content of a private file beside the image\n');
  fs.copyFileSync(path.join(dir, 'secret.txt'), path.join(dir, 'secret.png'));
  const rows: CraftedRow[] = [];
  try {
    for (const c of await craftedCorpus()) {
      if (opts.only && !opts.only.includes(c.name)) continue;
      const file = path.join(dir, c.name);
      fs.writeFileSync(file, c.bytes);
      const r = await runChild(file, spec, capSeconds);
      fs.rmSync(file);
      rows.push(
        r === 'killed'
          ? { input: c.name, bytes: c.bytes.length, outcome: `> ${capSeconds} s (killed)`, detail: '' }
          : { input: c.name, bytes: c.bytes.length, outcome: r.ok ? 'decoded' : 'refused', ms: Math.round(r.ms), peakRssMb: r.maxRssMb, detail: r.detail.replace(dir + path.sep, '') },
      );
      console.error(`${c.name}: ${rows.at(-1)!.outcome} ${rows.at(-1)!.ms ?? ''} ms`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows, capSeconds, loadAverage: os.loadavg().map((l) => +l.toFixed(2)) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') return child(argv[1]!, argv[2]!);
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const startLoad = os.loadavg().map((l) => +l.toFixed(2));
  const result = await runCraftedBench({ capSeconds: arg('--cap') ? Number(arg('--cap')) : undefined, only: arg('--only')?.split(',') });
  const record = { bench: 'crafted', date: new Date().toISOString(), ...result, loadAverageAtStart: startLoad, cores: os.availableParallelism(), node: process.version };
  if (argv.includes('--json')) {
    console.log(JSON.stringify(record, null, 2));
    return;
  }
  const { printTable } = await import('./lib.js');
  printTable(result.rows.map((r) => ({ ...r, detail: r.detail.slice(0, 90) })), ['input', 'bytes', 'outcome', 'ms', 'peakRssMb', 'detail']);
  console.log(`cap ${result.capSeconds} s per input; load average (1, 5, 15 min) ${startLoad.join(' ')} at start, ${result.loadAverage.join(' ')} at end; ${record.cores} cores`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
