/**
 * GET /v1/openapi.json and the schemas the gateway validates with are one source (src/server/schemas.ts): the
 * document is made from the routes as fastify registered them, so every operation in it is a route the gateway
 * serves, its request schemas are the very objects fastify checks requests against (a gateway started with
 * maxImagesPerRequest 7 documents maxItems 7), and each constraint the document states is one the server enforces (a
 * request breaking it gets the gateway's 400 naming the field). A real gateway over a real fit, the cloud our
 * embedded KServe server on loopback with cifar10-resnet20.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createKey, fit, readKeyFile, writeKeyFile } from '../src/index.js';
import { gatewayOpenApi, startCloudServer, startGateway, type RunningCloud, type RunningGateway } from '../src/server/index.js';
import { gatewayRoutes } from '../src/server/schemas.js';
import { dataDir, modelsDir, tempDir } from './helpers.js';

const dir = tempDir('owsd-openapi-');
const keyFile = path.join(dir, 'k.key');
const bundle = path.join(dir, 'b');
let cloud: RunningCloud;
let gw: RunningGateway;
let doc: Record<string, any>;
const MAX_IMAGES = 7;

before(async () => {
  cloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  writeKeyFile(keyFile, createKey({ secret: new Uint8Array(32).fill(31), imageSize: 32, budget: 1000, embeddingNoise: 0 }));
  const data = { path: path.join(dataDir, 'cifar-10'), labels: 2, perLabel: 8, testFraction: 0.25, seed: 1 };
  await fit({ keys: [readKeyFile(keyFile)], encoders: ['cifar10-resnet20'], cloud: { url: cloud.url, modelName: 'cifar10-resnet20' }, data, out: bundle, modelsDir, iin: { epochs: 3, hidden: 16, batchSize: 8 } });
  gw = await startGateway({ bundle, keyFiles: [keyFile], cloud: { url: cloud.url }, modelsDir, port: 0, log: false, maxImagesPerRequest: MAX_IMAGES });
  doc = (await (await fetch(`${gw.url}/v1/openapi.json`)).json()) as Record<string, any>;
});
after(async () => {
  await gw?.close();
  await cloud?.close();
});

async function send(method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const r = await fetch(`${gw.url}${route}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}

/** Resolve a `$ref` into the document's components. */
const deref = (s: Record<string, any>): Record<string, any> => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s);

test('every operation of the document is a route the gateway serves, and every API route it serves is documented', () => {
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([url, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${url}`));
  assert.deepEqual(documented.sort(), ['GET /', 'GET /v1/openapi.json', 'GET /v1/status', 'POST /v1/classify', 'POST /v1/keys/rotate']);
  for (const op of documented) {
    const [method, url] = op.split(' ') as ['GET' | 'POST', string];
    assert.ok(gw.app.hasRoute({ method, url }), `${op} is served`);
  }
  const served = gw.app.printRoutes({ commonPrefix: false });
  for (const url of served.match(/\/v1\/[\w/.]+/g) ?? []) assert.ok(doc.paths[url], `${url} is documented`);
});

test('the document\'s request schemas are the ones fastify validates with: the registered objects, this gateway\'s limit in them', () => {
  const registered = gatewayRoutes(MAX_IMAGES);
  const plain = (s: unknown) => JSON.parse(JSON.stringify(s)) as unknown;
  const classify = doc.paths['/v1/classify'].post;
  assert.deepEqual(classify.requestBody.content['application/json'].schema, plain(registered.classify.schema.body.content['application/json'].schema));
  assert.equal(classify.requestBody.content['application/json'].schema.properties.images.maxItems, MAX_IMAGES, 'the limit this gateway was started with');
  assert.deepEqual(Object.fromEntries(classify.parameters.map((p: { name: string; schema: unknown }) => [p.name, p.schema])), plain(registered.classify.schema.querystring.properties));
  assert.deepEqual(doc.paths['/v1/keys/rotate'].post.requestBody.content['application/json'].schema, plain(registered.rotate.schema.body));
  assert.ok(classify.requestBody.content['multipart/form-data'], 'the multipart form is documented too (checked by hand: request.ts)');
  // The library's document (no gateway) is the same but for the default limit of 64.
  const lib = gatewayOpenApi('0.1.0') as Record<string, any>;
  assert.equal(lib.paths['/v1/classify'].post.requestBody.content['application/json'].schema.properties.images.maxItems, 64);
  // Every response the document names has a schema: the error responses are {error, code, field?}.
  for (const [url, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [m, op] of Object.entries(ops)) {
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        const schema = Object.values(r.content as Record<string, { schema: Record<string, any> }>)[0]!.schema;
        assert.ok(schema, `${m} ${url} ${status}`);
        if (Number(status) >= 400) assert.deepEqual(deref(schema).required.slice(0, 2), ['error', 'code'], `${m} ${url} ${status}`);
      }
    }
  }
  assert.deepEqual(deref(doc.components.schemas.ImageResult.anyOf[1]).required, ['name', 'error', 'code'], 'each image\'s error: {name, error, code, field?}');
});

test('each constraint the document states is enforced: breaking it gets a 400 {error, code, field} naming the field', async () => {
  const classify = doc.paths['/v1/classify'].post;
  const body = classify.requestBody.content['application/json'].schema;
  const img = 'iVBORw0KGgo=';
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/v1/classify', { images: Array(body.properties.images.maxItems + 1).fill(img) }, 'images'],
    ['POST', '/v1/classify', { images: [] }, 'images'],
    ['POST', '/v1/classify', { images: [img], top: body.properties.top.anyOf[0].maximum + 1 }, 'top'],
    ['POST', '/v1/classify', { images: [img], details: 'maybe' }, 'details'],
    ['POST', '/v1/classify', { images: [{ name: 'no data' }] }, 'images[0]'],
    ['POST', '/v1/classify', { images: [img], colour: 'red' }, 'colour'],
    ['POST', '/v1/keys/rotate', { budget: doc.paths['/v1/keys/rotate'].post.requestBody.content['application/json'].schema.properties.budget.maximum + 1 }, 'budget'],
    ['POST', '/v1/keys/rotate', { budget: 5, colour: 'red' }, 'colour'],
  ];
  for (const p of classify.parameters as Array<{ name: string; schema: { enum?: string[]; pattern?: string } }>) {
    const bad = p.schema.enum ? 'maybe' : '0x5';
    assert.ok(!(p.schema.enum ?? []).includes(bad) && !(p.schema.pattern && new RegExp(p.schema.pattern).test(bad)), `${bad} breaks ${p.name}'s schema`);
    cases.push(['POST', `/v1/classify?${p.name}=${bad}`, { images: [img] }, p.name]);
  }
  cases.push(['POST', '/v1/classify?colour=red', { images: [img] }, 'colour']);
  for (const [method, route, b, field] of cases) {
    const r = await send(method, route, b);
    assert.equal(r.status, 400, `${route} ${JSON.stringify(b).slice(0, 80)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, 'OWSD_ERR_REQUEST');
    assert.equal(r.json.field, field, r.json.error);
    assert.match(r.json.error, new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}( \\(query\\))?: `));
  }
  const status = await send('GET', '/v1/status');
  assert.equal(status.json.rotation.last, null, 'no rotation happened');
  // And what the document allows is accepted: a valid request classifies (not a 400 from validation).
  const ok = await send('POST', '/v1/classify?top=1&details=0', { images: [{ data: 'data:image/png;base64,' + (await pngBase64()), name: 'x.png' }], top: '1', details: false });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.results[0].name, 'x.png');
  assert.equal(ok.json.results[0].predictions.length, 1);
});

async function pngBase64(): Promise<string> {
  const { default: sharp } = await import('sharp');
  return (await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer()).toString('base64');
}
