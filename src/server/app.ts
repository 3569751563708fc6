/**
 * The gateway's HTTP API and web page (fastify). `buildGatewayApp` does not listen, so tests can inject;
 * `startGateway` (./start.ts) opens the bundle and listens.
 *
 * - `POST /v1/classify`: multipart or JSON images → top-k true labels (and, with `details`, the scrambled PNG
 *   exactly as sent and the cloud's own top-5).
 * - `GET /v1/status`: key id(s), budget and use, warnings, the any-inverter bound fit measured, cloud health, model information.
 * - `POST /v1/keys/rotate`: key rotation, accepted only from this machine (loopback), and only as a JSON request
 *   (`Content-Type: application/json`), which a browser cannot send cross-site without a CORS preflight.
 * - `GET /v1/openapi.json`; `GET /` (classify page) and `GET /keys` (key page), plain HTML+JS from ./web.
 *
 * Each API route is registered with its schema from ./schemas.ts (TypeBox): fastify validates the query and JSON
 * bodies with it (validation errors answered in the gateway's words by `requestError`), the handlers' types come
 * from it, and /v1/openapi.json is made from the routes as registered. Multipart bodies are checked by hand
 * (./request.ts). Responses are sent as JSON.stringify makes them (the response schemas document, they do not
 * filter).
 *
 * Every failure answers `{"error", "code", "field"?}` with a 4xx status naming the field, or a 5xx saying what
 * failed; never a stack trace. One log line per request (method, path, status, time): no bodies, no secret.
 *
 * Cross-site requests and DNS rebinding: every request's Host must name this gateway (localhost, 127.0.0.1, [::1],
 * the address the connection arrived on, or an `allowedHosts` name) with its port, else 421 OWSD_ERR_HOST; a
 * request that changes state (anything but GET/HEAD/OPTIONS) is refused with 403 OWSD_ERR_CROSS_SITE when its
 * Origin is not the gateway's own or its Sec-Fetch-Site is cross-site or same-site.
 *
 * Per image outcomes: each image of a classify request gets its result or its own `{error, code, field}`; a
 * request where some images failed is answered 200 with those errors in place, one where every image failed gets
 * the first image's 4xx at the top level, with every image's error in `results`.
 *
 * Local mode (`owsd serve --local`): the same routes and page; results carry `cloud: []`, no `keyId` and no
 * `scrambled` (nothing was scrambled or sent), `keyIds` is empty, the status says `mode: 'local'` with no keys
 * and `cloud: null`, and `POST /v1/keys/rotate` is refused with 403 OWSD_ERR_FORBIDDEN (no key is in use).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifySchemaValidationError } from 'fastify';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { describe, fail, isOwsdError, OwsdError } from '../errors.js';
import { DEFAULT_DECODE_DEADLINE_MS, MAX_INPUT_PIXELS, SUPPORTED_FORMATS_TEXT } from '../image/decode.js';
import { LOCAL_NO_ROTATION, type Gateway } from './gateway.js';
import { addDeferredJsonParser, addServerHooks, requestTimeoutOptions } from '../internal/http-server.js';
import { gatewayOpenApi } from './openapi.js';
import { decodeImagesSettled, fieldOf, jsonImages, multipartImages, parseBool, parseTop, withField, type RequestLimits } from './request.js';
import { gatewayRoutes, requestError, type ClassifyJsonBody, type GatewayRoute } from './schemas.js';
import { imageResult } from '../pipeline/predict.js';
import { FairQueue } from './scheduler.js';
import type { ClassifyOutcome } from './gateway.js';

export const GATEWAY_VERSION = '0.1.0';

export interface GatewayAppOptions {
  gateway: Gateway;
  /** Most images per request (default 64). */
  maxImagesPerRequest?: number;
  /** Largest JSON body and largest uploaded file (default 32 MiB). */
  maxBodyBytes?: number;
  /** One line per request, or false (default stderr). */
  logger?: ((line: string) => void) | false;
  /** A client that has not sent its whole request in this time is answered 408 and dropped (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * Host names (optionally name:port) this gateway also answers to, besides localhost, 127.0.0.1, [::1] and the
   * address a connection arrived on (`owsd serve --allowed-host`). Any other Host header gets 421.
   */
  allowedHosts?: string[];
  /** Images decoded at once on arrival, across all requests, taken round-robin per connection (default 2). */
  decodeConcurrency?: number;
  /** Per image decode deadline in ms (default 10 s). */
  decodeDeadlineMs?: number;
}

/** The web page's files (src/server/web), found from dist/src/server or src/server alike. */
export function webDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'src', 'server', 'web');
    if (fs.existsSync(path.join(candidate, 'index.html'))) return candidate;
    if (fs.existsSync(path.join(dir, 'web', 'index.html'))) return path.join(dir, 'web');
    dir = path.dirname(dir);
  }
  return fail('OWSD_ERR_INTERNAL', 'the web page files (src/server/web) are missing from this installation');
}

const WEB_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/keys': { file: 'keys.html', type: 'text/html; charset=utf-8' },
  '/web/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/web/keys.js': { file: 'keys.js', type: 'text/javascript; charset=utf-8' },
  '/web/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1';
}

/** `name` and `port` of a Host header value (`[v6]:port`, `name:port`, `name`), names lowercased; undefined if malformed. */
export function splitHost(host: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(host.trim());
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase(), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The host names every gateway answers to. */
const LOCAL_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Parse `--allowed-host` values: a name or name:port ([v6] in brackets), with a clear error naming the value. */
export function parseAllowedHosts(values: string[]): Array<{ name: string; port: number | undefined }> {
  return values.map((v) => {
    const h = splitHost(v.includes(':') && !v.startsWith('[') && v.split(':').length > 2 ? `[${v}]` : v);
    if (!h || h.name.length === 0 || /[/\s@]/.test(h.name)) fail('OWSD_ERR_BAD_ARGUMENT', `--allowed-host: expected a host name or name:port (e.g. gateway.example.org or gateway.example.org:8090), got ${JSON.stringify(v)}`);
    return h;
  });
}

function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: message, code, ...(field ? { field } : {}) });
}

export function buildGatewayApp(opts: GatewayAppOptions): FastifyInstance {
  const { gateway } = opts;
  const maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const limits: RequestLimits = { maxImages: opts.maxImagesPerRequest ?? 64, maxPixels: MAX_INPUT_PIXELS };
  const log = opts.logger === undefined ? (line: string) => process.stderr.write(`${line}\n`) : opts.logger;
  const dir = webDir();
  const allowed = parseAllowedHosts(opts.allowedHosts ?? []);
  const decodeQueue = new FairQueue(opts.decodeConcurrency ?? 2);
  const decodeDeadlineMs = opts.decodeDeadlineMs ?? DEFAULT_DECODE_DEADLINE_MS;
  // The page names the accepted formats from the one list the decoder enforces.
  const page = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').replaceAll('{{formats}}', SUPPORTED_FORMATS_TEXT);
  const web = new Map(Object.entries(WEB_FILES).map(([route, f]) => [route, { body: page(f.file), type: f.type }]));

  const app = Fastify({
    logger: false,
    bodyLimit: maxBody,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // The schemas say exactly what is accepted: nothing coerced, removed or defaulted behind the handler's back.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    ...requestTimeoutOptions(opts.requestTimeoutMs),
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Response schemas describe (OpenAPI, types); the bodies are sent whole, as JSON.stringify writes them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // The routes as registered, with their schemas: what GET /v1/openapi.json describes.
  const registered: GatewayRoute[] = [];
  app.addHook('onRoute', (r) => {
    const schema = r.schema as GatewayRoute['schema'] | undefined;
    if (schema?.summary && (r.method === 'GET' || r.method === 'POST')) registered.push({ method: r.method as GatewayRoute['method'], url: r.url, schema });
  });
  app.removeContentTypeParser(['text/plain', 'application/json']); // JSON or multipart only: anything else is a clear 415
  addDeferredJsonParser(app, 'application/json', maxBody);
  void app.register(multipart, { limits: { fileSize: maxBody, files: limits.maxImages, fields: 10, parts: limits.maxImages + 10 } });

  addServerHooks(app, log, (url) => url.split('?')[0]!);

  // DNS rebinding and cross-site requests: before anything else is read.
  app.addHook('onRequest', async (req, reply) => {
    const hostHeader = req.headers.host;
    const h = typeof hostHeader === 'string' ? splitHost(hostHeader) : undefined;
    const local = req.raw.socket?.localAddress;
    const localPort = req.raw.socket?.localPort;
    // The address this connection arrived on (an IPv4-mapped IPv6 address as plain IPv4), as a Host names it.
    const v4 = local ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(local)?.[1] : undefined;
    const localName = local ? (v4 ?? (local.includes(':') ? `[${local.toLowerCase()}]` : local)) : undefined;
    const names = [...LOCAL_NAMES, ...(localName ? [localName] : [])];
    const portOk = (p: number | undefined, want: number | undefined) => want === undefined || (p ?? 80) === want;
    const ok =
      h !== undefined &&
      ((names.includes(h.name) && portOk(h.port, localPort)) || allowed.some((a) => a.name === h.name && (a.port === undefined ? portOk(h.port, localPort) : (h.port ?? 80) === a.port)));
    if (!ok) {
      return sendError(reply, 421, 'OWSD_ERR_HOST', `Host ${JSON.stringify(hostHeader ?? '')} is not a name this gateway serves (it serves localhost, 127.0.0.1, [::1] and its own address on port ${localPort ?? '?'}; add others with owsd serve --allowed-host NAME)`, 'Host');
    }
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      return sendError(reply, 403, 'OWSD_ERR_CROSS_SITE', `this request came from another site (Sec-Fetch-Site: ${site}): the gateway accepts changes only from its own pages and from programs`, 'Sec-Fetch-Site');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${hostHeader}` && origin !== `https://${hostHeader}`) {
      return sendError(reply, 403, 'OWSD_ERR_CROSS_SITE', `this request came from another origin (Origin: ${JSON.stringify(origin.slice(0, 200))}): the gateway accepts changes only from its own pages (http://${hostHeader}) and from programs`, 'Origin');
    }
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (isOwsdError(err)) return sendError(reply, err.status, err.code, err.message, fieldOf(err));
    const e = err as { statusCode?: number; code?: string; message?: string; validation?: FastifySchemaValidationError[]; validationContext?: string };
    if (e.validation && e.validation.length > 0) {
      // A request that does not match its route's schema: named in the gateway's words.
      const part = e.validationContext ?? 'body';
      const r = requestError(req.routeOptions.url ?? '', part, e.validation, part === 'querystring' ? req.query : part === 'body' ? req.body : undefined);
      return sendError(reply, r.status, r.code, r.message, fieldOf(r));
    }
    if (e.statusCode === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.code === 'FST_REQ_FILE_TOO_LARGE') {
      return sendError(reply, 413, 'OWSD_ERR_TOO_LARGE', `request too large: at most ${limits.maxImages} images and ${maxBody} bytes per body or file; send fewer or smaller images`);
    }
    if (e.statusCode === 415 || e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(reply, 415, 'OWSD_ERR_REQUEST', 'Content-Type: expected multipart/form-data (image files) or application/json ({"images": [base64, ...]})');
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return sendError(reply, e.statusCode, 'OWSD_ERR_REQUEST', `request is malformed: ${describe(err)}`, 'body');
    }
    if (log) log(`internal error: ${describe(err)}`);
    return sendError(reply, 500, 'OWSD_ERR_INTERNAL', 'internal error (the service log has the details)');
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, 'OWSD_ERR_REQUEST', `no such endpoint: ${req.method} ${req.url.split('?')[0]} (see GET /v1/openapi.json)`),
  );

  const routes = gatewayRoutes(limits.maxImages);
  for (const [route, f] of web) {
    if (route === routes.page.url) continue;
    app.get(route, async (_req, reply) => reply.type(f.type).header('cache-control', 'no-cache').send(f.body));
  }
  const home = web.get(routes.page.url)!;
  app.route({ ...routes.page, handler: async (_req, reply) => reply.type(home.type).header('cache-control', 'no-cache').send(home.body) });

  app.route({ ...routes.openapi, handler: async () => gatewayOpenApi(GATEWAY_VERSION, registered) });
  // Arrival decoding: how many run at once, wait, and were skipped because their client had gone.
  app.route({ ...routes.status, handler: async () => ({ ...(await gateway.status()), decode: { concurrency: decodeQueue.concurrency, waiting: decodeQueue.waiting, started: decodeQueue.started, skipped: decodeQueue.skipped } }) });

  app.route({
    ...routes.classify,
    handler: async (req, reply) => {
      // Gone clients: their queued decodes and their place in the batch queue are given up.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort();
      };
      // The response closes when the client's connection does (or after the answer is sent: nothing to abort then);
      // the request closes early when the client goes mid-upload.
      reply.raw.once('close', onClose);
      req.raw.once('close', () => {
        if (!req.raw.complete) gone.abort();
      });
      // The query's form was checked by its schema (digits only for top, true/false/1/0 for details).
      const topQ = parseTop(req.query.top, 'top');
      const detailsQ = parseBool(req.query.details, 'details');
      const parsed = req.isMultipart() ? await multipartImages(req, limits) : jsonImages(req.body as ClassifyJsonBody);
      const top = parsed.top ?? topQ ?? 5;
      const details = parsed.details ?? detailsQ ?? false;
      const client = `${req.raw.socket?.remoteAddress ?? req.ip}:${req.raw.socket?.remotePort ?? ''}`;
      const decoded = await decodeImagesSettled(parsed.raw, limits, { queue: decodeQueue, client, signal: gone.signal, preprocess: gateway.preprocess, deadlineMs: decodeDeadlineMs });
      const ready = decoded.flatMap((d, i) => (d instanceof OwsdError ? [] : [{ i, image: d }]));
      const classified = ready.length > 0 ? await gateway.classify(ready.map(({ image }) => ({ image, top, details })), gone.signal) : [];
      const outcomes: ClassifyOutcome[] = decoded.map((d) => (d instanceof OwsdError ? { error: d } : (undefined as unknown as ClassifyOutcome)));
      ready.forEach(({ i }, j) => (outcomes[i] = classified[j]!));
      // Each image's result is the one per-image type (src/types.ts ImageResult), with the cloud's answer beside it.
      const results = outcomes.map((r, i) => {
        const { name, field } = parsed.raw[i]!;
        if ('error' in r) return imageResult(name, r, field);
        return {
          ...imageResult(name, r),
          cloud: r.cloud,
          keyId: r.keyId,
          ...(r.scrambled ? { scrambled: `data:image/png;base64,${Buffer.from(r.scrambled).toString('base64')}` } : {}),
        };
      });
      const firstOk = outcomes.find((r): r is Exclude<ClassifyOutcome, { error: OwsdError }> => !('error' in r));
      if (!firstOk) {
        // Every image failed: the first one's 4xx, with every image's own error beside it.
        const first = (outcomes[0] as { error: OwsdError }).error;
        return reply.code(first.status as 400).send({ error: first.message, code: first.code, field: (results[0] as { field?: string }).field, results });
      }
      // The keys of the bundle that answered (during a rotation: the old or the new one, never a mix).
      return { keyIds: firstOk.keyIds, ...(results.length > ready.length ? { failed: results.length - ready.length } : {}), results };
    },
  });

  app.route({
    ...routes.rotate,
    // Who may rotate, and how, is decided before the body is looked at.
    preValidation: async (req) => {
      if (gateway.mode === 'local') fail('OWSD_ERR_FORBIDDEN', LOCAL_NO_ROTATION); // no key is in use
      if (!isLoopback(req.ip)) fail('OWSD_ERR_FORBIDDEN', `key rotation is accepted only from this machine (127.0.0.1), not from ${req.ip}: run owsd key rotate on the gateway's host`);
      // A browser can send an empty or form POST cross-site without asking; a JSON one needs a CORS preflight, which
      // this gateway never grants.
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        throw withField(new OwsdError('OWSD_ERR_CROSS_SITE', `key rotation must be a JSON request (Content-Type: application/json, body {} or {"budget": N}), got ${type ? `Content-Type ${JSON.stringify(type)}` : 'no Content-Type'}: owsd key rotate --gateway and the key page send one`), 'Content-Type');
      }
      req.body ??= {}; // an empty body is {}
    },
    // The body was checked by its schema (budget an integer from 1 to MAX_BUDGET) before the gateway logs or records a rotation.
    handler: async (req) => gateway.rotate({ budget: req.body.budget }),
  });

  return app as unknown as FastifyInstance;
}
