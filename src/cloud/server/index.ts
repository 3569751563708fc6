/** The embedded cloud server: KServe V2 / Open Inference Protocol over fastify. */
export {
  buildCloudApp,
  modelMetadata,
  DEFAULT_MAX_BODY_BYTES,
  SERVER_NAME,
  SERVER_VERSION,
  type CloudAppOptions,
  type CloudLogger,
  type HostedClassifier,
  type HostedModel,
} from './app.js';
export { startCloudServer, loadHostedModels, formatUrl, type StartCloudOptions, type RunningCloud } from './start.js';
