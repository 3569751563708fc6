/**
 * An ONNX image classifier hosted as-is: preprocess per its spec, run, and return class probabilities (softmax
 * over logits where the model gives logits). This is what the embedded cloud serves.
 */
import { preprocessBatch, outputSize } from '../image/preprocess.js';
import type { ImageInput } from '../types.js';
import { OnnxRunner, softmaxRows } from './runner.js';
import type { ModelSpec } from './spec.js';
import { fail } from '../errors.js';

export class OnnxClassifier {
  private constructor(
    readonly spec: ModelSpec,
    readonly runner: OnnxRunner,
    readonly outputName: string,
    readonly numClasses: number,
  ) {}

  static async create(spec: ModelSpec, opts: { threads?: number } = {}): Promise<OnnxClassifier> {
    if (spec.format !== 'onnx') return fail('OWSD_ERR_MODEL_LOAD', `model '${spec.name}' is in ${spec.format} format; only ONNX models can be hosted`);
    const size = outputSize(spec.preprocess);
    const itemDims = spec.input.layout === 'NHWC' ? [size, size, 3] : [3, size, size];
    const runner = await OnnxRunner.create(spec.path, { what: `model '${spec.name}' (${spec.path})`, itemDims, inputName: spec.input.name, threads: opts.threads });
    const outputName = spec.output.name ?? runner.outputNames[0]!;
    if (!runner.outputNames.includes(outputName)) {
      return fail('OWSD_ERR_MODEL_LOAD', `model '${spec.name}' has no output '${outputName}' (outputs: ${runner.outputNames.join(', ')})`);
    }
    // Learn the number of classes from one run on a blank image.
    const [probe] = await runner.run(new Float32Array(itemDims.reduce((a, b) => a * b, 1)), 1, [outputName]);
    return new OnnxClassifier(spec, runner, outputName, probe!.length);
  }

  get inputSize(): number {
    return outputSize(this.spec.preprocess);
  }

  /** Probabilities for preprocessed input ([N, ...itemDims] floats). */
  async classifyTensor(data: Float32Array, n: number): Promise<Float32Array> {
    const [out] = await this.runner.run(data, n, [this.outputName]);
    const probs = new Float32Array(out!);
    return this.spec.output.kind === 'logits' ? softmaxRows(probs, this.numClasses) : probs;
  }

  /** Probabilities for images, N x numClasses. */
  async classify(images: ImageInput[]): Promise<Float32Array> {
    const data = await preprocessBatch(images, this.spec.preprocess, this.spec.input.layout);
    return this.classifyTensor(data, images.length);
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
