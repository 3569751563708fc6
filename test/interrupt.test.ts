/**
 * Ctrl-C during `owsd fit` (a real process, a real cloud behind a slow proxy): it exits 130 and says how many
 * answers are journaled and the command that resumes; the rerun says how many it reused and sends only the rest.
 * A fit that fails before any answer leaves no `.work` folder; the demo leaves nothing in the temp folder.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, journaledAnswers, writeKeyFile } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { dataDir, modelsDir, repoRoot, runOwsd, tempDir } from './helpers.js';
import { startRecordingProxy, type RecordingProxy } from './proxy.js';

const CLOUD_MODEL = 'cifar10-resnet20';
const TRAIN = 24;
const dir = tempDir('owsd-interrupt-');
const keyFile = path.join(dir, 'k.key');
const out = path.join(dir, 'b');
let cloud: RunningCloud;
let proxy: RecordingProxy;

before(async () => {
  cloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  proxy = await startRecordingProxy(cloud.url, { delayMs: 400 });
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(61), imageSize: 32, budget: 500 }));
});
after(async () => {
  await proxy?.close();
  await cloud?.close();
});

const fitArgs = (url: string, o = out) => [
  'fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--models', modelsDir,
  '--cloud', url, '--model-name', CLOUD_MODEL, '--data', path.join(dataDir, 'imagenette-val'), '--labels', '3', '--per-label', String(TRAIN / 3),
  '--seed', '5', '--epochs', '3', '--hidden', '16', '--batch-size', '4', '--concurrency', '1', '--out', o,
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('Ctrl-C during fit: exit 130, the journaled count and the resume command; the rerun reuses them', async () => {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/src/cli/main.js'), ...fitArgs(proxy.url)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const work = `${out}.work`;
  // Interrupt once a few answers are journaled (the cloud answers one request of 4 images every 400 ms).
  for (let i = 0; i < 600 && journaledAnswers(work) < 8; i++) await sleep(50);
  assert.ok(journaledAnswers(work) >= 8, 'answers were journaled before the interrupt');
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr);
  const n = journaledAnswers(work);
  assert.ok(n < TRAIN, `interrupted before the end (${n} journaled)`);
  const m = /interrupted \(SIGINT\): (\d+) cloud answer\(s\) journaled in (.*?); they are not sent again\. Resume with:\n {2}(owsd fit .*)\n/.exec(stderr);
  assert.ok(m, stderr);
  assert.equal(Number(m[1]), n);
  assert.equal(m[2], work);
  assert.ok(m[3]!.includes(`--out ${out}`) && m[3]!.includes(`--cloud ${proxy.url}`), m[3]);
  assert.ok(!/\n\s+at /.test(stderr), 'no stack trace');

  const sentBefore = proxy.imagesForwarded();
  const again = await runOwsd(fitArgs(proxy.url), { ...process.env });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`owsd fit: reused ${n} of ${TRAIN} cloud answers journaled in ${work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(not sent again\\)`));
  assert.equal(proxy.imagesForwarded() - sentBefore, TRAIN - n, 'the rerun sends only what was not journaled');
});

test('a fit that fails before any answer (cloud down) leaves no .work folder', async () => {
  const o = path.join(dir, 'down');
  const r = await runOwsd(fitArgs('http://127.0.0.1:9', o), { ...process.env });
  assert.notEqual(r.code, 0);
  assert.ok(!fs.existsSync(`${o}.work`), 'no empty work folder');
  assert.ok(!fs.existsSync(o));
});

test('the demo removes its temp folder (key, bundle, journal) when it ends', async () => {
  const tmp = tempDir('owsd-demo-tmp-');
  const r = await runOwsd(['demo', '--models', modelsDir, '--data', dataDir, '--labels', '2', '--per-label', '6', '--image-size', '32', '--cloud-model', CLOUD_MODEL, '--quiet'], { ...process.env, TMPDIR: tmp });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(tmp), [], 'nothing left in the temp folder');
});
