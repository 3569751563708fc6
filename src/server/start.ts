/** Open a bundle with its key(s) and serve the gateway (API + web page) on a port. */
import type { FastifyInstance } from 'fastify';
import { describe, fail } from '../errors.js';
import { closeOnce, formatUrl, listenOrFail } from '../internal/http-server.js';
import { buildGatewayApp, parseAllowedHosts } from './app.js';
import { Gateway, type GatewayOptions } from './gateway.js';
import type { CloudHealth } from '../cloud/client.js';

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
  /**
   * Told, at start, when the cloud does not answer its health check (the gateway serves anyway: classify requests
   * fail with the cloud's error until it answers). Default: one line on stderr naming the cloud's URL.
   */
  onWarning?: (message: string) => void;
}

export interface RunningGateway {
  url: string;
  port: number;
  gateway: Gateway;
  app: FastifyInstance;
  /** The cloud's health as checked at start. */
  cloudHealth: CloudHealth;
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
  // An unreachable cloud is said at once, naming its URL, rather than at the first classify request.
  const warn = opts.onWarning ?? ((m: string) => void process.stderr.write(`owsd gateway: warning: ${m}\n`));
  let cloudHealth: CloudHealth;
  try {
    const status = await gateway.status();
    // Local mode has no cloud to check, and contacts none (test/gateway-local.test.ts).
    cloudHealth = status.cloud?.health ?? { ok: true, url: '', detail: 'local mode: no cloud is used' };
    if (status.cloud && !cloudHealth.ok) {
      warn(`the cloud at ${status.cloud.url} (model '${status.cloud.model}') does not answer: ${cloudHealth.detail}; serving anyway: classify requests fail until it answers (GET /v1/status shows its health; --cloud URL names another)`);
    }
  } catch (e) {
    // The check itself failed (a shared ledger unreachable, ...): said, and the gateway serves as it would have.
    cloudHealth = { ok: false, url: '', detail: `not checked: ${describe(e)}` };
    warn(`could not check the cloud at start: ${describe(e)}`);
  }
  return {
    url: formatUrl(host, actualPort),
    port: actualPort,
    gateway,
    app,
    cloudHealth,
    close: closeOnce(app, () => gateway.close()),
  };
}
