/**
 * kill -9 mid-`fit`, repeated: `owsd fit` runs as a child process against a recording proxy in front of the real
 * embedded cloud and is killed with SIGKILL at seeded random moments (while models load, or just after the
 * cloud got its k-th request). After every kill the usage ledger must be readable, count at least every image
 * the cloud received, and stay within the budget; a final rerun must complete and send only what never came
 * back (what the journal lacks). The seed is OWSD_CRASH_SEED (default below) and every moment is printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, readKeyFile, UsageLedger, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { VectorJournal } from '../src/pipeline/journal.js';
import { createRng } from '../src/internal/random.js';
import { dataDir, modelsDir, repoRoot, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';

const SEED = Number(process.env.OWSD_CRASH_SEED ?? 90210);
const CLOUD_MODEL = 'cifar10-resnet20';
const BUDGET = 200;
const TRAIN = 24;
const dir = tempDir('owsd-crash-');
const keyFile = path.join(dir, 'k.key');
const out = path.join(dir, 'b');
let cloud: RunningCloud;
let proxy: RecordingProxy;

before(async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  // A slow cloud (300 ms an answer) so that kills land while submissions are in flight.
  proxy = await startRecordingProxy(cloud.url, { delayMs: 300 });
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(41), imageSize: 32, budget: BUDGET }));
});
after(async () => {
  await proxy?.close();
  await cloud?.close();
});

const fitArgs = () => [
  path.join(repoRoot, 'dist/src/cli/main.js'), 'fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--models', modelsDir,
  '--cloud', proxy.url, '--model-name', CLOUD_MODEL, '--data', path.join(dataDir, 'imagenette-val'), '--labels', '3', '--per-label', String(TRAIN / 3),
  '--seed', '5', '--epochs', '3', '--hidden', '16', '--batch-size', '4', '--concurrency', '2', '--out', out, '--json',
];

/** Start fit; kill it with SIGKILL when `when` resolves (unless it has exited). */
async function runAndKill(when: (child: ReturnType<typeof spawn>) => Promise<void>): Promise<{ killed: boolean; code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, fitArgs(), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let killed = false;
  void Promise.race([when(child), exited]).then(() => {
    if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
  });
  const code = await exited;
  return { killed, code, stdout, stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function untilRequests(n: number): Promise<void> {
  while (proxy.requests.length < n) await sleep(5);
}

function journaled(): number {
  return VectorJournal.open(`${out}.work`, readKeyFile(keyFile).id, `${proxy.url}|${CLOUD_MODEL}`).size;
}

test('kill -9 at random moments, repeated: the ledger never under-counts or passes the budget; the rerun resends nothing answered', async (t) => {
  const rng = createRng(SEED);
  t.diagnostic(`seed ${SEED} (OWSD_CRASH_SEED)`);
  let kills = 0;
  for (let round = 0; round < 5; round++) {
    const before = proxy.requests.length;
    let moment: string;
    // Requests this run will make at least (batches of 4 not yet answered), so a kill after request k lands.
    const remaining = Math.ceil((TRAIN - journaled()) / 4);
    const r = await runAndKill(async () => {
      if (round === 0 || remaining < 2 || rng.next() < 0.25) {
        const ms = rng.int(1500);
        moment = `${ms} ms after start`;
        await sleep(ms);
      } else {
        const k = 1 + rng.int(Math.min(3, remaining - 1));
        const ms = rng.int(700); // long enough, often, for earlier answers (300 ms) to come back and be journaled
        moment = `${ms} ms after the cloud got request ${k} of this run`;
        await untilRequests(before + k);
        await sleep(ms);
      }
    });
    if (r.killed) kills++;
    const used = UsageLedger.open(readKeyFile(keyFile)).used;
    const received = proxy.imagesForwarded();
    t.diagnostic(`round ${round}: ${r.killed ? `killed ${moment!}` : `finished (code ${r.code}) before the kill`}; ledger ${used}, cloud received ${received}, journaled ${journaled()}`);
    assert.ok(r.killed || r.code === 0, r.stderr);
    assert.ok(used >= received, `round ${round}: ledger ${used} < ${received} images the cloud received`);
    assert.ok(used <= BUDGET, `round ${round}: ledger ${used} > budget ${BUDGET}`);
    if (!r.killed) break;
  }
  assert.ok(kills >= 3, `only ${kills} kills landed`);
  // The final rerun completes and sends exactly what the journal lacks.
  const have = journaled();
  const sentBefore = proxy.imagesForwarded();
  const final = await runAndKill(() => new Promise(() => {}));
  assert.equal(final.code, 0, final.stderr);
  const summary = JSON.parse(final.stdout) as { submissionsSent: number; trainSamples: number };
  assert.equal(summary.trainSamples, TRAIN);
  assert.equal(summary.submissionsSent, TRAIN - have);
  assert.equal(proxy.imagesForwarded() - sentBefore, TRAIN - have);
  assert.equal(journaled(), TRAIN);
  const used = UsageLedger.open(readKeyFile(keyFile)).used;
  assert.ok(used >= proxy.imagesForwarded() && used <= BUDGET, `ledger ${used}, received ${proxy.imagesForwarded()}`);
  t.diagnostic(`final: journal had ${have}, sent ${TRAIN - have}; ledger ${used} of ${BUDGET}, cloud received ${proxy.imagesForwarded()} in all`);
  // Killed writers may leave a temp file beside the ledger; never a torn ledger.
  assert.doesNotThrow(() => JSON.parse(fs.readFileSync(`${keyFile}.usage.json`, 'utf8')));
});
