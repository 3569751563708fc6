/**
 * The one place that imports onnxruntime-node. Sessions run on the CPU execution provider with the configured
 * number of intra-op threads.
 *
 * onnxruntime-node's Linux build carries Microsoft's 1DS telemetry client, which starts with onnxruntime's
 * environment (the first session of a process): it reads /etc/machine-id, /etc/os-release and the whole of
 * /proc/self/cmdline, and parses the command line with a recursive regular expression, about one stack frame per
 * byte. A command line of 70 KB (`owsd scramble` over 1,200 image paths) overflowed the main thread's 8 MB stack
 * (SIGSEGV, 87,000 frames); a worker thread's smaller stack overflows sooner. It also prepares uploads to a
 * collector on the internet, which a privacy tool must never attempt. onnxruntime skips all of it when
 * ORT_DISABLE_TELEMETRY is set in the process environment at the moment its environment is created, so we set it
 * here, before any session exists (test/long-argv.test.ts: 10,000 paths, the main thread and a worker with a 1 MB
 * stack; strace shows no read of /proc/self/cmdline).
 */
import { isMainThread } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { settings } from '../settings.js';
import { describe, fail } from '../errors.js';

/** Set by this module on the main thread (process.env writes reach the real environment only there). */
export const TELEMETRY_OFF = 'ORT_DISABLE_TELEMETRY';
if (isMainThread) process.env[TELEMETRY_OFF] = '1';

export { ort };
export type Session = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
export const Tensor = ort.Tensor;

export interface SessionOptions {
  threads?: number;
  /** Name of the model for error messages. */
  what: string;
}

export async function createSession(model: string | Uint8Array, opts: SessionOptions): Promise<ort.InferenceSession> {
  if (process.env[TELEMETRY_OFF] !== '1') {
    // A worker thread's process.env is a copy: setting it there does not reach onnxruntime. The environment must
    // come from the main thread (which sets it when it loads owsd) or from the user.
    return fail(
      'OWSD_ERR_MODEL_LOAD',
      `cannot load ${opts.what}: onnxruntime's telemetry must be off before its first session (it reads and uploads process details, and overflows the stack on long command lines); import owsd in the main thread before starting workers, or set ${TELEMETRY_OFF}=1`,
    );
  }
  try {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads ?? settings.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // onnxruntime's session config entries session.intra_op.allow_spinning / session.inter_op.allow_spinning
      ...(settings.ortSpinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
    };
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    return fail('OWSD_ERR_MODEL_LOAD', `cannot load ${opts.what}: ${describe(e)}`, e);
  }
}

export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims as number[]);
}
