/**
 * The gateway's HTTP API and web page (fastify). `buildGatewayApp` does not listen, so tests can inject;
 * `startGateway` (./start.ts) opens the bundle and listens.
 *
 * - `POST /v1/classify`: multipart or JSON images → top-k true labels (and, with `details`, the scrambled PNG
 *   exactly as sent and the cloud's own top-5).
 * - `GET /v1/status`: key id(s), budget and use, warnings, cloud health, model information.
 * - `POST /v1/keys/rotate`: key rotation, accepted only from this machine (loopback).
 * - `GET /v1/openapi.json`; `GET /` (classify page) and `GET /keys` (key page), plain HTML+JS from ./web.
 *
 * Every failure answers `{"error", "code", "field"?}` with a 4xx status naming the field, or a 5xx saying what
 * failed; never a stack trace. One log line per request (method, path, status, time): no bodies, no secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { describe, fail, isOwsdError } from '../errors.js';
import { MAX_INPUT_PIXELS } from '../image/decode.js';
import type { Gateway } from './gateway.js';
import { addDeferredJsonParser, addServerHooks, requestTimeoutOptions } from '../internal/http-server.js';
import { gatewayOpenApi } from './openapi.js';
import { decodeImages, jsonImages, multipartImages, type RequestLimits } from './request.js';

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

function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: message, code, ...(field ? { field } : {}) });
}

export function buildGatewayApp(opts: GatewayAppOptions): FastifyInstance {
  const { gateway } = opts;
  const maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const limits: RequestLimits = { maxImages: opts.maxImagesPerRequest ?? 64, maxPixels: MAX_INPUT_PIXELS };
  const log = opts.logger === undefined ? (line: string) => process.stderr.write(`${line}\n`) : opts.logger;
  const dir = webDir();
  const web = new Map(Object.entries(WEB_FILES).map(([route, f]) => [route, { body: fs.readFileSync(path.join(dir, f.file)), type: f.type }]));

  const app = Fastify({ logger: false, bodyLimit: maxBody, return503OnClosing: true, forceCloseConnections: 'idle', ...requestTimeoutOptions(opts.requestTimeoutMs) });
  app.removeContentTypeParser(['text/plain', 'application/json']); // JSON or multipart only: anything else is a clear 415
  addDeferredJsonParser(app, 'application/json', maxBody);
  void app.register(multipart, { limits: { fileSize: maxBody, files: limits.maxImages, fields: 10, parts: limits.maxImages + 10 } });

  addServerHooks(app, log, (url) => url.split('?')[0]!);

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isOwsdError(err)) return sendError(reply, err.status, err.code, err.message, (err as { field?: string }).field);
    const e = err as { statusCode?: number; code?: string; message?: string };
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

  for (const [route, f] of web) {
    app.get(route, async (_req, reply) => reply.type(f.type).header('cache-control', 'no-cache').send(f.body));
  }

  app.get('/v1/openapi.json', async () => gatewayOpenApi(GATEWAY_VERSION));
  app.get('/v1/status', async () => gateway.status());

  app.post('/v1/classify', async (req: FastifyRequest) => {
    const q = req.query as Record<string, unknown>;
    const parsed = req.isMultipart() ? await multipartImages(req, limits) : jsonImages(req.body, limits);
    const topQ = q.top === undefined ? undefined : Number(q.top);
    if (topQ !== undefined && (!Number.isInteger(topQ) || topQ < 1 || topQ > 1000)) {
      fail('OWSD_ERR_REQUEST', `top (query): expected an integer from 1 to 1000, got ${JSON.stringify(q.top)}`);
    }
    const detailsQ = q.details === undefined ? undefined : q.details === 'true' || q.details === '1';
    const top = parsed.top ?? topQ ?? 5;
    const details = parsed.details ?? detailsQ ?? false;
    const images = await decodeImages(parsed.raw, limits);
    const results = await gateway.classify(images.map((image) => ({ image, top, details })));
    return {
      // The keys of the bundle that answered (during a rotation: the old or the new one, never a mix).
      keyIds: results[0]!.keyIds,
      results: results.map((r, i) => ({
        name: parsed.raw[i]!.name,
        predictions: r.predictions,
        cloud: r.cloud,
        keyId: r.keyId,
        ...(r.scrambled ? { scrambled: `data:image/png;base64,${Buffer.from(r.scrambled).toString('base64')}` } : {}),
      })),
    };
  });

  app.post('/v1/keys/rotate', async (req: FastifyRequest) => {
    if (!isLoopback(req.ip)) fail('OWSD_ERR_FORBIDDEN', `key rotation is accepted only from this machine (127.0.0.1), not from ${req.ip}: run owsd key rotate on the gateway's host`);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) fail('OWSD_ERR_REQUEST', 'body: expected a JSON object, e.g. {} or {"budget": 9000}');
    for (const k of Object.keys(body)) if (k !== 'budget') fail('OWSD_ERR_REQUEST', `${k}: unknown field (expected budget)`);
    const budget = body.budget;
    if (budget !== undefined && (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1)) fail('OWSD_ERR_REQUEST', `budget: expected a positive integer, got ${JSON.stringify(budget)}`);
    return gateway.rotate({ budget: budget as number | undefined });
  });

  return app;
}
