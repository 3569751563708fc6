/**
 * The gateway against an attacker who tries (issue 16, items 5, 6 and 13), over loopback with a real fit and the
 * real embedded cloud: forged Host (DNS rebinding), cross-site Origin and Sec-Fetch-Site, a rotation a browser could
 * send cross-site; one bad image among good ones (in a request, in a batch shared with another client, and in
 * `owsd predict`); a multipart body without a boundary, paths in the status, lax query values.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createKey, fit, readKeyFile, selectData, UsageLedger, writeKeyFile } from '../src/index.js';
import { buildGatewayApp, startCloudServer, startGateway, type RunningCloud, type RunningGateway } from '../src/server/index.js';
import { SUPPORTED_FORMATS_TEXT } from '../src/image/decode.js';
import { dataDir, modelsDir, runOwsd, tempDir } from './helpers.js';

const dir = tempDir('owsd-gw-hard-');
const keyFile = path.join(dir, 'org.key');
const secret = new Uint8Array(32).map((_, i) => 200 - i);
writeKeyFile(keyFile, createKey({ secret, imageSize: 64, budget: 5000, embeddingNoise: 0 }));
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 3, perLabel: 8, testFraction: 0.25, seed: 7 };
const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
const bundleDir = path.join(dir, 'org.bundle');
await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data, out: bundleDir, modelsDir, iin: { epochs: 20, hidden: 32, batchSize: 16 } });
const held = (await selectData(data)).test.map((s) => (s.image as { path: string }).path);
const logs: string[] = [];
const gw: RunningGateway = await startGateway({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, port: 0, modelsDir, log: (l) => logs.push(l), maxWaitMs: 50 });
const port = gw.port;
const bodies: string[] = [];

after(async () => {
  await gw.close();
  await cloud.close();
});

/** A raw HTTP request (fetch will not forge Host): status and parsed JSON. */
function raw(method: string, route: string, headers: Record<string, string>, body?: Buffer | string): Promise<{ status: number; json: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        bodies.push(text);
        try {
          resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, any> });
        } catch {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const host = () => `127.0.0.1:${port}`;
const b64 = (f: string) => fs.readFileSync(f).toString('base64');
const jsonBody = (images: unknown[]) => JSON.stringify({ images });
async function status(): Promise<Record<string, any>> {
  return (await raw('GET', '/v1/status', { host: host() })).json;
}
function multipartBody(files: Array<{ name: string; bytes: Buffer }>, boundary = 'owsdtestboundary'): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${f.name}"\r\nContent-Type: image/jpeg\r\n\r\n`), f.bytes, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

test('DNS rebinding: a Host the gateway does not serve gets 421 (status, classify, rotation), before anything is read or spent', async () => {
  const before = await status();
  const used = before.keys[0].used;
  // The curl: an empty cross-site POST naming another host.
  const rot = await raw('POST', '/v1/keys/rotate', { origin: 'http://evil.example', host: 'evil.example', 'content-length': '0' });
  assert.equal(rot.status, 421, JSON.stringify(rot.json));
  assert.equal(rot.json.code, 'OWSD_ERR_HOST');
  assert.equal(rot.json.field, 'Host');
  assert.match(rot.json.error, /^Host "evil\.example" is not a name this gateway serves .*--allowed-host/);
  for (const h of [`evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `127.0.0.1:${port + 1}`, `localhost:${port}@evil`, 'evil.example']) {
    const r = await raw('GET', '/v1/status', { host: h });
    assert.equal(r.status, 421, `Host ${h}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, 'OWSD_ERR_HOST');
  }
  const cls = await raw('POST', '/v1/classify', { host: `evil.example:${port}`, 'content-type': 'application/json' }, jsonBody([b64(held[0]!)]));
  assert.equal(cls.status, 421);
  // The names it does serve.
  for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) assert.equal((await raw('GET', '/v1/status', { host: h })).status, 200, h);
  const after = await status();
  assert.equal(after.keys[0].used, used, 'nothing was spent');
  assert.equal(after.rotation.state, 'idle');
  assert.deepEqual(after.keys.map((k: any) => k.keyId), before.keys.map((k: any) => k.keyId), 'no rotation');
});

test('cross-site requests: a foreign Origin or Sec-Fetch-Site cross-site/same-site is refused 403 for classify and rotation; the page\'s own origin and programs are served', async () => {
  const used = (await status()).keys[0].used;
  const form = multipartBody([{ name: 'a.jpg', bytes: fs.readFileSync(held[0]!) }]);
  const multipart = { host: host(), 'content-type': 'multipart/form-data; boundary=owsdtestboundary' };
  const refused: Array<[Record<string, string>, string]> = [
    [{ origin: 'http://evil.example' }, 'Origin'],
    [{ origin: 'null' }, 'Origin'],
    [{ origin: `http://localhost:${port}` }, 'Origin'], // another origin of the same machine (Host says 127.0.0.1)
    [{ 'sec-fetch-site': 'cross-site' }, 'Sec-Fetch-Site'],
    [{ 'sec-fetch-site': 'same-site', origin: `http://${host()}` }, 'Sec-Fetch-Site'],
  ];
  for (const [h, field] of refused) {
    const c = await raw('POST', '/v1/classify', { ...multipart, ...h }, form);
    assert.equal(c.status, 403, `${JSON.stringify(h)}: ${JSON.stringify(c.json)}`);
    assert.equal(c.json.code, 'OWSD_ERR_CROSS_SITE');
    assert.equal(c.json.field, field);
    const r = await raw('POST', '/v1/keys/rotate', { host: host(), 'content-type': 'application/json', ...h }, '{}');
    assert.equal(r.status, 403, `rotate ${JSON.stringify(h)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, 'OWSD_ERR_CROSS_SITE');
  }
  assert.equal((await status()).keys[0].used, used, 'no cross-site request spent any budget');
  // Its own page (same origin), a program without Origin, and a user typing the address (Sec-Fetch-Site: none).
  const allowedHeaders: Array<Record<string, string>> = [{ origin: `http://${host()}`, 'sec-fetch-site': 'same-origin' }, {}, { 'sec-fetch-site': 'none' }];
  for (const h of allowedHeaders) {
    const c = await raw('POST', '/v1/classify', { ...multipart, ...h }, form);
    assert.equal(c.status, 200, `${JSON.stringify(h)}: ${JSON.stringify(c.json)}`);
  }
  // GETs are not state-changing: a cross-site Origin on a GET (with the right Host) is answered.
  assert.equal((await raw('GET', '/v1/status', { host: host(), origin: 'http://evil.example' })).status, 200);
});

test('rotation needs a JSON request (a browser cannot send one cross-site without a preflight): an empty or form POST is refused, nothing rotates', async () => {
  const before = await status();
  const cases: Array<[Record<string, string>, string | undefined, number, string]> = [
    [{ 'content-length': '0' }, undefined, 403, 'OWSD_ERR_CROSS_SITE'],
    [{ 'content-type': 'application/x-www-form-urlencoded' }, 'budget=10', 415, 'OWSD_ERR_REQUEST'],
    [{ 'content-type': 'text/plain' }, '{}', 415, 'OWSD_ERR_REQUEST'],
    [{ 'content-type': 'multipart/form-data; boundary=x' }, '--x--\r\n', 403, 'OWSD_ERR_CROSS_SITE'],
  ];
  for (const [h, body, code, errCode] of cases) {
    const r = await raw('POST', '/v1/keys/rotate', { host: host(), ...h }, body);
    assert.equal(r.status, code, `${JSON.stringify(h)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, errCode);
    assert.doesNotMatch(JSON.stringify(r.json), /\n\s+at /);
  }
  const after = await status();
  assert.equal(after.rotation.state, 'idle');
  assert.equal(after.rotation.last, null);
  assert.deepEqual(after.keys.map((k: any) => k.keyId), before.keys.map((k: any) => k.keyId));
});

test('rotation budgets are integers from 1 to 10^9: 1e300, 0, 1.5 and "9" get a 400 naming budget before anything is logged or rotated (item 7)', async () => {
  const before = await status();
  const logged = logs.length;
  for (const body of ['{"budget": 1e300}', '{"budget": 0}', '{"budget": 1.5}', '{"budget": "9"}', '{"budget": 1000000001}']) {
    const r = await raw('POST', '/v1/keys/rotate', { host: host(), 'content-type': 'application/json' }, body);
    assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, 'OWSD_ERR_REQUEST');
    assert.match(r.json.error, /^budget: expected an integer from 1 to 1000000000/);
  }
  const after = await status();
  assert.equal(after.rotation.state, 'idle');
  assert.equal(after.rotation.last, null, 'no failed rotation recorded');
  assert.deepEqual(after.keys.map((k: any) => k.keyId), before.keys.map((k: any) => k.keyId));
  assert.deepEqual(logs.slice(logged).filter((l) => /rotating|rotated/i.test(l)), [], 'nothing logged about a rotation');
});

test('the web page names the formats the decoder accepts, from its one list', async () => {
  const page = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host: host() } }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => (t += d.toString()));
      res.on('end', () => resolve(t));
    }).on('error', reject);
  });
  assert.ok(page.includes(`(${SUPPORTED_FORMATS_TEXT})`), 'formats listed');
  assert.doesNotMatch(page, /\{\{formats\}\}/);
});

test('--allowed-host: a name the gateway is reached by on the network is served, others still 421; a malformed value is refused naming the option', async () => {
  const app = buildGatewayApp({ gateway: gw.gateway, allowedHosts: ['gateway.example.org', 'other.example.org:1'], logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const p = (app.server.address() as { port: number }).port;
  const get = (h: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p, path: '/v1/openapi.json', headers: { host: h }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
  try {
    assert.equal(await get(`gateway.example.org:${p}`), 200);
    assert.equal(await get(`Gateway.Example.ORG:${p}`), 200);
    assert.equal(await get('other.example.org:1'), 200);
    assert.equal(await get(`other.example.org:${p}`), 421);
    assert.equal(await get(`evil.example:${p}`), 421);
  } finally {
    await app.close();
  }
  // Listening on every address (dual stack): the address a client reached it on is served as Host, with its port.
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  const wide = buildGatewayApp({ gateway: gw.gateway, logger: false });
  await wide.listen({ port: 0, host: '::' });
  const wp = (wide.server.address() as { port: number }).port;
  const at = (ip: string, h: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: ip, port: wp, path: '/v1/openapi.json', headers: { host: h }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
  try {
    assert.equal(await at('127.0.0.1', `127.0.0.1:${wp}`), 200);
    if (external) {
      assert.equal(await at(external, `${external}:${wp}`), 200, `reached on ${external}`);
      assert.equal(await at(external, `evil.example:${wp}`), 421);
    }
  } finally {
    await wide.close();
  }
  const bad = await runOwsd(['serve', '--bundle', bundleDir, '--key', keyFile, '--port', '0', '--allowed-host', 'http://x.example/'], { ...process.env, OWSD_MODELS: modelsDir });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--allowed-host: expected a host name or name:port .* got "http:\/\/x\.example\/"/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});

test('a multipart body without a valid boundary gets 400 naming Content-Type, not 500', async () => {
  for (const type of ['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary="ends with a space "', `multipart/form-data; boundary=${'x'.repeat(71)}`]) {
    const r = await raw('POST', '/v1/classify', { host: host(), 'content-type': type }, 'hello');
    assert.equal(r.status, 400, `${type}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, 'OWSD_ERR_REQUEST');
    assert.equal(r.json.field, 'Content-Type');
    assert.match(r.json.error, /boundary/);
  }
  assert.ok(!logs.some((l) => l.startsWith('internal error')), logs.filter((l) => l.startsWith('internal error')).join('\n'));
});

test('query values are parsed strictly: top=0x5, top=5.0, details=maybe, repeated or unknown parameters get a 400 naming the field', async () => {
  const body = jsonBody([b64(held[0]!)]);
  const json = { host: host(), 'content-type': 'application/json' };
  const cases: Array<[string, string, RegExp]> = [
    ['top=0x5', 'top', /^top \(query\): expected an integer from 1 to 1000, got "0x5"/],
    ['top=5.0', 'top', /got "5\.0"/],
    ['top=1e1', 'top', /got "1e1"/],
    ['top=%205', 'top', /got " 5"/],
    ['top=0', 'top', /got "0"/],
    ['details=maybe', 'details', /^details \(query\): expected true or false, got "maybe"/],
    ['details=yes', 'details', /got "yes"/],
    ['top=2&top=3', 'top', /given more than once/],
    ['colour=red', 'colour', /^colour \(query\): unknown parameter/],
  ];
  for (const [q, field, message] of cases) {
    const r = await raw('POST', `/v1/classify?${q}`, json, body);
    assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.field, field, q);
    assert.match(r.json.error, message);
  }
  const ok = await raw('POST', '/v1/classify?top=2&details=false', json, body);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.results[0].predictions.length, 2);
  assert.equal(ok.json.results[0].scrambled, undefined);
  const withDetails = await raw('POST', '/v1/classify?details=1', json, body);
  assert.match(withDetails.json.results[0].scrambled, /^data:image\/png;base64,/);
});

test('one bad image in a request gets its own error; the others their labels (200); all bad: the 4xx, with every image\'s error', async () => {
  const json = { host: host(), 'content-type': 'application/json' };
  const good = await raw('POST', '/v1/classify?top=1', json, jsonBody([b64(held[0]!), b64(held[1]!)]));
  assert.equal(good.status, 200);
  const mixed = await raw('POST', '/v1/classify?top=1', json, jsonBody([b64(held[0]!), { data: Buffer.from('not an image at all').toString('base64'), name: 'IMG_0001.HEIC' }, b64(held[1]!)]));
  assert.equal(mixed.status, 200, JSON.stringify(mixed.json));
  assert.equal(mixed.json.failed, 1);
  const [a, bad, b] = mixed.json.results;
  assert.deepEqual(a.predictions, good.json.results[0].predictions);
  assert.deepEqual(b.predictions, good.json.results[1].predictions);
  assert.equal(bad.name, 'IMG_0001.HEIC');
  assert.equal(bad.code, 'OWSD_ERR_IMAGE');
  assert.equal(bad.field, 'images[1]');
  assert.match(bad.error, /^images\[1\] \('IMG_0001\.HEIC'\): cannot decode image/);
  assert.equal(bad.predictions, undefined);
  // Multipart, as the web page sends it.
  const form = multipartBody([{ name: 'IMG_0002.HEIC', bytes: heicLike() }, { name: 'b.jpg', bytes: fs.readFileSync(held[1]!) }]);
  const m = await raw('POST', '/v1/classify?top=1', { host: host(), 'content-type': 'multipart/form-data; boundary=owsdtestboundary' }, form);
  assert.equal(m.status, 200, JSON.stringify(m.json));
  assert.equal(m.json.results[0].field, 'image[0]');
  assert.match(m.json.results[0].error, /^image\[0\] \('IMG_0002\.HEIC'\)/);
  assert.deepEqual(m.json.results[1].predictions.map((x: any) => x.label), good.json.results[1].predictions.map((x: any) => x.label));
  const allBad = await raw('POST', '/v1/classify', json, jsonBody([Buffer.from('nope').toString('base64'), { data: Buffer.from('nope either').toString('base64'), name: 'x.heic' }]));
  assert.equal(allBad.status, 400);
  assert.equal(allBad.json.code, 'OWSD_ERR_IMAGE');
  assert.equal(allBad.json.field, 'images[0]');
  assert.deepEqual(allBad.json.results.map((r: any) => r.field), ['images[0]', 'images[1]']);
});

test('one image that passes arrival but fails in the encoder fails alone: another client in the same batch gets its normal result', async () => {
  const g = gw.gateway;
  // What arrival decoding hands the batcher: raw RGB pixels at the encoder's size. A client's image whose pixels
  // are short of its stated size passes every check of the HTTP layer (none reads raw pixels) and fails in the
  // encoder's preprocessing, inside the batch it shares with another client.
  const broken = { kind: 'raw' as const, data: new Uint8Array(300), width: 256, height: 300, channels: 3 as const, name: 'attacker.png' };
  const normal = { kind: 'file' as const, path: held[2]! };
  const [alone] = await g.classify([{ image: normal, top: 2, details: false }]);
  assert.ok(alone && !('error' in alone));
  const before = (await status()).served;
  const [attacker, victim] = await Promise.all([g.classify([{ image: broken, top: 2, details: false }]), g.classify([{ image: normal, top: 2, details: false }])]);
  const after = (await status()).served;
  assert.equal(after.batches - before.batches, 1, 'both clients were in one batch');
  assert.ok('error' in attacker[0]!, JSON.stringify(attacker));
  assert.match((attacker[0] as { error: Error }).error.message, /attacker\.png/);
  assert.ok(!('error' in victim[0]!), JSON.stringify(victim));
  assert.deepEqual(victim[0]!.predictions, alone.predictions);
  assert.equal(after.images - before.images, 2);
});

/** What an iPhone's HEIC looks like to a reader without HEVC: an ISO-BMFF 'ftyp heic' box, then data it cannot read. */
function heicLike(): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic')]);
  return Buffer.concat([ftyp, Buffer.alloc(2000, 0x5a)]);
}

test('owsd predict with one HEIC among good images prints every result (text and --json) and exits non-zero', async () => {
  const heic = path.join(dir, 'IMG_0001.HEIC');
  fs.writeFileSync(heic, heicLike());
  const files = [held[0]!, heic, held[1]!];
  const env = { ...process.env, OWSD_MODELS: modelsDir };
  const usedBefore = UsageLedger.open(readKeyFile(keyFile)).used;
  const j = await runOwsd(['predict', '--bundle', bundleDir, '--key', keyFile, '--top', '2', '--cloud', cloud.url, '--json', ...files], env);
  assert.equal(j.code, 3, `exit code of an image error: ${j.stderr}`);
  const out = (JSON.parse(j.stdout) as { results: Array<Record<string, any>> }).results;
  assert.deepEqual(out.map((r) => r.name), files);
  assert.equal(out[0]!.predictions.length, 2);
  assert.equal(out[2]!.predictions.length, 2);
  assert.equal(out[1]!.code, 'OWSD_ERR_IMAGE');
  assert.match(out[1]!.error, /IMG_0001\.HEIC/);
  assert.match(j.stderr, /1 of 3 images could not be classified/);
  assert.equal(UsageLedger.open(readKeyFile(keyFile)).used - usedBefore, 2, 'the unreadable image cost no submission');
  const t = await runOwsd(['predict', '--bundle', bundleDir, '--key', keyFile, '--top', '1', '--cloud', cloud.url, ...files], env);
  assert.equal(t.code, 3);
  const lines = t.stdout.trim().split('\n');
  assert.equal(lines.length, 6, t.stdout);
  assert.equal(lines[0], held[0]);
  assert.equal(lines[2], heic);
  assert.match(lines[3]!, /^ {2}error: .*IMG_0001\.HEIC/);
  assert.equal(lines[4], held[1]);
  assert.match(lines[5]!, /%\s+\S/);
  assert.doesNotMatch(t.stderr + j.stderr, /\n\s+at /);
});

test('GET /v1/status shows key ids, never a file path (before and after a rotation, which a program can still request)', async () => {
  const s0 = JSON.stringify(await status());
  assert.ok(!s0.includes(dir), `the status names a path: ${s0.slice(0, 300)}`);
  assert.ok(!s0.includes(path.basename(bundleDir)) && !s0.includes('.key'));
  const r = await raw('POST', '/v1/keys/rotate', { host: host(), 'content-type': 'application/json' }, '{}');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // The rotation's own answer (to this machine only) names the new files: owsd key rotate prints them.
  assert.ok(r.json.keyFiles[0].startsWith(dir));
  const s = await status();
  assert.equal(s.rotation.state, 'idle');
  assert.deepEqual(s.rotation.last.keyIds, r.json.keyIds);
  assert.deepEqual(s.keys.map((k: any) => k.keyId), r.json.keyIds);
  const s1 = JSON.stringify(s);
  assert.ok(!s1.includes(dir), `the status names a path after the rotation: ${s1.slice(0, 300)}`);
  assert.equal(s.rotation.last.keyFiles, undefined);
  assert.equal(s.rotation.last.bundle, undefined);
  assert.equal(s.bundle.path, undefined);
});

test('no secret in any answer or log line', () => {
  const forms = [Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.key'))) forms.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).secret as string);
  assert.ok(bodies.length > 30);
  for (const f of forms) for (const b of [...bodies, ...logs]) assert.ok(!b.includes(f));
});
