/**
 * Where one image's time goes at batch 1: every stage of OWSD's path timed on its own, side by side in one run, on
 * the same images, median over the images:
 *
 *   decode    the file read, decoded and resized for the encoder (sharp)
 *   encode    the encoder on that one image (normalise + ONNX run), giving the embedding
 *   generate  the key's generator (the default design unless --image-size): embedding -> RGB pixels (ONNX run)
 *   png       pixels -> PNG (sharp, the scrambler's settings)
 *   http      the KServe round trip minus the cloud's own time (client serialising, base64 for JSON, loopback
 *             transfer, reading the answer), once per wire: JSON and binary_tensor_data
 *   cloud     the cloud server's time for the request (fastify's elapsed time: body read and parsed, PNG decoded,
 *             the cloud model run, the answer written)
 *   cloud's parts  the same PNG through the cloud's own steps called directly, in the same process: its
 *             preprocessing (sharp decode, resize to the model's 256 px, centre crop 224, normalise) and its model
 *             run alone (onnxruntime on that tensor, softmax). They run after the round trips, not inside the
 *             server, so the cloud's time minus the two is no measure of the server's own part (timed inside the
 *             server, that was 0.4-0.9 ms: docs/performance-wire.md)
 *   iin       the IIN on [embedding, cloud vector] (the default shape; random weights: the time does not depend on them)
 *   ledger    the key's usage ledger counting the submission before it leaves (UsageLedger.reserve(1), on two
 *             scratch ledgers in a temporary folder, as the pipeline's two copies): the MEAN over the images, not
 *             the median, since the ledger writes durably (lock, fsync, rename) once per block of submissions
 *             and takes the others from its allowance (src/key/ledger.ts): the mean is the write's cost shared
 *             out, the median would hide it
 *
 * The cloud runs in this process (startCloudServer on loopback) so its own time per request can be read from its
 * log line; requests are one at a time, so the server and the client never compete for the event loop, and the two
 * wires take turns going first.
 * Also measured in the same run: bytes up and down per image on each wire, and PNG settings (bytes, encode time,
 * lossless check) on the same scrambled images.
 *
 *   npm run build && node dist/bench/latency.js [--images 20] [--image-size DEFAULT_IMAGE_SIZE] [--encoder mobilenetv2-12-int8]
 *     [--cloud shufflenet-v2-12-qdq]                      (OWSD_MODELS / OWSD_DATA or ../shared)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type PngOptions } from 'sharp';
import { loadForModel, preprocessBatch } from '../src/image/preprocess.js';
import { encodePng, PNG_OPTIONS } from '../src/scrambler/png.js';
import { KServeClient } from '../src/cloud/clients/kserve.js';
import { buildBinaryImageRequest, buildImageInferenceRequest, HEADER_LENGTH_HEADER } from '../src/cloud/protocol.js';
import { Iin } from '../src/iin/index.js';
import { createKey, DEFAULT_IMAGE_SIZE, Encoder, resolveModel, Scrambler } from '../src/index.js';
import { demoSecret, startCloudServer } from '../src/server/index.js';
import { markScrambled } from '../src/scrambler/scrambled.js';
import type { ImageInput } from '../src/types.js';
import { dataDir, modelsDir } from '../test/helpers.js';
import { isMain, printTable, randomIin, saveResult, scratchBudgetCount } from './lib.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const round = (x: number, d = 2): number => +x.toFixed(d);

/** PNG settings compared (all lossless: no palette; sharp's `effort` would switch the palette on, so it is not tried). */
export const PNG_CANDIDATES: Array<{ name: string; options: PngOptions }> = [
  { name: 'level 0 (stored)', options: { compressionLevel: 0, adaptiveFiltering: false, palette: false } },
  { name: 'level 1', options: { compressionLevel: 1, adaptiveFiltering: false, palette: false } },
  { name: 'level 1 + adaptive filter', options: { compressionLevel: 1, adaptiveFiltering: true, palette: false } },
  { name: 'level 3', options: { compressionLevel: 3, adaptiveFiltering: false, palette: false } },
  { name: 'level 6', options: { compressionLevel: 6, adaptiveFiltering: false, palette: false } },
  { name: 'level 6 + adaptive filter', options: { compressionLevel: 6, adaptiveFiltering: true, palette: false } },
  { name: 'level 9 + adaptive filter', options: { compressionLevel: 9, adaptiveFiltering: true, palette: false } },
];

function imagenetteSample(n: number): string[] {
  const root = path.join(dataDir, 'imagenette-val');
  const classes = fs.readdirSync(root).filter((d) => fs.statSync(path.join(root, d)).isDirectory()).sort();
  const files: string[] = [];
  for (let i = 0; files.length < n; i++) {
    const dir = path.join(root, classes[i % classes.length]!);
    files.push(path.join(dir, fs.readdirSync(dir).sort()[Math.floor(i / classes.length)]!));
  }
  return files;
}


export async function runLatency(opts: { images?: number; imageSize?: number; encoder?: string; cloud?: string } = {}): Promise<Record<string, unknown>> {
  const nImages = opts.images ?? 20;
  const imageSize = opts.imageSize ?? DEFAULT_IMAGE_SIZE;
  const encoderName = opts.encoder ?? 'mobilenetv2-12-int8';
  const cloudName = opts.cloud ?? 'shufflenet-v2-12-qdq';
  const files = imagenetteSample(nImages + 1); // the first one warms every stage up and is not counted

  const encSpec = await resolveModel(encoderName, { modelsDir });
  const encoder = await Encoder.create([encSpec]);
  const key = createKey({ secret: demoSecret(0), imageSize, budget: 1_000_000 });
  const scrambler = await Scrambler.create(key, encoder.dim);
  const serverMs: number[] = [];
  const cloud = await startCloudServer({
    model: cloudName,
    modelsDir,
    port: 0,
    logger: (line) => {
      const m = / (\d+) ([\d.]+)ms$/.exec(line);
      if (m && line.startsWith('POST ')) serverMs.push(Number(m[2]));
    },
  });
  const json = new KServeClient({ url: cloud.url, modelName: cloudName, wire: 'json' });
  const binary = new KServeClient({ url: cloud.url, modelName: cloudName, wire: 'binary' });
  const numClasses = cloud.models[0]!.classifier.numClasses;
  const iin = await Iin.create(randomIin(encoder.dim + numClasses, 10));

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'owsd-latency-bench-'));
  const budgetCount = scratchBudgetCount(key, scratch);
  const stages = ['decode', 'encode', 'generate', 'png', 'ledger', 'httpJson', 'cloudJson', 'httpBinary', 'cloudBinary', 'cloudPreprocess', 'cloudRun', 'iin'] as const;
  const t: Record<(typeof stages)[number], number[]> = Object.fromEntries(stages.map((s) => [s, []])) as never;
  const bytes = { jsonUp: [] as number[], jsonDown: [] as number[], binaryUp: [] as number[], binaryDown: [] as number[] };
  const pixelsKept: Uint8Array[] = [];
  const pngKept: Uint8Array[] = [];
  const roundTrip = async (client: KServeClient, png: Uint8Array): Promise<{ total: number; server: number; vector: Float32Array }> => {
    const before = serverMs.length;
    const t0 = performance.now();
    const [vector] = await client.classify([markScrambled(png)]);
    const total = performance.now() - t0;
    await new Promise((r) => setImmediate(r));
    if (serverMs.length !== before + 1) throw new Error(`expected one server log line for the request, got ${serverMs.length - before}`);
    return { total, server: serverMs[before]!, vector: vector! };
  };

  try {
    for (const [i, file] of files.entries()) {
      const count = i > 0;
      const s0 = performance.now();
      const rgb = await loadForModel({ kind: 'file', path: file }, encSpec.preprocess);
      const s1 = performance.now();
      const raw: ImageInput = { kind: 'raw', data: rgb.data, width: rgb.width, height: rgb.height, channels: 3, name: file };
      const emb = await encoder.encode([raw]);
      const s2 = performance.now();
      const pixels = await scrambler.pixels(emb, 1);
      const s3 = performance.now();
      const png = await encodePng(pixels, imageSize);
      const s4 = performance.now();
      budgetCount(1);
      const sL = performance.now();
      // The wires take turns going first, so neither always follows the generator's run.
      const jFirst = i % 2 === 0;
      const first = await roundTrip(jFirst ? json : binary, png);
      const second = await roundTrip(jFirst ? binary : json, png);
      const [j, b] = jFirst ? [first, second] : [second, first];
      if (j.vector.some((x, k) => x !== b.vector[k])) throw new Error('the JSON and binary wires gave different vectors');
      // The cloud's own steps on the same PNG, called directly (after the round trips, so they do not warm them).
      const hosted = cloud.models[0]!.classifier;
      const c0 = performance.now();
      const tensor = await preprocessBatch([{ kind: 'encoded', bytes: png, name: 'scrambled' }], hosted.spec.preprocess, hosted.spec.input.layout);
      const c1 = performance.now();
      await hosted.classifyTensor(tensor, 1);
      const c2 = performance.now();
      const s5 = performance.now();
      const x = new Float32Array(encoder.dim + numClasses);
      x.set(emb, 0);
      x.set(b.vector, encoder.dim);
      await iin.predict(x, 1);
      const s6 = performance.now();
      if (!count) continue;
      t.decode.push(s1 - s0);
      t.encode.push(s2 - s1);
      t.generate.push(s3 - s2);
      t.png.push(s4 - s3);
      t.ledger.push(sL - s4);
      t.httpJson.push(j.total - j.server);
      t.cloudJson.push(j.server);
      t.httpBinary.push(b.total - b.server);
      t.cloudBinary.push(b.server);
      t.cloudPreprocess.push(c1 - c0);
      t.cloudRun.push(c2 - c1);
      t.iin.push(s6 - s5);
      pixelsKept.push(pixels);
      pngKept.push(png);
      // Bytes on the wire for this image (outside the timed path): request and answer bodies on each wire.
      const url = `${cloud.url}/v2/models/${encodeURIComponent(cloudName)}/infer`;
      const jBody = JSON.stringify(buildImageInferenceRequest([Buffer.from(png).toString('base64')]));
      const jRes = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: jBody });
      bytes.jsonUp.push(Buffer.byteLength(jBody));
      bytes.jsonDown.push((await jRes.arrayBuffer()).byteLength);
      const bReq = buildBinaryImageRequest([png], { binaryOutput: true });
      const bRes = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH_HEADER]: String(bReq.headerLength) }, body: bReq.body });
      bytes.binaryUp.push(bReq.body.length);
      bytes.binaryDown.push((await bRes.arrayBuffer()).byteLength);
      serverMs.length = 0;
    }
  } finally {
    await cloud.close();
    await encoder.release();
    await scrambler.release();
    await iin.release();
    fs.rmSync(scratch, { recursive: true, force: true });
  }

  // Medians, but the ledger's mean: it writes once per block, so its median would be the allowance's 0.
  const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;
  const med = Object.fromEntries(stages.map((s) => [s, round(s === 'ledger' ? mean(t[s]) : median(t[s]))])) as Record<(typeof stages)[number], number>;
  const common = med.decode + med.encode + med.generate + med.png + med.ledger + med.iin;
  const totalJson = common + med.httpJson + med.cloudJson;
  const totalBinary = common + med.httpBinary + med.cloudBinary;
  const meanOf = (xs: number[]): number => Math.round(xs.reduce((a, x) => a + x, 0) / xs.length);
  const wire = {
    json: { bytesUpPerImage: meanOf(bytes.jsonUp), bytesDownPerImage: meanOf(bytes.jsonDown) },
    binary: { bytesUpPerImage: meanOf(bytes.binaryUp), bytesDownPerImage: meanOf(bytes.binaryDown) },
  };

  // PNG settings on the same scrambled pixels: bytes, encode time, pixels after a round trip. The settings take
  // turns (image by image, PNG_REPS rounds each), so a change in the machine's load hits them all alike.
  const PNG_REPS = 5;
  const sizes = PNG_CANDIDATES.map(() => [] as number[]);
  const ms = PNG_CANDIDATES.map(() => [] as number[]);
  const lossless = PNG_CANDIDATES.map(() => true);
  for (const px of pixelsKept) {
    const reps = PNG_CANDIDATES.map(() => [] as number[]);
    for (let r = 0; r < PNG_REPS; r++) {
      for (const [k, c] of PNG_CANDIDATES.entries()) {
        const a = performance.now();
        const out = await sharp(px, { raw: { width: imageSize, height: imageSize, channels: 3 } }).png(c.options).toBuffer();
        reps[k]!.push(performance.now() - a);
        if (r > 0) continue;
        sizes[k]!.push(out.length);
        const back = await sharp(out).raw().toBuffer();
        if (!back.equals(Buffer.from(px.buffer, px.byteOffset, px.byteLength))) lossless[k] = false;
      }
    }
    reps.forEach((xs, k) => ms[k]!.push(median(xs)));
  }
  const pngSettings = PNG_CANDIDATES.map((c, k) => ({
    setting: c.name,
    bytesMean: meanOf(sizes[k]!),
    encodeMsMedian: round(median(ms[k]!)),
    lossless: lossless[k]!,
    current: JSON.stringify(c.options) === JSON.stringify(PNG_OPTIONS),
  }));
  const rawBytes = imageSize * imageSize * 3;

  const rows = [
    { stage: 'decode (file -> encoder input)', ms: med.decode },
    { stage: `encode (${encoderName})`, ms: med.encode },
    { stage: `generate (key, ${imageSize} px)`, ms: med.generate },
    { stage: 'png', ms: med.png },
    { stage: 'ledger (budget count; mean: one durable write per block)', ms: med.ledger },
    { stage: 'http, JSON wire', ms: med.httpJson },
    { stage: `cloud (${cloudName}), JSON request`, ms: med.cloudJson },
    { stage: 'http, binary wire', ms: med.httpBinary },
    { stage: `cloud (${cloudName}), binary request`, ms: med.cloudBinary },
    { stage: '  of which, called directly: preprocess (decode, resize, crop, normalise)', ms: med.cloudPreprocess },
    { stage: `  of which, called directly: model run (onnxruntime, ${cloud.models[0]!.threads} thread${cloud.models[0]!.threads === 1 ? '' : 's'}; softmax)`, ms: med.cloudRun },
    { stage: 'iin', ms: med.iin },
    { stage: 'sum of medians, JSON wire', ms: round(totalJson) },
    { stage: 'sum of medians, binary wire', ms: round(totalBinary) },
  ];
  console.log(`batch-1 latency by stage, median of ${t.decode.length} Imagenette images (the first, a warm-up, not counted)`);
  printTable(rows);
  console.log('bytes per image on the wire (request body up, answer body down):');
  printTable([
    { wire: 'JSON (base64 PNG)', 'bytes up': wire.json.bytesUpPerImage, 'bytes down': wire.json.bytesDownPerImage },
    { wire: 'binary_tensor_data (raw PNG, FP32 out)', 'bytes up': wire.binary.bytesUpPerImage, 'bytes down': wire.binary.bytesDownPerImage },
  ]);
  console.log(`PNG settings on the same ${pixelsKept.length} scrambled images (${rawBytes} bytes of raw pixels each):`);
  printTable(pngSettings);
  const result = {
    task: { images: t.decode.length, imageSize, encoder: encoderName, cloud: cloudName, pngOptions: PNG_OPTIONS },
    medianMs: med,
    totalMsJson: round(totalJson),
    totalMsBinary: round(totalBinary),
    wire,
    rawPixelBytes: rawBytes,
    pngBytesMean: meanOf(pngKept.map((p) => p.length)),
    pngSettings,
  };
  saveResult('latency', result);
  return result;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { images: { type: 'string' }, 'image-size': { type: 'string' }, encoder: { type: 'string' }, cloud: { type: 'string' } } });
  await runLatency({
    images: values.images === undefined ? undefined : Number(values.images),
    imageSize: values['image-size'] === undefined ? undefined : Number(values['image-size']),
    encoder: values.encoder,
    cloud: values.cloud,
  });
}
