export { Gateway, type GatewayOptions, type GatewayStatus, type ClassifyItem, type ClassifyResult, type CloudLabel, type KeyStatus, type RotationSummary } from './gateway.js';
export { Batcher, type BatcherOptions } from './batcher.js';
export { buildGatewayApp, webDir, GATEWAY_VERSION, type GatewayAppOptions } from './app.js';
export { gatewayOpenApi } from './openapi.js';
export { startGateway, type StartGatewayOptions, type RunningGateway } from './start.js';
export { DEFAULT_REQUEST_TIMEOUT_MS } from '../internal/http-server.js';
