/** Load models by name or path and serve them on a port: the embedded cloud as a running server. */
import type { FastifyInstance } from 'fastify';
import { OnnxClassifier } from '../../models/classifier.js';
import { resolveModel } from '../../models/registry.js';
import { fail } from '../../errors.js';
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
  /** onnxruntime intra-op threads per model (default: settings.threads). */
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

/** Load the classifiers of `names` (in parallel). */
export async function loadHostedModels(names: string[], opts: { modelsDir?: string; threads?: number; entry?: Record<string, unknown> } = {}): Promise<HostedModel[]> {
  return Promise.all(
    names.map(async (nameOrPath) => {
      const spec = await resolveModel(nameOrPath, { modelsDir: opts.modelsDir, entry: opts.entry });
      const classifier = await OnnxClassifier.create(spec, { threads: opts.threads });
      return { name: spec.name, classifier };
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
