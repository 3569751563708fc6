/** Test helpers: where ../shared is (OWSD_MODELS / OWSD_DATA or the checkout's sibling), temp dirs. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { createRng } from '../src/internal/random.js';
import { markScrambled, type ScrambledImage } from '../src/scrambler/scrambled.js';

/** The repository root, from dist/test/*.js or test/*.ts alike. */
export const repoRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

// Usage ledgers are kept by key id in a per-user state folder (src/key/ledger.ts): each test process gets a fresh
// one (children inherit it), so the fixed secrets tests use never meet the counts of earlier runs or other files.
process.env.OWSD_STATE = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-state-'));

export const modelsDir = process.env.OWSD_MODELS ?? path.resolve(repoRoot, '../shared/models');
export const dataDir = process.env.OWSD_DATA ?? path.resolve(repoRoot, '../shared/data');

export function tempDir(prefix = 'owsd-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The first `n` files of an Imagenette class folder. */
export function imagenetteFiles(n: number, wnid = 'n01440764'): string[] {
  const dir = path.join(dataDir, 'imagenette-val', wnid);
  return fs.readdirSync(dir).sort().slice(0, n).map((f) => path.join(dir, f));
}

/** Seeded noise pixels as PNG bytes: what scrambled images look like, for tests and benches of the cloud. */
export async function noisePngBytes(seed: number, width = 256, height = width): Promise<Uint8Array> {
  const rng = createRng(seed);
  const px = Buffer.alloc(width * height * 3);
  for (let i = 0; i < px.length; i++) px[i] = rng.int(256);
  return new Uint8Array(await sharp(px, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer());
}

/** The same, marked as a scrambled image, ready for a CloudClient. */
export async function noisePng(seed: number, width = 256, height = width): Promise<ScrambledImage> {
  return markScrambled(await noisePngBytes(seed, width, height));
}

/** Run the built CLI (`dist/src/cli/main.js`) with the given environment; never throws, returns the exit code. */
export async function runOwsd(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [path.join(repoRoot, 'dist/src/cli/main.js'), ...args], { env, maxBuffer: 1 << 26 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/** A free TCP port on 127.0.0.1 (the kernel's choice, released for the caller to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `owsd serve ARGS --port P` as its own process, ready when GET /v1/status answers; its output is collected in
 * `log`. Throws with that output when it does not come up within `waitMs`.
 */
export async function startServeProcess(args: string[], waitMs = 30_000): Promise<{ server: ChildProcess; port: number; url: string; log: string[] }> {
  const port = await freePort();
  const log: string[] = [];
  const server = spawn(process.execPath, [path.join(repoRoot, 'dist/src/cli/main.js'), 'serve', ...args, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  server.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + waitMs; Date.now() < until && server.exitCode === null; ) {
    try {
      if ((await fetch(`${url}/v1/status`)).ok) return { server, port, url, log };
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill('SIGKILL');
  throw new Error(`the gateway did not start: ${log.join('')}`);
}
