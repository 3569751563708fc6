/**
 * The cloud side of owsd: the clients that send scrambled images, the KServe V2 protocol they speak, and the plaintext
 * accuracy probe. The embedded KServe V2 server is ./server/index.ts, re-exported by the `owsd/server` entry
 * (src/server/index.ts), so that loading the clients loads no fastify.
 */
export * from './protocol.js';
export {
  createCloudClient,
  type CloudClient,
  type CloudHealth,
  type CloudProtocol,
  type ClassifyOptions,
  type CommonClientOptions,
  type KServeClientOptions,
  type KServeWire,
  type KServeWireOptions,
  type TfServingClientOptions,
  type GenericClientOptions,
  type CreateCloudClientOptions,
} from './client.js';
export { KServeClient, kserveInfer, kserveModelUrl } from './clients/kserve.js';
export { TfServingClient } from './clients/tfserving.js';
export { GenericClient, parseJsonPath, evalJsonPath, fillTemplate, topkToVector, type PathSegment } from './clients/generic.js';
export { BatchingClient, Limiter } from './clients/base.js';
export { requestJson, parseRetryAfter, parseJsonLenient, type HttpOptions, type RetryInfo, type JsonResponse } from './clients/http.js';
export {
  PlaintextCloudProbe,
  createPlaintextCloudProbe,
  measurePlaintextCloudAccuracy,
  buildLabelMap,
  encodeForSending,
  rankOf,
  spreadSample,
  type PlaintextAccuracy,
  type PlaintextAccuracyOptions,
} from './accuracy.js';
