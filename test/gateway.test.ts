import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createKey, fit, readBundle, readKeyFile, selectData, UsageLedger, writeKeyFile } from '../src/index.js';
import { Gateway, startCloudServer, startGateway, type RunningCloud, type RunningGateway } from '../src/server/index.js';
import { SUCCESSOR_FILE } from '../src/pipeline/rotate.js';
import { LEDGER_BLOCK_MAX, ledgerPath } from '../src/key/ledger.js';
import { dataDir, modelsDir, repoRoot, runOwsd, tempDir } from './helpers.js';

// A small real fit (4 Imagenette labels, 12 images each, 75/25 split; CIFAR-10 ResNet-20 as the cloud on
// loopback), served by the real gateway over HTTP.
const dir = tempDir('owsd-gateway-');
const keyFile = path.join(dir, 'org.key');
const secret = new Uint8Array(32).map((_, i) => 90 + i);
// No per-submission noise on this key, so that the same image always gets the same answer (compared below);
// the two-key bundle further down uses the default noise.
writeKeyFile(keyFile, createKey({ secret, imageSize: 64, budget: 400, embeddingNoise: 0 }));
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 4, perLabel: 12, testFraction: 0.25, seed: 3 };
const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
const bundleDir = path.join(dir, 'org.bundle');
await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data, out: bundleDir, modelsDir, iin: { epochs: 30, hidden: 64, batchSize: 16 } });
const held = (await selectData(data)).test; // 12 images the IIN never saw
const bundle = readBundle(bundleDir);

const logs: string[] = [];
// warnAt 0.1: the fit used 36 of 400 (9%), so the warning comes after the first dozen images classified.
const gw: RunningGateway = await startGateway({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, port: 0, modelsDir, warnAt: 0.1, log: (l) => logs.push(l) });
const bodies: string[] = [];

test.after(async () => {
  await gw.close();
  await cloud.close();
});

async function call(route: string, init?: RequestInit): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${gw.url}${route}`, init);
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, json: JSON.parse(text) as Record<string, any> };
}

const postJson = (route: string, body: unknown) => call(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const b64 = (file: string) => fs.readFileSync(file).toString('base64');
const filePath = (i: number) => (held[i]!.image as { path: string }).path;

async function accuracyOnHeld(): Promise<{ top1: number; keyIds: string[] }> {
  const r = await postJson('/v1/classify', { images: held.map((s) => b64((s.image as { path: string }).path)), top: 1 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const right = r.json.results.filter((x: any, i: number) => x.predictions[0].label === bundle.classes[held[i]!.label]).length;
  return { top1: right / held.length, keyIds: r.json.results.map((x: any) => x.keyId) };
}

test('POST /v1/classify (JSON): true labels of held-out images, well above chance; the cloud\'s own top-5 beside them; the scrambled PNG on request', async () => {
  const status0 = await call('/v1/status');
  assert.equal(status0.json.warning, null);
  const { top1 } = await accuracyOnHeld();
  assert.ok(top1 >= 0.5, `held-out top-1 ${top1} (chance 0.25)`);

  const r = await postJson('/v1/classify?details=true', { images: [b64(filePath(0)), { data: `data:image/jpeg;base64,${b64(filePath(5))}`, name: 'five.jpg' }], top: 3 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.keyIds, [bundle.keyIds[0]]);
  const [a, b] = r.json.results;
  assert.equal(a.name, 'images[0]');
  assert.equal(b.name, 'five.jpg');
  for (const x of [a, b]) {
    assert.equal(x.predictions.length, 3);
    assert.ok(x.predictions[0].score >= x.predictions[1].score && x.predictions[1].score >= x.predictions[2].score);
    assert.ok(x.predictions.every((p: any) => bundle.classes.includes(p.label)));
    // The cloud answers in its own label space (CIFAR-10 names).
    assert.equal(x.cloud.length, 5);
    assert.ok(x.cloud.every((c: any) => ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'].includes(c.name)), JSON.stringify(x.cloud));
    // Exactly what was sent: a 64x64 PNG from the key's generator, not the photo.
    assert.match(x.scrambled, /^data:image\/png;base64,/);
    const png = Buffer.from(x.scrambled.slice('data:image/png;base64,'.length), 'base64');
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 64);
    assert.equal(meta.height, 64);
  }
  const plain = await postJson('/v1/classify', { images: [b64(filePath(0))] });
  assert.equal(plain.json.results[0].scrambled, undefined);
  assert.equal(plain.json.results[0].predictions.length, 4); // top 5 clamped to the bundle's 4 labels
  assert.equal(plain.json.results[0].predictions[0].label, a.predictions[0].label);
});

test('POST /v1/classify (multipart): several uploaded files in one request, named by file name', async () => {
  const form = new FormData();
  form.append('image', new Blob([fs.readFileSync(filePath(1))], { type: 'image/jpeg' }), 'one.jpg');
  form.append('image', new Blob([fs.readFileSync(filePath(2))], { type: 'image/jpeg' }), 'two.jpg');
  form.append('top', '2');
  const r = await call('/v1/classify', { method: 'POST', body: form });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.results.map((x: any) => x.name), ['one.jpg', 'two.jpg']);
  assert.ok(r.json.results.every((x: any) => x.predictions.length === 2));
});

test('concurrent requests are batched together and each gets its own answers, in order', async () => {
  const before = (await call('/v1/status')).json.served;
  const one = async (i: number) => (await postJson('/v1/classify', { images: [b64(filePath(i))], top: 1 })).json.results[0].predictions[0].label;
  const alone = [];
  for (let i = 0; i < 6; i++) alone.push(await one(i));
  const mid = (await call('/v1/status')).json.served;
  const together = await Promise.all([0, 1, 2, 3, 4, 5].map(one));
  const after = (await call('/v1/status')).json.served;
  assert.deepEqual(together, alone);
  assert.equal(mid.batches - before.batches, 6);
  assert.equal(after.images - mid.images, 6);
  assert.ok(after.batches - mid.batches < 6, `6 concurrent requests took ${after.batches - mid.batches} batches`);
});

test('GET /v1/status: key id, budget and use (counted per submission), the warning near the limit, cloud health, model', async (t) => {
  const s = (await call('/v1/status')).json;
  const key = readKeyFile(keyFile);
  assert.equal(s.keys.length, 1);
  assert.equal(s.keys[0].keyId, key.id);
  assert.equal(s.keys[0].budget, 400);
  assert.equal(s.keys[0].used, UsageLedger.open(key).used);
  assert.equal(s.keys[0].used, 36 + s.served.images);
  // The gateway's ledger counts ahead in blocks (src/key/ledger.ts): the disk may hold up to a block more than was
  // spent, and the status shows what was spent, not the block.
  const disk = JSON.parse(fs.readFileSync(ledgerPath(key.id), 'utf8')).used as number;
  assert.ok(disk >= s.keys[0].used && disk - s.keys[0].used <= LEDGER_BLOCK_MAX, `disk ${disk}, status ${s.keys[0].used}`);
  t.diagnostic(`ledger on disk ${disk}, status used ${s.keys[0].used}`);
  assert.match(s.warning, new RegExp(`key ${key.id} has used ${s.keys[0].used} of its 400 submissions`));
  assert.ok(logs.some((l) => l.startsWith(`warning: key ${key.id}`)), 'the warning is logged');
  assert.equal(logs.filter((l) => l.startsWith('warning:')).length, 1, 'once');
  assert.equal(s.cloud.health.ok, true);
  assert.equal(s.cloud.model, 'cifar10-resnet20');
  assert.deepEqual(s.bundle.encoders, ['mobilenetv2-12-int8']);
  assert.equal(s.bundle.classes.length, 4);
  assert.equal(s.bundle.rotatable, true);
  const api = (await call('/v1/openapi.json')).json;
  assert.equal(api.openapi, '3.1.0');
  assert.ok(api.paths['/v1/classify'].post.requestBody.content['multipart/form-data']);
});

test('EXPECTED FAILURE - bad input gets a 4xx JSON error naming the field, never a stack trace', async () => {
  const cases: Array<[Promise<{ status: number; json: Record<string, any> }>, number, RegExp, string?]> = [
    [postJson('/v1/classify', {}), 400, /^images: expected an array/, 'images'],
    [postJson('/v1/classify', { images: [] }), 400, /^images: expected at least one image/, 'images'],
    [postJson('/v1/classify', { images: [b64(filePath(0)), 'not base64 !!'] }), 400, /^images\[1\]: expected base64/, 'images[1]'],
    [postJson('/v1/classify', { images: [Buffer.from('hello, not an image').toString('base64')] }), 400, /^images\[0\]: cannot decode image/, 'images[0]'],
    [postJson('/v1/classify', { images: [{ name: 'x.jpg' }] }), 400, /^images\[0\]: expected a base64 string/, 'images[0]'],
    [postJson('/v1/classify', { images: [b64(filePath(0))], top: 0 }), 400, /^top: expected an integer/, 'top'],
    [postJson('/v1/classify', { images: [b64(filePath(0))], colour: 'red' }), 400, /^colour: unknown field/, 'colour'],
    [postJson('/v1/classify', { images: Array(65).fill('AAAA') }), 400, /at most 64 images/, 'images'],
    [call('/v1/classify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"images": [' }), 400, /request body is not valid JSON/],
    [call('/v1/classify', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }), 415, /Content-Type: expected multipart\/form-data/],
    [call('/v1/nothing'), 404, /no such endpoint: GET \/v1\/nothing/],
  ];
  const wrongField = new FormData();
  wrongField.append('photo', new Blob([fs.readFileSync(filePath(0))]), 'a.jpg');
  cases.push([call('/v1/classify', { method: 'POST', body: wrongField }), 400, /^photo: unknown file field/, 'photo']);
  const broken = new FormData();
  broken.append('image', new Blob([Buffer.from('GIF89a garbage')]), 'broken.gif');
  cases.push([call('/v1/classify', { method: 'POST', body: broken }), 400, /^image\[0\] \('broken\.gif'\): cannot decode image/, 'image[0]']);
  cases.push([call('/v1/classify', { method: 'POST', body: new FormData() }), 400, /^image: expected at least one image file/, 'image']);
  for (const [p, status, message, field] of cases) {
    const r = await p;
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error, message);
    assert.equal(typeof r.json.code, 'string');
    if (field) assert.equal(r.json.field, field);
    assert.doesNotMatch(JSON.stringify(r.json), /\n\s+at |\.js:\d+/);
  }
  // The service is still fine.
  assert.equal((await postJson('/v1/classify', { images: [b64(filePath(0))] })).status, 200);
});

test('the web pages and their scripts are served by the same process', async () => {
  for (const [route, type] of [['/', 'text/html'], ['/keys', 'text/html'], ['/web/app.js', 'text/javascript'], ['/web/style.css', 'text/css']] as const) {
    const res = await fetch(`${gw.url}${route}`);
    assert.equal(res.status, 200, route);
    assert.ok(res.headers.get('content-type')?.startsWith(type), route);
  }
});

test('key rotation through `owsd key rotate --gateway`: requests during the rotation all succeed; then the new key serves, as accurately', async (t) => {
  const oldKey = readKeyFile(keyFile);
  // Only from this machine.
  const remote = await gw.app.inject({ method: 'POST', url: '/v1/keys/rotate', payload: {}, remoteAddress: '10.1.2.3' });
  assert.equal(remote.statusCode, 403);
  assert.match(remote.json().error, /only from this machine/);

  let stop = false;
  const answered: Array<{ status: number; keyId?: string }> = [];
  const load = (async () => {
    let i = 0;
    while (!stop) {
      const r = await postJson('/v1/classify', { images: [b64(filePath(i++ % held.length))] });
      answered.push({ status: r.status, keyId: r.json.results?.[0]?.keyId });
    }
  })();
  const busy = new Promise<number>((resolve) => {
    const t0 = Date.now();
    const t = setInterval(async () => {
      if (Date.now() - t0 > 120_000) {
        clearInterval(t);
        resolve(-1);
      }
      const s = (await call('/v1/status')).json;
      if (s.rotation.state === 'running') {
        clearInterval(t);
        resolve((await postJson('/v1/keys/rotate', {})).status);
      }
    }, 100);
  });
  const cli = await runOwsd(['key', 'rotate', '--gateway', gw.url, '--json'], { ...process.env, OWSD_MODELS: modelsDir });
  stop = true;
  await load;
  bodies.push(cli.stdout, cli.stderr);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(await busy, 409, 'a second rotation while one runs is refused');
  const r = JSON.parse(cli.stdout);
  assert.deepEqual(r.replaced, [oldKey.id]);
  assert.notEqual(r.keyIds[0], oldKey.id);
  assert.equal(r.submissionsSent, 36);

  assert.ok(answered.length >= 3, `${answered.length} requests during the rotation`);
  assert.deepEqual(answered.filter((a) => a.status !== 200), [], 'no request failed');
  assert.ok(answered.some((a) => a.keyId === oldKey.id), 'the old key served during the rotation');
  // The new key file: 0600, beside the old one; its ledger counts the re-scrambled training set.
  const newKey = readKeyFile(r.keyFiles[0]);
  assert.deepEqual(newKey.generator, oldKey.generator, 'the same design, noise included');
  assert.equal(path.dirname(r.keyFiles[0]), dir);
  assert.equal(fs.statSync(r.keyFiles[0]).mode & 0o777, 0o600);
  // The same training images, refitted with the bundle's own settings; the old bundle points to the new one.
  const rotated = readBundle(r.bundle);
  assert.deepEqual(rotated.keyIds, [newKey.id]);
  assert.deepEqual(rotated.training, bundle.training);
  assert.deepEqual(rotated.iins.both.config, bundle.iins.both.config);
  assert.equal(JSON.parse(fs.readFileSync(path.join(bundleDir, SUCCESSOR_FILE), 'utf8')).bundle, r.bundle);

  const s = (await call('/v1/status')).json;
  assert.deepEqual(s.keys.map((k: any) => k.keyId), [newKey.id]);
  // The new key has used the re-scrambled training set and whatever of the load it served after the switch: the
  // warning (at 10% here) comes exactly when that reaches 40 of 400.
  const usedNow = 36 + answered.filter((a) => a.keyId === newKey.id).length;
  assert.equal(s.keys[0].used, usedNow);
  if (usedNow < 40) assert.equal(s.warning, null, `the new key is below the warning (${usedNow} of 400 used)`);
  else assert.match(s.warning, new RegExp(`key ${newKey.id} has used ${usedNow} of its 400`));
  assert.deepEqual(s.rotation.last.keyIds, r.keyIds);
  assert.equal(s.rotation.last.bundle, undefined, 'the status (open to any caller) names no path');
  const after = await accuracyOnHeld();
  assert.ok(after.keyIds.every((id) => id === newKey.id));
  assert.ok(after.top1 >= 0.5, `held-out top-1 after rotation ${after.top1}`);
  assert.equal(UsageLedger.open(newKey).used, 36 + held.length + answered.filter((a) => a.keyId === newKey.id).length);

  // A service restarted with the old paths serves the successor.
  const again = await Gateway.open({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, modelsDir, log: false });
  assert.deepEqual(again.keyIds, [newKey.id]);
  const ahead = JSON.parse(fs.readFileSync(ledgerPath(newKey.id), 'utf8')).used - UsageLedger.open(newKey).used;
  t.diagnostic(`counted ahead before the close: ${ahead}`);
  await again.close();
  // Closing a gateway (Predictor.close) gives back what this process's ledger of the key counted ahead: the disk
  // then holds exactly what was spent.
  assert.equal(JSON.parse(fs.readFileSync(ledgerPath(newKey.id), 'utf8')).used, UsageLedger.open(newKey).used);
});

test('offline rotation (`owsd key rotate --bundle --key`) of the rotated bundle: a gateway opened on the first bundle follows both rotations', async () => {
  const succ = JSON.parse(fs.readFileSync(path.join(bundleDir, SUCCESSOR_FILE), 'utf8'));
  const cli = await runOwsd(['key', 'rotate', '--bundle', succ.bundle, '--key', succ.keyFiles[0], '--cloud', cloud.url, '--budget', '100', '--json'], { ...process.env, OWSD_MODELS: modelsDir });
  bodies.push(cli.stdout, cli.stderr);
  assert.equal(cli.code, 0, cli.stderr);
  const r = JSON.parse(cli.stdout);
  assert.deepEqual(r.replaced, succ.keyIds);
  // <name>-<new id>, not <name>-<id>-<id>.
  assert.equal(path.basename(r.bundle), `org.bundle-${r.keyIds[0]}`);
  assert.equal(readKeyFile(r.keyFiles[0]).budget, 100);
  const g = await Gateway.open({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, modelsDir, log: (l) => logs.push(l) });
  assert.deepEqual(g.keyIds, r.keyIds);
  assert.ok(logs.some((l) => l.includes(`serving its successor ${r.bundle}`)));
  await g.close();
  const refused = await runOwsd(['key', 'rotate', '--bundle', bundleDir, '--key', keyFile], { ...process.env, OWSD_MODELS: modelsDir });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /was already rotated: its successor is .*org\.bundle-k_/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /);
});

test('several keys at once: a bundle fitted with two keys is served with both, each counted; past the budget, a clear 429', async () => {
  const files = [path.join(dir, 'two-a.key'), path.join(dir, 'two-b.key')];
  files.forEach((f, i) => writeKeyFile(f, createKey({ secret: new Uint8Array(32).fill(140 + i), imageSize: 64, budget: 30 })));
  const out = path.join(dir, 'two.bundle');
  const small = { path: data.path, labels: 3, perLabel: 4, testFraction: 0, seed: 1 };
  await fit({ keys: files.map((f) => readKeyFile(f)), encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data: small, out, modelsDir, iin: { epochs: 10, hidden: 32 } });
  const two = await startGateway({ bundle: out, keyFiles: files, cloud: { url: cloud.url }, port: 0, modelsDir, log: (l) => logs.push(l) });
  try {
    const send = async (n: number) => {
      const res = await fetch(`${two.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ images: Array.from({ length: n }, (_, i) => b64(filePath(i % held.length))) }) });
      const text = await res.text();
      bodies.push(text);
      return { status: res.status, json: JSON.parse(text) as Record<string, any> };
    };
    const ok = await send(6);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.results.length, 6);
    assert.deepEqual(ok.json.keyIds, files.map((f) => readKeyFile(f).id));
    const st = (await (await fetch(`${two.url}/v1/status`)).json()) as Record<string, any>;
    assert.deepEqual(st.keys.map((k: any) => [k.keyId, k.used, k.budget]), files.map((f) => [readKeyFile(f).id, 18, 30]));
    const over = await send(13);
    assert.equal(over.status, 429);
    assert.match(over.json.error, /has 12 of 30 submissions left, but this run needs 13: nothing was sent/);
    assert.equal(over.json.code, 'OWSD_ERR_BUDGET');
    assert.equal((await send(12)).status, 200, 'what is left can still be used');
  } finally {
    await two.close();
  }
});

test('the secret never appears in a response or a log line', () => {
  const forms = [Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex'), Buffer.from(secret).toString('base64url')];
  const newSecrets = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.key'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).secret as string);
  assert.equal(newSecrets.length, 5); // org.key, two rotations, the two-key bundle's
  for (const s of newSecrets) forms.push(s, Buffer.from(s, 'base64').toString('hex'));
  assert.ok(bodies.length > 20 && logs.length > 20);
  for (const f of forms) {
    for (const b of bodies) assert.ok(!b.includes(f));
    for (const l of logs) assert.ok(!l.includes(f));
  }
  assert.ok(logs.some((l) => /^POST \/v1\/classify 200 /.test(l)), 'one line per request');
  assert.ok(fs.existsSync(path.join(repoRoot, 'src/server/web/index.html')));
});
