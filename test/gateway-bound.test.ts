/**
 * The gateway shows the any-inverter bound its bundle's fit measured (issue 17 item 2): `owsd fit` stores it in
 * bundle.json, `GET /v1/status` returns it (the figures, equal to fit's, and the plain words `owsd fit` prints), the
 * OpenAPI description documents it; a bundle written before fit stored it still serves and says "not measured
 * (refit with this version)", and a rotation's refit stores and serves the new run's bound.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { boundSentences, createKey, fit, readBundle, readKeyFile, writeKeyFile, type TrafficBound } from '../src/index.js';
import { startCloudServer, startGateway, type RunningCloud } from '../src/server/index.js';
import { boundLines } from '../src/cli/render.js';
import { dataDir, modelsDir, tempDir } from './helpers.js';

const dir = tempDir('owsd-gw-bound-');
const keyFile = path.join(dir, 'org.key');
writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).map((_, i) => 90 + i), imageSize: 64, budget: 5000, embeddingNoise: 4 }));
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 3, perLabel: 8, testFraction: 0.25, seed: 7 };
const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
const bundleDir = path.join(dir, 'org.bundle');
const fitted = await fit({ keys: [readKeyFile(keyFile)], encoders: ['mobilenetv2-12-int8'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data, out: bundleDir, modelsDir, iin: { epochs: 10, hidden: 32, batchSize: 16 } });

after(async () => {
  await cloud.close();
});

interface StatusBound {
  measured: boolean;
  figures: TrafficBound | null;
  text: string;
}

async function statusBound(url: string): Promise<StatusBound> {
  const res = await fetch(`${url}/v1/status`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { bound: StatusBound }).bound;
}

test('fit stores its bound in bundle.json; GET /v1/status returns it (figures equal to the fit result\'s, the words owsd fit prints); the OpenAPI description documents it', async () => {
  assert.ok(fitted.bound, 'the tiny fit measures a bound');
  assert.equal(fitted.bound.noise, 4);
  const stored = JSON.parse(fs.readFileSync(path.join(bundleDir, 'bundle.json'), 'utf8')) as { bound?: TrafficBound };
  assert.deepEqual(stored.bound, JSON.parse(JSON.stringify(fitted.bound)));
  assert.deepEqual(readBundle(bundleDir).bound, stored.bound);

  const gw = await startGateway({ bundle: bundleDir, keyFiles: [keyFile], cloud: { url: cloud.url }, port: 0, modelsDir, log: () => undefined });
  try {
    const b = await statusBound(gw.url);
    assert.equal(b.measured, true);
    assert.deepEqual(b.figures, JSON.parse(JSON.stringify(fitted.bound)));
    // One sentence builder for the CLI and the gateway.
    assert.equal(b.text, boundSentences(fitted.bound).join(' '));
    assert.equal(b.text, boundLines(fitted.bound).join(' '));
    assert.match(b.text, /^any-inverter bound \(key noise 4x; \d+ of these images, seeded\): an observer who could invert the scrambler and knew 1 label per class would label \d+\.\d% of your traffic \(chance 33\.3%\)/);

    const api = (await (await fetch(`${gw.url}/v1/openapi.json`)).json()) as Record<string, any>;
    assert.equal(api.paths['/v1/status'].get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/Status');
    const schema = api.components.schemas.Status.properties.bound;
    assert.deepEqual(schema.required, ['measured', 'figures', 'text']);
    assert.match(schema.properties.text.description, /not measured \(refit with this version\)/);
  } finally {
    await gw.close();
  }
});

test('a bundle.json written before fit stored the bound still serves and says "not measured (refit with this version)"; rotating it stores and serves the new run\'s bound', { timeout: 300_000 }, async () => {
  const oldDir = path.join(dir, 'old.bundle');
  fs.cpSync(bundleDir, oldDir, { recursive: true });
  const json = JSON.parse(fs.readFileSync(path.join(oldDir, 'bundle.json'), 'utf8')) as Record<string, unknown>;
  delete json.bound;
  fs.writeFileSync(path.join(oldDir, 'bundle.json'), JSON.stringify(json));
  assert.equal(readBundle(oldDir).bound, undefined);

  const gw = await startGateway({ bundle: oldDir, keyFiles: [keyFile], cloud: { url: cloud.url }, port: 0, modelsDir, log: () => undefined });
  try {
    assert.deepEqual(await statusBound(gw.url), { measured: false, figures: null, text: 'not measured (refit with this version)' });

    const r = await gw.gateway.rotate({ secrets: [new Uint8Array(32).fill(7)] });
    const fresh = readBundle(r.bundle).bound;
    assert.ok(fresh, 'the rotation\'s refit stored its bound');
    assert.equal(fresh.noise, 4, 'at the new key\'s noise (the old key\'s design)');
    const b = await statusBound(gw.url);
    assert.equal(b.measured, true);
    assert.deepEqual(b.figures, fresh);
    assert.equal(b.text, boundSentences(fresh).join(' '));
  } finally {
    await gw.close();
  }
});
