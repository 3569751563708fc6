/**
 * Local serving (issue 17 item 5): `owsd serve --local --bundle DIR` and `startGateway({ local: true })` answer with
 * the bundle's embedding-alone IIN and send nothing to any cloud. A real fit (`owsd fit --json` as a process, 3
 * Imagenette labels, CIFAR-10 ResNet-20 as the cloud on loopback) goes through a TCP relay that counts every
 * connection made to the bundle's cloud address; `--cloud` points at a listening socket that counts (and drops)
 * every connection. Both must stay at zero while the local gateway starts, classifies, reports its status and
 * refuses rotation, in the library and in the CLI process. Its results must equal the embedding-alone IIN's own
 * predictions, computed here apart from the gateway (the same arrival decode, the encoder, `Iin` on
 * `bundle.iins.embedding`). fit's and eval's verdicts offer the command when the cloud gain is within noise.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createKey, decodeRgb, Encoder, evaluate, Iin, readBundle, readKeyFile, resolveModel, selectData, topK, UsageLedger, writeKeyFile } from '../src/index.js';
import { startCloudServer, startGateway, type RunningCloud } from '../src/server/index.js';
import { SUCCESSOR_FILE } from '../src/pipeline/rotate.js';
import { arrivalResize } from '../src/server/request.js';
import { fitLocalAdvice, localServeCommand, renderEval, renderFit } from '../src/cli/render.js';
import { dataDir, modelsDir, runOwsd, startServeProcess, tempDir } from './helpers.js';

/** A listening socket on 127.0.0.1 that counts every connection; with `target`, relays it there (else drops it). */
async function connectionCounter(target?: number): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    n++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (target === undefined) return void socket.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => n,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const dir = tempDir('owsd-gw-local-');
const keyFile = path.join(dir, 'org.key');
const secret = new Uint8Array(32).map((_, i) => 31 + i);
writeKeyFile(keyFile, createKey({ secret, imageSize: 64, budget: 400, embeddingNoise: 0 }));
const key = readKeyFile(keyFile);
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 3, perLabel: 12, testFraction: 0.25, seed: 5 };
const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
// The bundle names this relay as its cloud: every connection to the bundle's cloud address is counted.
const relay = await connectionCounter(cloud.port);
// `--cloud` in local mode points here: a listening socket that counts and drops every connection.
const sink = await connectionCounter();
const bundleDir = path.join(dir, 'org.bundle');
const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_DATA: dataDir };
const fitRun = await runOwsd(
  ['fit', '--key', keyFile, '--encoder', 'mobilenetv2-12-int8', '--cloud', relay.url, '--model-name', 'cifar10-resnet20', '--data', data.path, '--labels', '3', '--per-label', '12', '--test-fraction', '0.25', '--seed', '5', '--epochs', '30', '--hidden', '64', '--out', bundleDir, '--json'],
  env,
);
assert.equal(fitRun.code, 0, fitRun.stderr);
// fit --json writes each validation accuracy as {top1} (docs/json.md); renderFit takes the library's numbers.
const fitJsonOut = JSON.parse(fitRun.stdout) as Omit<Parameters<typeof renderFit>[0], 'validation'> & ReturnType<typeof fitLocalAdvice> & { validation: { both: { top1: number | null }; embedding: { top1: number | null }; cloud: { top1: number | null }; cloudGain: number | null } };
const fitted = { ...fitJsonOut, validation: { both: fitJsonOut.validation.both.top1, embedding: fitJsonOut.validation.embedding.top1, cloud: fitJsonOut.validation.cloud.top1, cloudGain: fitJsonOut.validation.cloudGain } };
const bundle = readBundle(bundleDir);
const held = (await selectData(data)).test; // 9 images the IINs never saw
const report = await evaluate({ bundle: bundleDir, keys: [key], modelsDir }); // the held-out split, with the cloud
const heldFile = (i: number) => (held[i]!.image as { path: string }).path;
const b64 = (file: string) => fs.readFileSync(file).toString('base64');
// From here on, nothing may connect to either address.
const relayBefore = relay.connections();
const usedBefore = UsageLedger.open(key).used;

after(async () => {
  await relay.close();
  await sink.close();
  await cloud.close();
});

function assertNothingSent(when: string): void {
  assert.equal(relay.connections() - relayBefore, 0, `${when}: connections to the bundle's cloud address`);
  assert.equal(sink.connections(), 0, `${when}: connections to the --cloud address`);
  assert.equal(UsageLedger.open(key).used, usedBefore, `${when}: submissions counted against the key`);
}

/** The embedding-alone IIN's own top-k for files, apart from the gateway: arrival decode, encoder, Iin. */
async function embeddingAlonePredictions(files: string[], k: number): Promise<Array<Array<{ label: string; score: number }>>> {
  const encoder = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  try {
    const resize = arrivalResize(encoder.preprocess);
    const images = await Promise.all(files.map(async (f) => {
      const img = await decodeRgb({ kind: 'encoded', bytes: fs.readFileSync(f) }, { resize });
      return { kind: 'raw' as const, data: img.data, width: img.width, height: img.height, channels: 3 as const };
    }));
    const x = await encoder.encode(images);
    const iin = await Iin.create(bundle.iins.embedding.weights);
    const probs = await iin.predict(x, files.length);
    return topK(probs, files.length, bundle.classes.length, k).map((r) => r.map(({ index, score }) => ({ label: bundle.classes[index]!, score })));
  } finally {
    await encoder.release();
  }
}

test('startGateway({ local: true }): results equal the bundle\'s embedding-alone IIN; no cloud labels, key or scrambled image; nothing sent, nothing counted', async () => {
  assert.ok(relayBefore > 0, 'the relay counts: fit and eval went through it');
  const logs: string[] = [];
  // No key given at all: local serving needs none.
  const gw = await startGateway({ local: true, bundle: bundleDir, cloud: { url: sink.url }, port: 0, modelsDir, log: (l) => logs.push(l) });
  try {
    assert.equal(gw.gateway.mode, 'local');
    const files = held.map((_, i) => heldFile(i));
    const res = await fetch(`${gw.url}/v1/classify?details=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: files.map(b64), top: 3 }) });
    const body = (await res.json()) as { keyIds: string[]; results: Array<Record<string, any>> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.keyIds, []);
    const expected = await embeddingAlonePredictions(files, 3);
    body.results.forEach((r, i) => {
      assert.deepEqual(r.predictions.map((p: any) => p.label), expected[i]!.map((p) => p.label), `image ${i}`);
      r.predictions.forEach((p: any, j: number) => assert.ok(Math.abs(p.score - expected[i]![j]!.score) < 1e-4, `image ${i} label ${j}: ${p.score} vs ${expected[i]![j]!.score}`));
      assert.deepEqual(r.cloud, []);
      assert.equal(r.keyId, undefined);
      assert.equal(r.scrambled, undefined, 'nothing was scrambled, even with details');
    });
    // Well above chance (1/3) on held-out images, as fit's validation said the embedding alone would be.
    const right = body.results.filter((r, i) => r.predictions[0].label === bundle.classes[held[i]!.label]).length;
    assert.ok(right / held.length >= 0.5, `held-out top-1 ${right}/${held.length}`);

    // One bad image among good ones fails alone.
    const mixed = await fetch(`${gw.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [b64(files[0]!), Buffer.from('not an image').toString('base64')] }) });
    const m = (await mixed.json()) as { failed: number; results: Array<Record<string, any>> };
    assert.equal(mixed.status, 200);
    assert.equal(m.failed, 1);
    assert.equal(m.results[0]!.predictions[0].label, expected[0]![0]!.label);
    assert.match(m.results[1]!.error, /^images\[1\]: cannot decode image/);

    assertNothingSent('library gateway, after classifying');
    assert.ok(logs.some((l) => /^POST \/v1\/classify 200 /.test(l)));
  } finally {
    await gw.close();
  }
  assertNothingSent('library gateway, after closing');
});

test('local status: mode local, no keys (no submissions spent), cloud null (no health check), not rotatable; rotation refused with a clear 403; OpenAPI documents the mode', async () => {
  const gw = await startGateway({ local: true, bundle: bundleDir, keyFiles: [keyFile], cloud: { url: sink.url }, port: 0, modelsDir, log: false });
  try {
    const s = (await (await fetch(`${gw.url}/v1/status`)).json()) as Record<string, any>;
    assert.equal(s.mode, 'local');
    assert.deepEqual(s.keys, []);
    assert.equal(s.warning, null);
    assert.equal(s.cloud, null);
    assert.equal(s.bundle.rotatable, false);
    assert.deepEqual(s.bundle.validation.embedding, { top1: bundle.iins.embedding.validationAccuracy }, 'accuracies are {top1} objects, as fit --json gives them');
    assert.equal(s.rotation.state, 'idle');

    const rot = await fetch(`${gw.url}/v1/keys/rotate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const r = (await rot.json()) as Record<string, string>;
    assert.equal(rot.status, 403);
    assert.equal(r.code, 'OWSD_ERR_FORBIDDEN');
    assert.match(r.error, /serves locally \(owsd serve --local\): it uses no key, so there is none to rotate/);
    assert.throws(() => gw.gateway.rotate(), /there is none to rotate/);

    const api = (await (await fetch(`${gw.url}/v1/openapi.json`)).json()) as Record<string, any>;
    assert.deepEqual(api.components.schemas.Status.properties.mode.enum, ['local', 'cloud']);
    assert.match(api.components.schemas.ClassifiedImage.properties.cloud.description, /empty in local mode/);
    assertNothingSent('library gateway with --key given, after status and a refused rotation');
  } finally {
    await gw.close();
  }
  // The same bundle served with the cloud says mode cloud (and does contact it).
  const cloudGw = await startGateway({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, port: 0, modelsDir, log: false });
  try {
    const s = (await (await fetch(`${cloudGw.url}/v1/status`)).json()) as Record<string, any>;
    assert.equal(s.mode, 'cloud');
    assert.equal(s.cloud.health.ok, true);
    assert.equal(s.keys[0].keyId, key.id);
  } finally {
    await cloudGw.close();
  }
});

test('owsd serve --local as a process: --key and --redis accepted and unused, classifies like the library, status mode local, zero connections to any cloud, no secret in its log', async () => {
  // --redis points at the counting socket too: local mode has no submissions to count, so it must not connect.
  const { server, url, log } = await startServeProcess(['--local', '--bundle', bundleDir, '--key', keyFile, '--cloud', sink.url, '--redis', sink.url.replace('http:', 'redis:'), '--models', modelsDir]);
  try {
    const res = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: [b64(heldFile(0)), b64(heldFile(4))], top: 1 }) });
    const body = (await res.json()) as { keyIds: string[]; results: Array<Record<string, any>> };
    assert.equal(res.status, 200, JSON.stringify(body));
    const expected = await embeddingAlonePredictions([heldFile(0), heldFile(4)], 1);
    assert.deepEqual(body.results.map((r) => r.predictions[0].label), expected.map((e) => e[0]!.label));
    assert.deepEqual(body.results.map((r) => r.cloud), [[], []]);
    const s = (await (await fetch(`${url}/v1/status`)).json()) as Record<string, any>;
    assert.equal(s.mode, 'local');
    assert.equal(s.cloud, null);
    const text = log.join('');
    assert.match(text, /serving 3 labels locally \(embedding alone: nothing leaves this machine, no key used\)/);
    assert.match(text, /local mode: the key file\(s\) given are not used/);
    assert.match(text, /--local spends no submissions: --redis is not used/);
    assert.doesNotMatch(text, /\n\s+at /);
    assert.ok(!text.includes(Buffer.from(secret).toString('base64')) && !text.includes(Buffer.from(secret).toString('hex')), 'no secret in the log');
    assertNothingSent('owsd serve --local');
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
  assertNothingSent('owsd serve --local, after it stopped');
});

test('a bundle without its embedding-alone IIN: a clear error naming the bundle and the fix (library and CLI); a rotated bundle is followed to its successor without reading a key; without --local, --key is still required', async () => {
  const old = path.join(dir, 'old.bundle');
  fs.mkdirSync(old);
  const json = JSON.parse(fs.readFileSync(path.join(bundleDir, 'bundle.json'), 'utf8')) as { iins: Record<string, unknown> };
  delete json.iins.embedding;
  fs.writeFileSync(path.join(old, 'bundle.json'), JSON.stringify(json));
  await assert.rejects(
    startGateway({ local: true, bundle: old, port: 0, modelsDir, log: false }),
    (e: any) => e.code === 'OWSD_ERR_BUNDLE' && e.message.includes(`bundle ${old} has no embedding-alone IIN`) && /refit it with owsd fit/.test(e.message),
  );
  const cli = await runOwsd(['serve', '--local', '--bundle', old, '--port', '0', '--models', modelsDir], env);
  assert.equal(cli.code, 3, cli.stderr);
  assert.match(cli.stderr, new RegExp(`bundle ${old.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has no embedding-alone IIN \\(iins\\.embedding\\), which local serving needs: refit it with owsd fit`));
  assert.doesNotMatch(cli.stderr, /\n\s+at /);
  // A rotated bundle is followed to its successor by its rotation record alone (no key file is read): here the
  // retired bundle has no embedding-alone IIN, its successor does.
  const retired = path.join(dir, 'retired.bundle');
  fs.mkdirSync(retired);
  fs.writeFileSync(path.join(retired, 'bundle.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(retired, SUCCESSOR_FILE), JSON.stringify({ bundle: bundleDir, keyFiles: [path.join(dir, 'no-such.key')], keyIds: [key.id], rotated: new Date().toISOString() }));
  const logs: string[] = [];
  const gw = await startGateway({ local: true, bundle: retired, port: 0, modelsDir, log: (l) => logs.push(l) });
  try {
    assert.equal(gw.gateway.mode, 'local');
    assert.ok(logs.includes(`bundle ${retired} was rotated: serving its successor ${bundleDir}`), logs.join('\n'));
  } finally {
    await gw.close();
  }
  const noKey = await runOwsd(['serve', '--bundle', bundleDir, '--port', '0', '--models', modelsDir], env);
  assert.equal(noKey.code, 2, noKey.stderr);
  assert.match(noKey.stderr, /give the bundle's key file\(s\) with --key \(or serve the embedding-alone IIN with --local, which needs none\)/);
  assertNothingSent('refused starts');
});

test('fit --json says suggestLocal with the reason and the command when the cloud gain is within noise; the text and eval\'s verdict offer owsd serve --local --bundle DIR', () => {
  // The real fit's own answer, whichever way it went, agrees with its text output.
  assert.equal(typeof fitted.suggestLocal, 'boolean');
  assert.match(fitted.suggestLocalReason, /^On the validation images: The cloud (adds nothing measurable|adds [+-])/);
  assert.equal(fitted.localServeCommand, fitted.suggestLocal ? `owsd serve --local --bundle ${bundleDir}` : null);
  const text = renderFit(fitted);
  assert.ok(text.includes(fitted.suggestLocalReason));
  assert.equal(text.includes(`owsd serve --local --bundle ${bundleDir}`), fitted.suggestLocal);

  // The same result with the gain set within noise, and far outside it.
  const v = fitted.validation;
  const flat = { ...fitted, validation: { ...v, both: v.embedding, cloudGain: 0 } };
  const a = fitLocalAdvice(flat);
  assert.equal(a.suggestLocal, true);
  assert.match(a.suggestLocalReason, /The cloud adds nothing measurable here \(gain \+0\.0 points/);
  assert.match(renderFit(flat), new RegExp(`^Serve it locally, sending nothing to any cloud \\(no key, no submissions, same API and web page\\): owsd serve --local --bundle ${bundleDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  const big = { ...fitted, validation: { ...v, both: 0.99, embedding: 0.4, cloudGain: 0.59 } };
  assert.equal(fitLocalAdvice(big).suggestLocal, false);
  assert.doesNotMatch(renderFit(big), /--local/);
  assert.equal(localServeCommand('/tmp/my bundle'), "owsd serve --local --bundle '/tmp/my bundle'");

  // eval: the same line under its verdict when its paired gain is within noise.
  assert.match(renderEval({ ...report, cloudGain: 0, cloudGainStdErr: 0.05 }, bundleDir), /adds nothing measurable[^\n]*\nServe it locally, sending nothing to any cloud[^\n]*owsd serve --local --bundle /);
  assert.doesNotMatch(renderEval({ ...report, cloudGain: 0.5, cloudGainStdErr: 0.01 }, bundleDir), /--local/);
});

test('control: the same counters do see a gateway in cloud mode contact the --cloud address (so the zero counts above mean nothing was tried)', async () => {
  const before = sink.connections();
  const gw = await startGateway({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: sink.url }, port: 0, modelsDir, log: false });
  try {
    const s = (await (await fetch(`${gw.url}/v1/status`)).json()) as Record<string, any>;
    assert.equal(s.mode, 'cloud');
    assert.equal(s.cloud.health.ok, false);
  } finally {
    await gw.close();
  }
  assert.ok(sink.connections() > before, 'the cloud-mode gateway connected to the --cloud address');
});
