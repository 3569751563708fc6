/**
 * The encoder: a pretrained ImageNet-style classifier whose penultimate pooled features are the private
 * embedding. Several encoders concatenate their embeddings per image (the paper's use-case 4).
 *
 * **Example:**
 * ```ts
 * const encoder = await Encoder.create([await resolveModel('mobilenetv2-12-int8')]);
 * const emb = await encoder.encode([{ kind: 'file', path: 'cat.jpg' }]); // Float32Array(1280)
 * ```
 */
import fs from 'node:fs';
import { fail } from '../errors.js';
import { preprocessBatchSettled, outputSize } from '../image/preprocess.js';

import { OnnxRunner } from '../models/runner.js';
import type { ModelSpec, PreprocessSpec } from '../models/spec.js';
import type { ImageInput } from '../types.js';
import { EMBEDDING_OUTPUT, tapEmbedding } from './tap.js';

class SingleEncoder {
  constructor(
    readonly spec: ModelSpec,
    readonly runner: OnnxRunner,
    readonly dim: number,
    readonly source: string,
  ) {}

  static async create(spec: ModelSpec, threads?: number): Promise<SingleEncoder> {
    if (spec.format !== 'onnx') return fail('OWSD_ERR_MODEL_LOAD', `encoder '${spec.name}' is in ${spec.format} format; encoders must be ONNX models`);
    const what = `encoder '${spec.name}' (${spec.path})`;
    const tapped = tapEmbedding(fs.readFileSync(spec.path), what, spec.embedding, spec.output.name);
    const size = outputSize(spec.preprocess);
    const itemDims = spec.input.layout === 'NHWC' ? [size, size, 3] : [3, size, size];
    const runner = await OnnxRunner.create(tapped.model, { what, itemDims, inputName: spec.input.name, threads });
    const [probe] = await runner.run(new Float32Array(itemDims.reduce((a, b) => a * b, 1)), 1, [EMBEDDING_OUTPUT]);
    const dim = probe!.length;
    if (spec.embedding?.dim && spec.embedding.dim !== dim) {
      return fail('OWSD_ERR_MODEL_LOAD', `${what}: the manifest says the embedding has ${spec.embedding.dim} values, the graph gives ${dim}`);
    }
    return new SingleEncoder(spec, runner, dim, tapped.source);
  }

  /** Embeddings of the images that preprocess; the rows of those that do not stay zero and their errors are returned. */
  async encodeSettled(images: ImageInput[], skip: ReadonlySet<number> = new Set()): Promise<{ embeddings: Float32Array; failed: Map<number, unknown> }> {
    const todo = images.map((_, i) => i).filter((i) => !skip.has(i));
    const { data, failed: pre } = await preprocessBatchSettled(todo.map((i) => images[i]!), this.spec.preprocess, this.spec.input.layout);
    const failed = new Map<number, unknown>();
    for (const [j, e] of pre) failed.set(todo[j]!, e);
    const ok = todo.map((i, j) => [i, j] as const).filter(([i]) => !failed.has(i));
    const embeddings = new Float32Array(images.length * this.dim);
    if (ok.length === 0) return { embeddings, failed };
    const per = data.length / Math.max(1, todo.length);
    // Only the images that preprocessed go through the model.
    const input = ok.length === todo.length ? data : new Float32Array(ok.length * per);
    if (input !== data) ok.forEach(([, j], k) => input.set(data.subarray(j * per, (j + 1) * per), k * per));
    const [emb] = await this.runner.run(input, ok.length, [EMBEDDING_OUTPUT], 32);
    ok.forEach(([i], k) => embeddings.set(emb!.subarray(k * this.dim, (k + 1) * this.dim), i * this.dim));
    return { embeddings, failed };
  }

  async encode(images: ImageInput[]): Promise<Float32Array> {
    const { embeddings, failed } = await this.encodeSettled(images);
    for (const e of [...failed.entries()].sort((a, b) => a[0] - b[0])) throw e[1];
    return embeddings;
  }
}

export class Encoder {
  private constructor(private readonly parts: SingleEncoder[]) {}

  static async create(specs: ModelSpec[], opts: { threads?: number } = {}): Promise<Encoder> {
    if (specs.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'at least one encoder is needed');
    const parts = [];
    for (const s of specs) parts.push(await SingleEncoder.create(s, opts.threads));
    return new Encoder(parts);
  }

  /** Total embedding dimension (sum over encoders). */
  get dim(): number {
    return this.parts.reduce((a, p) => a + p.dim, 0);
  }

  get names(): string[] {
    return this.parts.map((p) => p.spec.name);
  }

  /** Each encoder's preprocessing (resize, crop, normalisation), in order. */
  get preprocess(): PreprocessSpec[] {
    return this.parts.map((p) => p.spec.preprocess);
  }

  /** Per encoder: name, dimension and the graph tensor the embedding is read from. */
  describe(): Array<{ name: string; dim: number; tensor: string }> {
    return this.parts.map((p) => ({ name: p.spec.name, dim: p.dim, tensor: p.source }));
  }

  /** N images → N x dim embeddings (concatenated across encoders, in the order given). */
  async encode(images: ImageInput[]): Promise<Float32Array> {
    const n = images.length;
    if (this.parts.length === 1) return this.parts[0]!.encode(images);
    const outs: Float32Array[] = [];
    for (const p of this.parts) outs.push(await p.encode(images));
    return this.join(outs, n);
  }

  /**
   * N images → N x dim embeddings, image by image: an image that cannot be read or preprocessed (by any encoder)
   * gets its error in `failed` and a zero row, and the others are encoded as if it were not there.
   */
  async encodeSettled(images: ImageInput[]): Promise<{ embeddings: Float32Array; failed: Map<number, unknown> }> {
    const n = images.length;
    const failed = new Map<number, unknown>();
    const outs: Float32Array[] = [];
    for (const p of this.parts) {
      const r = await p.encodeSettled(images, new Set(failed.keys()));
      for (const [i, e] of r.failed) if (!failed.has(i)) failed.set(i, e);
      outs.push(r.embeddings);
    }
    if (this.parts.length === 1) return { embeddings: outs[0]!, failed };
    return { embeddings: this.join(outs, n, failed), failed };
  }

  /** Each encoder's N x dim_k rows side by side into N x dim; rows of `skip` stay zero. */
  private join(outs: Float32Array[], n: number, skip: ReadonlyMap<number, unknown> = new Map()): Float32Array {
    const dim = this.dim;
    const joined = new Float32Array(n * dim);
    let offset = 0;
    this.parts.forEach((p, k) => {
      const e = outs[k]!;
      for (let i = 0; i < n; i++) if (!skip.has(i)) joined.set(e.subarray(i * p.dim, (i + 1) * p.dim), i * dim + offset);
      offset += p.dim;
    });
    return joined;
  }

  async release(): Promise<void> {
    for (const p of this.parts) await p.runner.release();
  }
}
