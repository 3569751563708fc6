/**
 * `owsd models inspect FILE.onnx` on real models from ../shared/models: inputs, outputs and shapes as the model
 * gives them, and a manifest entry skeleton that owsd accepts (saved as a sidecar, the bare file then works).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { modelsDir, runOwsd, tempDir } from './helpers.js';
import { resolveModel } from '../src/index.js';
import { parseModelEntry } from '../src/models/manifest.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };

test('models inspect: the int8 MobileNetV2 (symbolic batch) and the CIFAR ResNet-20 (batch fixed at 1), text and --json', async () => {
  const mobilenet = path.join(modelsDir, 'mobilenetv2-12-int8.onnx');
  const j = await runOwsd(['models', 'inspect', mobilenet, '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  const r = JSON.parse(j.stdout);
  assert.deepEqual(r.inputs, [{ name: 'input', type: 'float32', shape: ['batch_size', 3, 224, 224] }]);
  assert.deepEqual(r.outputs, [{ name: 'output', type: 'float32', shape: ['batch_size', 1000] }]);
  assert.equal(r.layout, 'NCHW');
  assert.equal(r.imageSize, 224);
  assert.equal(r.classes, 1000);
  assert.equal(r.sha256, '83530ad811bc31d2b60a5599a21265a5057608c9b044b4ee758cc22f2309f54f');
  assert.equal(r.manifestEntry.labels, 'imagenet-1k');
  assert.deepEqual(r.manifestEntry.preprocess, { resize: 256, center_crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  // The skeleton is a valid manifest entry.
  const spec = parseModelEntry(r.manifestEntry, modelsDir, 'inspect');
  assert.equal(spec.input.name, 'input');
  assert.equal(spec.labels?.ids.length, 1000);

  const resnet = path.join(modelsDir, 'cifar10-resnet20.onnx');
  const t = await runOwsd(['models', 'inspect', resnet], env);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^inputs:\n {2}input\.1 {2}float32 \[1, 3, 32, 32\]\noutputs:\n {2}208 {2}float32 \[1, 10\]\nlayout NCHW, 32x32 images, 10 classes$/m);
  assert.match(t.stdout, /"labels": "cifar-10"/);
  assert.match(t.stdout, /^note: "preprocess" is a guess/m);
});

test('models inspect: the skeleton saved as a sidecar makes the bare file usable; a missing or broken file is named', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'resnet.onnx');
  fs.copyFileSync(path.join(modelsDir, 'cifar10-resnet20.onnx'), file);
  const j = await runOwsd(['models', 'inspect', file, '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  fs.writeFileSync(`${file}.json`, JSON.stringify(JSON.parse(j.stdout).manifestEntry));
  const spec = await resolveModel(file);
  assert.equal(spec.sha256, 'cb77fa0c7e683ce41d0ec965c1dd26ae942ed3bed0483fd05bd289056755b802');
  assert.equal(spec.preprocess.resize, 32);

  const missing = await runOwsd(['models', 'inspect', path.join(dir, 'nope.onnx'), '--json'], env);
  assert.equal(missing.code, 4);
  assert.deepEqual(JSON.parse(missing.stdout), { error: `model file ${path.join(dir, 'nope.onnx')} does not exist`, code: 'OWSD_ERR_MODEL_NOT_FOUND' });
  const junk = path.join(dir, 'junk.onnx');
  fs.writeFileSync(junk, 'not a model');
  const bad = await runOwsd(['models', 'inspect', junk], env);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, /^owsd: cannot load model file .*junk\.onnx: /);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});
