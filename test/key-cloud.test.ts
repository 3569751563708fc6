/**
 * Issue 16 items 10, 11 and 12 against the real embedded cloud on loopback: no budget spent on a cloud that is
 * down or a misspelt model name, reservations of requests refused before they left given back; predict and eval
 * with a retired key follow the rotation (and say so), serve checks --key; bundle and rotation writes never follow
 * a planted symlink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, fit, Predictor, readKeyFile, rotateKeys, UsageLedger, writeKeyFile } from '../src/index.js';
import { startCloudServer, startGateway, type RunningCloud } from '../src/server/index.js';
import { dataDir, modelsDir, runOwsd, tempDir } from './helpers.js';

const CLOUD_MODEL = 'cifar10-resnet20';
const ENCODER = 'mobilenetv2-12-int8';
const env = { ...process.env, OWSD_MODELS: modelsDir };
const dir = tempDir();
const data = { path: path.join(dataDir, 'imagenette-val'), labels: 2, perLabel: 4, testFraction: 0.25, seed: 5 };
const iin = { epochs: 3, hidden: 16, batchSize: 4 };
const cloud: RunningCloud = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
test.after(() => cloud.close());

function newKey(name: string, fill: number, budget = 200): string {
  const file = path.join(dir, `${name}.key`);
  writeKeyFile(file, createKey({ secret: new Uint8Array(32).fill(fill), imageSize: 32, budget, embeddingNoise: 0 }));
  return file;
}
const used = (file: string) => UsageLedger.open(readKeyFile(file)).used;
const fitWith = (keyFile: string, out: string, url = cloud.url, modelName = CLOUD_MODEL) =>
  fit({ keys: [readKeyFile(keyFile)], encoders: [ENCODER], cloud: { url, modelName }, data, out, modelsDir, iin });
const image = () => {
  const cls = path.join(data.path, 'n01440764');
  return path.join(cls, fs.readdirSync(cls).sort().at(-1)!);
};

function victim(name: string): string {
  const f = path.join(tempDir(), name);
  fs.writeFileSync(f, 'precious\n');
  return f;
}

const keyFile = newKey('main', 71);
const bundle = path.join(dir, 'bundle');
let fitted = false;

test('EXPECTED FAILURE - fit never follows a symlink planted at the bundle\'s predictable names', async () => {
  fs.mkdirSync(bundle);
  const v1 = victim('v1');
  const v2 = victim('v2');
  fs.symlinkSync(v1, path.join(bundle, `bundle.json.${process.pid}.tmp`)); // the temp name bundle.json had
  fs.symlinkSync(v2, path.join(bundle, 'iin.onnx')); // the final name, written in place before
  const r = await fitWith(keyFile, bundle);
  fitted = true;
  assert.equal(r.trainSamples, 6);
  assert.equal(fs.readFileSync(v1, 'utf8'), 'precious\n');
  assert.equal(fs.readFileSync(v2, 'utf8'), 'precious\n');
  assert.ok(fs.lstatSync(path.join(bundle, 'iin.onnx')).isFile() && fs.lstatSync(path.join(bundle, 'bundle.json')).isFile());
});

test('EXPECTED FAILURE - a stopped cloud costs nothing: fit fails before reserving, naming the cloud', async () => {
  const stopped = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  const url = stopped.url;
  await stopped.close();
  const k = newKey('stopped', 72);
  await assert.rejects(fitWith(k, path.join(dir, 'b-stopped'), url), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'OWSD_ERR_CLOUD_NETWORK', e.message);
    assert.match(e.message, /not ready.*ECONNREFUSED.*nothing was sent and no budget was spent/);
    return true;
  });
  assert.equal(used(k), 0);
});

test('EXPECTED FAILURE - a misspelt model name costs nothing and the error names the model', async () => {
  const k = newKey('misspelt', 73);
  await assert.rejects(fitWith(k, path.join(dir, 'b-misspelt'), cloud.url, 'cifar10-resnet2O'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'OWSD_ERR_MODEL_NOT_FOUND', e.message);
    assert.match(e.message, /has no model 'cifar10-resnet2O'.*HTTP 404.*--model-name/);
    return true;
  });
  assert.equal(used(k), 0);
});

test('EXPECTED FAILURE - requests refused before they left (the cloud stopped mid-session) are given back; none that arrived', async () => {
  assert.ok(fitted, 'needs the bundle of the first test');
  const own = await startCloudServer({ model: CLOUD_MODEL, modelsDir, logger: false });
  const p = await Predictor.open({ bundle, keys: [readKeyFile(keyFile)], modelsDir, cloud: { url: own.url } });
  try {
    const before = used(keyFile);
    await p.predict([{ kind: 'file', path: image() }], 1); // checks the cloud, sends 1
    assert.equal(used(keyFile), before + 1);
    await own.close();
    // Within the readiness check's 30 s: sent, refused (5 attempts), every reservation given back.
    await assert.rejects(p.predict([{ kind: 'file', path: image() }], 1), { code: 'OWSD_ERR_CLOUD_NETWORK' });
    assert.equal(used(keyFile), before + 1, 'nothing left the machine: nothing counted');
  } finally {
    await p.close();
    await own.close();
  }
});

let rotated: Awaited<ReturnType<typeof rotateKeys>> | undefined;

test('EXPECTED FAILURE - a rotation never follows a symlink planted at the rotation record\'s predictable temp name', async () => {
  assert.ok(fitted, 'needs the bundle of the first test');
  const v = victim('v3');
  fs.symlinkSync(v, path.join(bundle, `rotated-to.json.${process.pid}.tmp`));
  rotated = await rotateKeys({ bundle, keys: [readKeyFile(keyFile)], modelsDir, secrets: [new Uint8Array(32).fill(74)] });
  assert.equal(fs.readFileSync(v, 'utf8'), 'precious\n', 'the rotation record did not write through the symlink');
  assert.ok(fs.lstatSync(path.join(bundle, 'rotated-to.json')).isFile());
});

test('EXPECTED FAILURE - after a rotation, predict and eval with the old bundle and key use the successor and say so; serve checks --key', async () => {
  const r = rotated;
  assert.ok(r, 'needs the rotation of the test before');
  const newKeyFile = r.keyFiles[0]!;
  const oldUsed = used(keyFile);
  const newUsed = used(newKeyFile);

  const pr = await runOwsd(['predict', '--bundle', bundle, '--key', keyFile, '--top', '1', '--json', image()], env);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stderr, new RegExp(`retired by a rotation: using the successor bundle ${r.bundleDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} with key\\(s\\) ${r.keys[0]!.id}`));
  assert.equal(used(keyFile), oldUsed, 'nothing more sent on the retired key');
  assert.equal(used(newKeyFile), newUsed + 1);

  const ev = await runOwsd(['eval', '--bundle', bundle, '--key', keyFile, '--json'], env);
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(ev.stderr, /retired by a rotation/);
  assert.deepEqual((JSON.parse(ev.stdout) as { keyIds: string[] }).keyIds, [r.keys[0]!.id]);
  assert.equal(used(keyFile), oldUsed);
  assert.ok(used(newKeyFile) > newUsed + 1);

  // serve (the gateway) checks the --key it is given even when it follows the rotation.
  for (const [keyFiles, re] of [
    [[dir], /not a file/],
    [[newKeyFile], /was fitted with key\(s\) .*but got/],
  ] as const) {
    let g: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      g = await startGateway({ bundle, keyFiles: [...keyFiles], modelsDir, port: 0, log: false });
    } catch (e) {
      assert.match((e as Error).message, re);
      assert.match((e as { code: string }).code, /^OWSD_ERR_KEY/);
      continue;
    } finally {
      await g?.close();
    }
    assert.fail(`serve accepted --key ${keyFiles.join(' ')}`);
  }
});
