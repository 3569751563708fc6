/** Load models by name or path and serve them on a port: the embedded cloud as a running server. */
import type { FastifyInstance } from 'fastify';
import { OnnxClassifier } from '../../models/classifier.js';
import { resolveModel } from '../../models/registry.js';
import { fail } from '../../errors.js';
import { settings } from '../../settings.js';
import { closeOnce, formatUrl, listenOrFail } from '../../internal/http-server.js';
import { buildCloudApp, type CloudLogger, type HostedModel } from './app.js';

export interface StartCloudOptions {
  /** One model (name in the models directory, or path to an .onnx file with a sidecar) or several. */
  model: string | string[];
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  modelsDir?: string;
  /** For bare .onnx paths without a sidecar: manifest-style fields (preprocess, labels). */
  entry?: Record<string, unknown>;
  maxBodyBytes?: number;
  maxImagesPerRequest?: number;
  logger?: CloudLogger;
  /** See CloudAppOptions.requestTimeoutMs. */
  requestTimeoutMs?: number;
  /**
   * onnxruntime intra-op threads per model. Default: settings.threads (OWSD_THREADS, else the number of cores),
   * except 1 for a model that runs one image at a time (batch dimension fixed at 1, or none) when OWSD_THREADS is
   * not set: see ONE_AT_A_TIME_THREADS.
   */
  threads?: number;
}

export interface RunningCloud {
  /** Base URL, e.g. http://127.0.0.1:40123 (the KServe client's `url`). */
  url: string;
  host: string;
  port: number;
  app: FastifyInstance;
  models: HostedModel[];
  /** Stop accepting connections, finish in-flight requests, release the models. */
  close(): Promise<void>;
}

/**
 * The intra-op threads of a hosted model that runs one image at a time (its batch dimension is fixed at 1, or it
 * has none, so a request of N images is N runs), when neither `threads` nor OWSD_THREADS says otherwise. Such a
 * run is too small to split: with two sleeping threads the workers' wake-ups cost more than the second core gives.
 * ShuffleNetV2 (shufflenet-v2-12-qdq) at 224 px on 2 shared cores: 2.7 ms a run with 1 thread against 3.5 ms with 2
 * (interleaved, 2026-12-03, load 2.9), and the embedded cloud's time for a 96 px PNG 6.9 ms against 7.6-8.0; four
 * concurrent clients got the same requests/s (bench/cloud-server.js; docs/performance-wire.md). The one model run
 * at a time per model leaves the other cores to decoding the next requests. Models with a batch dimension keep
 * settings.threads (batch 16 ran faster with 2).
 */
export const ONE_AT_A_TIME_THREADS = 1;

/** Load the classifiers of `names` (in parallel). */
export async function loadHostedModels(names: string[], opts: { modelsDir?: string; threads?: number; entry?: Record<string, unknown> } = {}): Promise<HostedModel[]> {
  const chosen = opts.threads ?? (process.env.OWSD_THREADS ? settings.threads : undefined);
  return Promise.all(
    names.map(async (nameOrPath) => {
      const spec = await resolveModel(nameOrPath, { modelsDir: opts.modelsDir, entry: opts.entry });
      let threads = chosen ?? settings.threads;
      let classifier = await OnnxClassifier.create(spec, { threads });
      const single = classifier.runner.batch.kind === 'none' || (classifier.runner.batch.kind === 'fixed' && classifier.runner.batch.size === 1);
      if (chosen === undefined && single && threads > ONE_AT_A_TIME_THREADS) {
        // The batch mode is read from the loaded model; the session is made again with one thread.
        await classifier.release();
        threads = ONE_AT_A_TIME_THREADS;
        classifier = await OnnxClassifier.create(spec, { threads });
      }
      return { name: spec.name, classifier, threads };
    }),
  );
}

export { formatUrl };

export async function startCloudServer(opts: StartCloudOptions): Promise<RunningCloud> {
  const names = Array.isArray(opts.model) ? opts.model : [opts.model];
  if (names.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'startCloudServer: no model given');
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('OWSD_ERR_BAD_ARGUMENT', `port must be an integer 0..65535, got ${port}`);
  const models = await loadHostedModels(names, { modelsDir: opts.modelsDir, threads: opts.threads, entry: opts.entry });
  const release = async (): Promise<void> => {
    await Promise.all(models.map((m) => (m.classifier as OnnxClassifier).release?.()));
  };
  const app = buildCloudApp({ models, maxBodyBytes: opts.maxBodyBytes, maxImagesPerRequest: opts.maxImagesPerRequest, logger: opts.logger, requestTimeoutMs: opts.requestTimeoutMs });
  const actualPort = await listenOrFail(app, host, port, release);
  return {
    url: formatUrl(host, actualPort),
    host,
    port: actualPort,
    app,
    models,
    close: closeOnce(app, release),
  };
}
