/**
 * The `owsd/server` entry: the gateway (HTTP API + web page over a fitted bundle), the embedded KServe V2 cloud
 * server that hosts a real model (src/cloud/server), the KServe V2 protocol, and the demo that runs both. It loads
 * fastify; the flow itself is `owsd` (src/index.ts). See docs/architecture.md.
 */
export { Gateway, type GatewayOptions, type GatewayStatus, type ClassifyItem, type ClassifyResult, type CloudLabel, type KeyStatus, type RotationSummary } from './gateway.js';
export { Batcher, type BatcherOptions } from './batcher.js';
export { buildGatewayApp, webDir, GATEWAY_VERSION, type GatewayAppOptions } from './app.js';
export { gatewayOpenApi } from './openapi.js';
export { startGateway, type StartGatewayOptions, type RunningGateway } from './start.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from '../internal/http-server.js';
export * from '../cloud/server/index.js';
export * from '../cloud/protocol.js';
export { runDemo, demoSecret, type DemoOptions, type DemoReport } from '../pipeline/demo.js';
