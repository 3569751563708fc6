import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { listModels, pullModel, resolveModel } from '../src/index.js';
import { sha256File } from '../src/models/checksum.js';
import { modelsDir, tempDir } from './helpers.js';

test('the shared manifest resolves every model by name, with labels and preprocessing', async () => {
  const names = listModels({ modelsDir }).map((m) => m.name);
  assert.deepEqual(names.slice(0, 4), ['mobilenetv2-12-int8', 'shufflenet-v2-12-qdq', 'cifar10-resnet20', 'cifar100-mobilenetv3-small-128']);
  const m = await resolveModel('mobilenetv2-12-int8', { modelsDir });
  assert.equal(m.labels!.ids.length, 1000);
  assert.equal(m.labels!.ids[0], 'n01440764');
  assert.deepEqual([m.preprocess.resize, m.preprocess.centerCrop], [256, 224]);
  const c = await resolveModel('cifar10-resnet20', { modelsDir });
  assert.equal(c.labels!.names[0], 'airplane');
  assert.equal((await resolveModel('cifar100-mobilenetv3-small-128', { modelsDir })).labels!.names.length, 100);
});

function copyModels(): string {
  const dir = tempDir();
  const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
  manifest.models = manifest.models.filter((m: { name: string }) => m.name === 'cifar10-resnet20');
  fs.copyFileSync(path.join(modelsDir, 'cifar10-resnet20.onnx'), path.join(dir, 'cifar10-resnet20.onnx'));
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(manifest));
  return dir;
}

test('EXPECTED FAILURE - a model file that does not match its sha256 is refused', async () => {
  const dir = copyModels();
  const file = path.join(dir, 'cifar10-resnet20.onnx');
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 1] ^= 1;
  fs.writeFileSync(file, bytes);
  await assert.rejects(resolveModel('cifar10-resnet20', { modelsDir: dir }), { code: 'OWSD_ERR_CHECKSUM', message: /cifar10-resnet20\.onnx has sha256 .* expects cb77fa0c/ });
});

test('EXPECTED FAILURE - unknown names, missing settings and bad manifests say what is wrong', async () => {
  await assert.rejects(resolveModel('resnet-9000', { modelsDir }), { code: 'OWSD_ERR_MODEL_NOT_FOUND', message: /'resnet-9000' is not in .*known: mobilenetv2-12-int8/ });
  const empty = tempDir();
  await assert.rejects(resolveModel('x', { modelsDir: empty }), { code: 'OWSD_ERR_MANIFEST', message: /models\.json: file not found/ });
  fs.writeFileSync(path.join(empty, 'models.json'), JSON.stringify({ models: [{ name: 'm', file: 'm.onnx', preprocess: { resize: -1 } }] }));
  await assert.rejects(resolveModel('m', { modelsDir: empty }), { message: /models\[0\] \(m\)\.preprocess\.resize: expected a positive number/ });
});

test('a bare .onnx path works with a sidecar, and without one says how to give the preprocessing', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'net.onnx');
  fs.copyFileSync(path.join(modelsDir, 'cifar10-resnet20.onnx'), file);
  await assert.rejects(resolveModel(file), { code: 'OWSD_ERR_MANIFEST', message: /no preprocessing known.*sidecar/ });
  const spec = await resolveModel(file, { entry: { preprocess: { resize: 32 }, labels: 'cifar-10' } });
  assert.equal(spec.labels!.names[9], 'truck');
  fs.writeFileSync(`${file}.json`, JSON.stringify({ preprocess: { resize: 32, mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] }, labels: 'cifar-10' }));
  const viaSidecar = await resolveModel(file);
  assert.equal(viaSidecar.preprocess.mean[0], 0.4914);
});

test('models pull downloads from the official address into the cache, verifies it, and refuses a corrupt download', async () => {
  const dir = copyModels();
  const onnx = fs.readFileSync(path.join(dir, 'cifar10-resnet20.onnx'));
  let corrupt = false;
  const server = http.createServer((req, res) => {
    if (req.url !== '/models/cifar10-resnet20.onnx') return void res.writeHead(404).end();
    const body = Buffer.from(onnx);
    if (corrupt) body[100] ^= 0xff;
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'models.json'), 'utf8'));
    manifest.models[0].official_url = `http://127.0.0.1:${port}/models/cifar10-resnet20.onnx`;
    fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify(manifest));
    fs.rmSync(path.join(dir, 'cifar10-resnet20.onnx'));
    const cacheDir = tempDir();
    await assert.rejects(resolveModel('cifar10-resnet20', { modelsDir: dir, cacheDir }), { message: /does not exist \(run: owsd models pull cifar10-resnet20\)/ });
    corrupt = true;
    await assert.rejects(pullModel('cifar10-resnet20', { modelsDir: dir, cacheDir }), { code: 'OWSD_ERR_CHECKSUM' });
    assert.equal(fs.readdirSync(path.join(cacheDir, 'models')).filter((f) => f.endsWith('.onnx')).length, 0);
    corrupt = false;
    const file = await pullModel('cifar10-resnet20', { modelsDir: dir, cacheDir });
    assert.equal(await sha256File(file), 'cb77fa0c7e683ce41d0ec965c1dd26ae942ed3bed0483fd05bd289056755b802');
    const spec = await resolveModel('cifar10-resnet20', { modelsDir: dir, cacheDir });
    assert.equal(spec.path, file);
    await assert.rejects(pullModel('cifar10-resnet20', { modelsDir: dir, cacheDir, url: `http://127.0.0.1:${port}/nope` }), { code: 'OWSD_ERR_DOWNLOAD', message: /HTTP 404/ });
  } finally {
    server.close();
  }
});
