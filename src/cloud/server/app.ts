/**
 * The embedded cloud: a fastify app serving ONNX classifiers over the KServe V2 / Open Inference Protocol REST
 * API (see ../protocol.ts for the messages and the input profile). `buildCloudApp` does not listen, so tests can
 * `app.inject()`; `startCloudServer` (./start.ts) loads models and listens.
 *
 * Requests and answers may be JSON or binary_tensor_data (the JSON, then raw tensor bytes; see ../protocol.ts).
 * Every failure answers `{"error": "..."}` with a 4xx status naming the field (413 for an oversized body, 404 for
 * an unknown model or route), and the server keeps serving. One log line per request goes to the logger.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { describe, isOwsdError, fail, OwsdError } from '../../errors.js';
import { preprocessBatch } from '../../image/preprocess.js';
import { addServerHooks, requestTimeoutOptions } from '../../internal/http-server.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../internal/json-depth.js';
import type { ImageInput } from '../../types.js';
import type { OnnxClassifier } from '../../models/classifier.js';
import {
  BINARY_EXTENSION,
  buildBinaryProbabilitiesResponse,
  buildProbabilitiesResponse,
  HEADER_LENGTH_HEADER,
  splitBinaryBody,
  wantsBinaryOutput,
  IMAGE_INPUT,
  LABELS_EXTENSION,
  ONNX_PLATFORM,
  parseInferenceRequest,
  PROBABILITIES_OUTPUT,
  tensorToImageBatch,
  type ModelMetadataResponse,
  type ServerMetadataResponse,
} from '../protocol.js';

/** What the server needs of a classifier (OnnxClassifier has it). */
export type HostedClassifier = Pick<OnnxClassifier, 'spec' | 'numClasses' | 'inputSize' | 'classifyTensor'>;

export interface HostedModel {
  /** The name in the URL (/v2/models/{name}). */
  name: string;
  classifier: HostedClassifier;
  /** The one version served (default "1"). */
  version?: string;
  /** onnxruntime intra-op threads of its session, where the server loaded it (loadHostedModels). */
  threads?: number;
}

/** A request log sink: one line per request, or false for silence. */
export type CloudLogger = ((line: string) => void) | false;

export interface CloudAppOptions {
  models: HostedModel[];
  /** Largest request body accepted; larger ones answer 413 (default 64 MiB). */
  maxBodyBytes?: number;
  /** Most images in one request (default 256). */
  maxImagesPerRequest?: number;
  /** Default: one line per request to stderr. */
  logger?: CloudLogger;
  /**
   * A client must send its whole request (headers and body) within this time, or it is answered 408 and
   * disconnected, so slow clients cannot hold connections and body buffers forever (default 60 s).
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const SERVER_NAME = 'owsd-cloud';
export const SERVER_VERSION = '0.1.0';

const stderrLogger = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Runs one task at a time (one model run at a time per model; decoding of other requests goes on meanwhile). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

interface Served extends HostedModel {
  version: string;
  lock: Mutex;
}

/** KServe V2 model metadata for a hosted model. */
export function modelMetadata(m: HostedModel): ModelMetadataResponse {
  const spec = m.classifier.spec;
  const c = m.classifier.numClasses;
  const size = m.classifier.inputSize;
  const meta: ModelMetadataResponse = {
    name: m.name,
    versions: [m.version ?? '1'],
    platform: ONNX_PLATFORM,
    inputs: [{ name: IMAGE_INPUT, datatype: 'BYTES', shape: [-1] }],
    outputs: [{ name: PROBABILITIES_OUTPUT, datatype: 'FP32', shape: [-1, c] }],
    parameters: {
      num_classes: c,
      input_size: size,
      layout: spec.input.layout,
      model_input: spec.input.name ?? '',
      model_input_shape: JSON.stringify(spec.input.shape),
      output_kind: spec.output.kind,
      accepts: 'one input: BYTES [N] of base64 PNG/JPEG (strings or {"b64": ...}), or raw RGB pixels UINT8 or FP32 (0..255) of shape [N,H,W,3] or [N,3,H,W]; any size; JSON or binary_tensor_data (Inference-Header-Content-Length)',
    },
  };
  if (spec.task) meta.parameters!.task = spec.task;
  if (spec.labels && spec.labels.ids.length === c) meta.labels = { ids: spec.labels.ids, names: spec.labels.names };
  return meta;
}

/** A binary_tensor_data request body: the parsed JSON part and the tensor bytes after it. */
class BinaryBody {
  constructor(
    readonly json: unknown,
    readonly binary: Uint8Array,
  ) {}
}

function parseJsonBody(buf: Uint8Array, what: string): unknown {
  if (buf.length === 0) return undefined;
  if (nestsDeeperThan(buf)) fail('OWSD_ERR_REQUEST', `request body${what} nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep; an inference request needs fewer than 10`);
  try {
    return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8'));
  } catch (e) {
    return fail('OWSD_ERR_REQUEST', `request body${what} is not valid JSON: ${describe(e)}`);
  }
}

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: message });
}

export function buildCloudApp(opts: CloudAppOptions): FastifyInstance {
  if (opts.models.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'buildCloudApp: no models to serve');
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxImages = opts.maxImagesPerRequest ?? 256;
  const log = opts.logger === undefined ? stderrLogger : opts.logger;
  const models = new Map<string, Served>();
  for (const m of opts.models) {
    if (models.has(m.name)) fail('OWSD_ERR_BAD_ARGUMENT', `buildCloudApp: model name '${m.name}' given twice`);
    models.set(m.name, { ...m, version: m.version ?? '1', lock: new Mutex() });
  }

  const app = Fastify({ logger: false, bodyLimit: maxBody, return503OnClosing: true, forceCloseConnections: 'idle', ...requestTimeoutOptions(opts.requestTimeoutMs) });

  // Any content type is read as JSON (curl -d sends x-www-form-urlencoded), or as a binary_tensor_data body (JSON
  // then tensor bytes) when the request has an Inference-Header-Content-Length header, whatever its content type;
  // errors name the problem. Errors are reported from a preHandler, not from the parser: fastify closes the
  // connection after a parser error (the client might still be sending), which here is needless since the whole
  // body was read, and makes a flood of malformed requests cost a new connection each (p99 about 1 s under load
  // instead of a few ms).
  app.removeAllContentTypeParsers();
  const badBody = new WeakMap<object, OwsdError>();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (req, body, done) => {
    const buf = body as Buffer;
    const headerLength = req.headers[HEADER_LENGTH_HEADER];
    try {
      if (headerLength !== undefined) {
        const parts = splitBinaryBody(buf, Array.isArray(headerLength) ? headerLength.join(',') : headerLength);
        return done(null, new BinaryBody(parseJsonBody(parts.json, ' (the JSON part: the first Inference-Header-Content-Length bytes)'), parts.binary));
      }
      if (buf.length === 0) return done(null, undefined);
      done(null, parseJsonBody(buf, ''));
    } catch (e) {
      badBody.set(req, isOwsdError(e) ? e : new OwsdError('OWSD_ERR_REQUEST', `request body cannot be read: ${describe(e)}`));
      done(null, undefined);
    }
  });
  app.addHook('preHandler', async (req) => {
    const e = badBody.get(req);
    if (e) throw e;
  });

  addServerHooks(app, log);

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isOwsdError(err)) return sendError(reply, err.status, err.message);
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) {
      return sendError(reply, 413, `request body is larger than the server's limit of ${maxBody} bytes; send fewer or smaller images per request`);
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, e.statusCode, e.message ?? 'bad request');
    if (log) log(`internal error: ${describe(err)}`);
    return sendError(reply, 500, `internal error: ${describe(err)}`);
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, `no such endpoint: ${req.method} ${req.url.split('?')[0]} (KServe V2: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}][/ready], POST /v2/models/{name}[/versions/{v}]/infer)`),
  );

  const find = (params: unknown): Served => {
    const { name, version } = params as { name: string; version?: string };
    const m = models.get(name);
    if (!m) return fail('OWSD_ERR_MODEL_NOT_FOUND', `unknown model '${name}'; this server serves: ${[...models.keys()].join(', ')}`);
    if (version !== undefined && version !== m.version) {
      return fail('OWSD_ERR_MODEL_NOT_FOUND', `model '${name}' has no version '${version}' (versions: ${m.version})`);
    }
    return m;
  };

  app.get('/v2', async (): Promise<ServerMetadataResponse> => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [LABELS_EXTENSION, BINARY_EXTENSION] }));
  app.get('/v2/health/live', async (_req, reply) => reply.code(200).send());
  app.get('/v2/health/ready', async (_req, reply) => reply.code(200).send());

  const metadata = async (req: FastifyRequest) => modelMetadata(find(req.params));
  app.get('/v2/models/:name', metadata);
  app.get('/v2/models/:name/versions/:version', metadata);

  const ready = async (req: FastifyRequest, reply: FastifyReply) => {
    find(req.params);
    return reply.code(200).send();
  };
  app.get('/v2/models/:name/ready', ready);
  app.get('/v2/models/:name/versions/:version/ready', ready);

  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = find(req.params);
    const request = req.body instanceof BinaryBody ? parseInferenceRequest(req.body.json, req.body.binary) : parseInferenceRequest(req.body);
    if (request.inputs.length !== 1) {
      fail('OWSD_ERR_REQUEST', `inputs: expected exactly one input tensor (the images), got ${request.inputs.length}`);
    }
    for (const [i, o] of (request.outputs ?? []).entries()) {
      if (o.name !== PROBABILITIES_OUTPUT) fail('OWSD_ERR_REQUEST', `outputs[${i}].name: unknown output '${o.name}'; this model has one output, '${PROBABILITIES_OUTPUT}'`);
    }
    const batch = tensorToImageBatch(request.inputs[0]!, 'inputs[0]', maxImages);
    let images: ImageInput[];
    if (batch.kind === 'encoded') {
      images = batch.images.map((bytes, i) => ({ kind: 'encoded', bytes, name: `inputs[0].data[${i}]` }));
    } else {
      const per = batch.height * batch.width * 3;
      images = Array.from({ length: batch.n }, (_, i) => ({
        kind: 'raw',
        data: batch.data.subarray(i * per, (i + 1) * per),
        width: batch.width,
        height: batch.height,
        channels: 3,
        name: `inputs[0] image ${i}`,
      }));
    }
    const spec = m.classifier.spec;
    const tensor = await preprocessBatch(images, spec.preprocess, spec.input.layout);
    const probs = await m.lock.run(() => m.classifier.classifyTensor(tensor, images.length));
    const answer = { modelName: m.name, modelVersion: m.version, id: request.id, probs, n: images.length, numClasses: m.classifier.numClasses };
    if (!wantsBinaryOutput(request, PROBABILITIES_OUTPUT)) return buildProbabilitiesResponse(answer);
    const { body, headerLength } = buildBinaryProbabilitiesResponse(answer);
    return reply.header(HEADER_LENGTH_HEADER, String(headerLength)).type('application/octet-stream').send(body);
  };
  app.post('/v2/models/:name/infer', infer);
  app.post('/v2/models/:name/versions/:version/infer', infer);

  return app;
}
