/** What the embedded cloud and the gateway share as fastify servers: listening with a clear error, graceful close, the request log line. */
import http from 'node:http';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { describe, fail, OwsdError } from '../errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';

/** An address for clients: IPv6 hosts in brackets, and a wildcard host as loopback. */
export function formatUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h === '0.0.0.0' ? '127.0.0.1' : h === '[::]' ? '[::1]' : h}:${port}`;
}

/**
 * A JSON body parser for `contentType` whose errors (invalid JSON, nesting deeper than MAX_JSON_DEPTH) are thrown
 * from a preValidation hook (before any route schema sees the body) rather than from the parser: fastify closes the connection after a parser error (the client
 * might still be sending), which is needless once the whole body was read, and makes a flood of malformed requests
 * cost a new connection each (p99 about 1 s under load instead of a few ms). An empty body parses to undefined.
 */
export function addDeferredJsonParser(app: FastifyInstance, contentType: string | string[], maxBody: number, nestingHint = ''): void {
  const bad = new WeakMap<object, OwsdError>();
  app.addContentTypeParser(contentType, { parseAs: 'buffer', bodyLimit: maxBody }, (req, body, done) => {
    const buf = body as Buffer;
    if (buf.length === 0) return done(null, undefined);
    if (nestsDeeperThan(buf)) {
      bad.set(req, new OwsdError('OWSD_ERR_REQUEST', `request body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep${nestingHint}`));
      return done(null, undefined);
    }
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch (e) {
      bad.set(req, new OwsdError('OWSD_ERR_REQUEST', `request body is not valid JSON: ${describe(e)}`));
      done(null, undefined);
    }
  });
  app.addHook('preValidation', async (req) => {
    const e = bad.get(req);
    if (e) throw e;
  });
}

/** How long a client may take to send a whole request (headers and body) before it is answered 408 and dropped. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/**
 * Fastify options for a request timeout that means what it says: fastify's default is no request timeout at all
 * (a slow client holds its connection for ever), and Node checks its timeouts only every 30 s, so the server is our
 * own, checking often enough.
 */
export function requestTimeoutOptions(requestTimeout = DEFAULT_REQUEST_TIMEOUT_MS): Pick<FastifyServerOptions, 'requestTimeout'> & { serverFactory: (handler: http.RequestListener) => http.Server } {
  if (!Number.isInteger(requestTimeout) || requestTimeout < 1) fail('OWSD_ERR_BAD_ARGUMENT', `requestTimeoutMs must be a positive integer (milliseconds), got ${requestTimeout}`);
  const serverFactory = (handler: http.RequestListener) =>
    http.createServer({ requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(requestTimeout / 4))), keepAliveTimeout: 72_000 }, handler);
  return { requestTimeout, serverFactory };
}

/** A close() for a listening server: stop accepting, finish the requests in flight, then release what it holds; once, however often it is called. */
export function closeOnce(app: FastifyInstance, release: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      await app.close();
      await release();
    })();
    return closing;
  };
}

/** Listen, or release what was opened and fail with one clear line; resolves to the port actually bound. */
export async function listenOrFail(app: FastifyInstance, host: string, port: number, release: () => Promise<void>): Promise<number> {
  try {
    await app.listen({ port, host });
  } catch (e) {
    await release();
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    return fail('OWSD_ERR_BAD_ARGUMENT', `cannot listen on ${host}:${port}: ${why}`, e);
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** A body rejected as too large is read and discarded, so that its 413 reaches the client, up to this many times the body limit. */
export const DRAIN_FACTOR = 4;

/**
 * Graceful shutdown and one log line per request: requests in flight when close() is called finish, and their
 * keep-alive connections are closed after the answer (fastify's close() would otherwise wait out the keep-alive
 * timeout).
 *
 * A body over the limit is answered 413 before it has arrived. Fastify then closes the connection, and the rest of
 * the upload hitting a closed socket resets it: the client often loses the 413 and sees only "fetch failed" or
 * EPIPE. So when the declared Content-Length is at most DRAIN_FACTOR times the limit, the connection is kept and
 * Node reads and discards the rest of the body (no memory is kept); beyond that, or with no declared length, it is
 * closed as before.
 */
export function addServerHooks(app: FastifyInstance, log: ((line: string) => void) | false | undefined, path: (url: string) => string = (u) => u): void {
  let closing = false;
  const drainBytes = DRAIN_FACTOR * app.initialConfig.bodyLimit!;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply) => {
    if (closing) reply.header('connection', 'close');
    else if (reply.statusCode === 413 && reply.getHeader('connection') === 'close') {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared <= drainBytes) reply.removeHeader('connection');
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    if (log) log(`${req.method} ${path(req.url)} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`);
  });
}
