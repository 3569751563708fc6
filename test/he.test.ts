import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Encoder, resolveModel } from '../src/index.js';
import { createCkksSetting, CkksClient, CkksHeadServer, fitLinearHead, plainScores } from '../src/research.js';
import { argmaxOf } from '../src/analysis/cloud-outputs.js';
import { imagenetteFiles, modelsDir } from './helpers.js';

const WNIDS = ['n01440764', 'n02102040', 'n03028079', 'n03888257'];

test('CKKS head (128-bit, n=4096) classifies real MobileNetV2 embeddings as the plaintext head does', async () => {
  const enc = await Encoder.create([await resolveModel('mobilenetv2-12-int8', { modelsDir })]);
  // 8 images per class fit the head, 2 more per class are classified under encryption.
  const files = WNIDS.map((w) => imagenetteFiles(10, w));
  const train = files.flatMap((f) => f.slice(0, 8));
  const held = files.flatMap((f) => f.slice(8));
  const e = await enc.encode([...train, ...held].map((p) => ({ kind: 'file' as const, path: p })));
  await enc.release();
  const dim = enc.dim;
  const labels = Int32Array.from(WNIDS.flatMap((_, c) => Array<number>(8).fill(c)));
  const head = await fitLinearHead(e.subarray(0, train.length * dim), labels, WNIDS.length, 0);
  const setting = await createCkksSetting(dim, WNIDS.length, 'n4096');
  assert.deepEqual(setting.steps, [1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
  const client = new CkksClient(setting);
  const server = new CkksHeadServer(setting, head);
  const gk = server.loadGaloisKeys(client.galoisKeys());
  let agree = 0;
  let correct = 0;
  for (let i = 0; i < held.length; i++) {
    const x = e.subarray((train.length + i) * dim, (train.length + i + 1) * dim);
    const ct = client.encrypt(x);
    // The ciphertext is not the embedding: it is far larger and does not contain its float32 bytes.
    assert.ok(ct.length > 4 * dim);
    assert.equal(Buffer.from(ct).indexOf(Buffer.from(x.buffer, x.byteOffset, 64)), -1);
    const scores = client.decrypt(server.evaluate(ct, gk));
    const plain = plainScores(head, x);
    for (let c = 0; c < WNIDS.length; c++) assert.ok(Math.abs(scores[c]! - plain[c]!) < 1e-3, `image ${i} class ${c}: ${scores[c]} vs ${plain[c]}`);
    if (argmaxOf(scores) === argmaxOf(plain)) agree++;
    if (argmaxOf(scores) === Math.floor(i / 2)) correct++;
  }
  assert.equal(agree, held.length);
  // Bytes that are not a ciphertext are refused with a clear error, not a WebAssembly exception.
  assert.throws(() => server.evaluate(new Uint8Array(100).fill(7), gk), /ciphertext: 100 bytes are not a SEAL ciphertext/);
  // The head is a real classifier: the held-out images are mostly right (chance 25%).
  assert.ok(correct >= 6, `${correct} of ${held.length} correct`);
  gk.delete();
  server.release();
  client.release();
});

test('CKKS parameters below 128-bit security are refused with the parameters named', async () => {
  await assert.rejects(
    createCkksSetting(1280, 10, { polyModulusDegree: 4096, coeffBits: [60, 40, 60], scaleBits: 40 }),
    (e: Error) => /n=4096, primes \[60, 40, 60\]/.test(e.message),
  );
  await assert.rejects(createCkksSetting(4096, 10, 'n4096'), /embedding dimension must be 1\.\.2048/);
});
