/** Open a bundle with its key(s) and serve the gateway (API + web page) on a port. */
import type { FastifyInstance } from 'fastify';
import { fail } from '../errors.js';
import { closeOnce, formatUrl, listenOrFail } from '../internal/http-server.js';
import { buildGatewayApp, parseAllowedHosts } from './app.js';
import { Gateway, type GatewayOptions } from './gateway.js';

export interface StartGatewayOptions extends GatewayOptions {
  /** 0 picks a free port (default 8090). */
  port?: number;
  /** Default 127.0.0.1; give 0.0.0.0 to serve the organization's network. */
  host?: string;
  maxImagesPerRequest?: number;
  maxBodyBytes?: number;
  /** See GatewayAppOptions.requestTimeoutMs. */
  requestTimeoutMs?: number;
  /** See GatewayAppOptions.allowedHosts (`--allowed-host`). */
  allowedHosts?: string[];
  /** See GatewayAppOptions.decodeConcurrency. */
  decodeConcurrency?: number;
  /** See GatewayAppOptions.decodeDeadlineMs. */
  decodeDeadlineMs?: number;
}

export interface RunningGateway {
  url: string;
  port: number;
  gateway: Gateway;
  app: FastifyInstance;
  /** Stop accepting requests, finish those in flight, release the models. */
  close(): Promise<void>;
}

export async function startGateway(opts: StartGatewayOptions): Promise<RunningGateway> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8090;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('OWSD_ERR_BAD_ARGUMENT', `--port must be an integer 0..65535, got ${port}`);
  parseAllowedHosts(opts.allowedHosts ?? []); // a bad --allowed-host fails before the models are loaded
  const gateway = await Gateway.open(opts);
  const app = buildGatewayApp({ gateway, maxImagesPerRequest: opts.maxImagesPerRequest, maxBodyBytes: opts.maxBodyBytes, logger: opts.log, requestTimeoutMs: opts.requestTimeoutMs, allowedHosts: opts.allowedHosts, decodeConcurrency: opts.decodeConcurrency, decodeDeadlineMs: opts.decodeDeadlineMs });
  const actualPort = await listenOrFail(app, host, port, () => gateway.close());
  return {
    url: formatUrl(host, actualPort),
    port: actualPort,
    gateway,
    app,
    close: closeOnce(app, () => gateway.close()),
  };
}
