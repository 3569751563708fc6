/**
 * Two tiny ONNX classifiers built with our own graph writer, in a models directory of their own, for tests
 * that need the whole pipeline on thousands of images in seconds: an 8x8 encoder (4x4 average pooling, a 12-d
 * embedding feeding a Gemm to 10 logits) and a 32x32 cloud classifier (8x8 pooling, 48 features, 10 CIFAR-10
 * logits). Deterministic weights; what they predict means nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { floatTensor, makeGraph, makeModel, makeNode, serializeModel, valueInfo } from '../src/internal/onnx-graph.js';

function pooledClassifier(name: string, side: number, pool: number): Uint8Array {
  const features = 3 * (side / pool) ** 2;
  const w = Array.from({ length: features * 10 }, (_, i) => Math.sin(i * 1.7) * 0.5);
  const b = Array.from({ length: 10 }, (_, i) => i * 0.01);
  const graph = makeGraph(
    name,
    [
      makeNode('AveragePool', ['x'], ['pooled'], { kernel_shape: [pool, pool], strides: [pool, pool] }),
      makeNode('Flatten', ['pooled'], ['features'], { axis: 1 }),
      makeNode('Gemm', ['features', 'w', 'b'], ['logits']),
    ],
    [valueInfo('x', 'FLOAT', ['batch', 3, side, side])],
    [valueInfo('logits', 'FLOAT', ['batch', 10])],
    [floatTensor('w', [features, 10], w), floatTensor('b', [10], b)],
  );
  return serializeModel(makeModel(graph));
}

/**
 * Write the two models and a models.json naming them ('tiny-encoder', 'tiny-cloud') into `dir` (a models
 * directory, as for --models: a bundle names its encoders by name).
 */
export function writeTinyModels(dir: string): { dir: string; encoder: string; cloud: string } {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tiny-encoder.onnx'), pooledClassifier('tiny-encoder', 8, 4));
  fs.writeFileSync(path.join(dir, 'tiny-cloud.onnx'), pooledClassifier('tiny-cloud', 32, 8));
  const entry = (name: string, side: number) => ({ name, file: `${name}.onnx`, input: { shape: ['batch', 3, side, side] }, output: { kind: 'logits' }, preprocess: { resize: side } });
  fs.writeFileSync(path.join(dir, 'models.json'), JSON.stringify({ models: [entry('tiny-encoder', 8), { ...entry('tiny-cloud', 32), labels: 'cifar-10' }] }));
  return { dir, encoder: 'tiny-encoder', cloud: 'tiny-cloud' };
}
