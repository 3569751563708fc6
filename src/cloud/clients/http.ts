/**
 * The clients' transport: one request over node:http / node:https (the global keep-alive agent), with a per-attempt
 * timeout and retries with exponential backoff and jitter on 429, 5xx, network errors and timeouts, honouring
 * Retry-After. Redirects are not followed (a 3xx is an OWSD_ERR_CLOUD_HTTP): images go to the address given or
 * nowhere. node:http replaced Node's fetch here: fetch's web streams and Request/Response objects cost 0.25-0.45 ms
 * more per batch-1 request on loopback (binary wire; 0.3-0.8 ms on the JSON wire), interleaved runs at load 5.5,
 * 2026-12-03 (docs/performance-wire.md).
 * Failures are OwsdErrors whose message names the method, URL and status:
 *   OWSD_ERR_CLOUD_HTTP      an HTTP error status (after retries for 429/5xx)
 *   OWSD_ERR_CLOUD_NETWORK   connection refused/reset, DNS, ...
 *   OWSD_ERR_CLOUD_TIMEOUT   no complete answer within timeoutMs
 *   OWSD_ERR_CLOUD_RESPONSE  a 2xx answer that is not JSON
 */
import http from 'node:http';
import https from 'node:https';
import { describe, OwsdError, type ErrorCode } from '../../errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../internal/json-depth.js';

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface HttpOptions {
  /** Per attempt, covering connect, upload and reading the whole answer (default 30 s). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** First backoff delay; doubles each retry (default 200 ms). */
  backoffMs?: number;
  /** Cap of the backoff delay (default 10 s). */
  maxBackoffMs?: number;
  /** Longest Retry-After honoured; a server asking for longer makes the request fail at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Extra request headers (e.g. Authorization); never included in error messages. */
  headers?: Record<string, string>;
  /** Called before each retry (logging, tests). */
  onRetry?: (info: RetryInfo) => void;
  /** Jitter source in [0,1) (tests). */
  random?: () => number;
  /** Cancels everything, retries included. */
  signal?: AbortSignal;
  /** Largest answer read; a longer one is OWSD_ERR_CLOUD_RESPONSE and is not read further (default 64 MiB). */
  maxResponseBytes?: number;
  /**
   * Called just before each retry is sent (after the backoff); if it throws, the request fails with that error
   * and nothing more is sent. A retry resends the whole body, so this is where a key's budget counts it again.
   */
  beforeRetry?: (attempt: number) => void | Promise<void>;
  /**
   * Called after an attempt that provably never left this machine: the connection was refused or the host name
   * did not resolve, before any byte of the request was written (never for timeouts or resets, which may come
   * after the cloud got the request). A budget gives that attempt's images back here.
   */
  onNotSent?: (attempt: number) => void | Promise<void>;
}

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** A 2xx answer read as bytes (requestBytes), with its headers. */
export interface BytesResponse {
  status: number;
  headers: Headers;
  bytes: Buffer;
}

const RETRYABLE_STATUS = (s: number): boolean => s === 429 || s === 408 || (s >= 500 && s !== 501 && s !== 505);

/** Retry-After: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** JSON.parse that also reads the bare NaN / Infinity some servers (Python's json) write, as null. */
export function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    const fixed = text.replace(/(?<=[[,:]\s*)(-?Infinity|NaN)(?=\s*[\],}])/g, 'null');
    if (fixed !== text) return JSON.parse(fixed);
    throw first;
  }
}

function snippet(text: string): string {
  let s = text;
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (j && typeof j === 'object') {
      if (typeof j.error === 'string') s = j.error;
      else if (j.error && typeof j.error === 'object' && typeof (j.error as { message?: unknown }).message === 'string') s = (j.error as { message: string }).message;
      else if (typeof j.message === 'string') s = j.message;
    }
  } catch {
    // not JSON: keep the text
  }
  s = s.replace(/\s+/g, ' ').trim();
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface AttemptFailure {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  cause?: unknown;
  /** The request provably never left (see HttpOptions.onNotSent). */
  notSent?: boolean;
}

/**
 * Failures that happen before a connection exists, so nothing of the request was written: refused, no route, the
 * name not found. A reset or a closed socket is not among them (a reused connection may have carried the request).
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** Whether a request failure provably happened before any byte was sent (see NOT_SENT_CODES). */
export function neverLeft(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true;
    // AggregateError (happy eyeballs: every address refused)
    const errors = (cur as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => NOT_SENT_CODES.has(String((x as { code?: unknown })?.code)))) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** A network error's deepest cause code (ECONNREFUSED, ECONNRESET, ENOTFOUND, UND_ERR_SOCKET, ...). */
function networkReason(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const c = (cur as { cause?: unknown }).cause;
    if (!c) break;
    cur = c;
  }
  const code = (cur as { code?: string })?.code;
  return code ? `${code}: ${describe(cur)}` : describe(cur);
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** An answer read to its end, or `bytes: undefined` once it passed the size cap (the rest is not read). */
interface Exchanged {
  status: number;
  statusText: string;
  headers: Headers;
  bytes: Buffer | undefined;
}

/**
 * One HTTP exchange over node:http (keep-alive through the global agent): send, then read the answer unless its
 * declared or actual length passes `max`, where the request is destroyed. `signal` ends it at any point (the
 * request's 'error' or the answer's 'error' or early 'close' rejects). Redirects are not followed.
 */
function exchange(url: string, init: { method: string; body?: string | Uint8Array; headers: Record<string, string> }, signal: AbortSignal, max: number): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
    };
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
    const headers: Record<string, string> = { ...init.headers };
    if (body !== undefined) headers['content-length'] = String(body.byteLength);
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(u, { method: init.method, headers, signal }, (res) => {
      let answer: Omit<Exchanged, 'bytes'>;
      try {
        answer = { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: headersOf(res.headers) };
      } catch (e) {
        // A header node's parser let through but fetch's Headers refuses: the answer is unusable, not a crash.
        req.destroy();
        return done(() => reject(e));
      }
      const tooLarge = (): void => {
        req.destroy();
        done(() => resolve({ ...answer, bytes: undefined }));
      };
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) return tooLarge();
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > max) return tooLarge();
        chunks.push(chunk);
      });
      res.on('end', () => done(() => resolve({ ...answer, bytes: Buffer.concat(chunks, total) })));
      res.on('error', (e) => done(() => reject(e)));
      res.on('close', () => done(() => reject(Object.assign(new Error('the connection closed before the answer ended'), { code: 'ECONNRESET' }))));
    });
    req.on('error', (e) => done(() => reject(e)));
    req.end(body);
  });
}

/** node:http's header object as the fetch Headers the responses carry. */
function headersOf(raw: http.IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) h.append(k, x);
    else h.set(k, v);
  }
  return h;
}

async function attempt(url: string, init: { method: string; body?: string | Uint8Array; headers: Record<string, string> }, timeoutMs: number, outer?: AbortSignal, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES, raw = false): Promise<JsonResponse | BytesResponse | AttemptFailure> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('timeout'));
  }, timeoutMs);
  const onOuter = (): void => controller.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const what = `${init.method} ${url}`;
  try {
    let res: Exchanged;
    let text: string;
    let bytes: Buffer;
    try {
      res = await exchange(url, init, controller.signal, maxResponseBytes);
      const capped = res.bytes;
      if (capped === undefined) {
        return { code: 'OWSD_ERR_CLOUD_RESPONSE', message: `${what}: HTTP ${res.status} with an answer larger than ${maxResponseBytes} bytes (not read further)`, retryable: false };
      }
      bytes = capped;
      text = raw && res.status >= 200 && res.status < 300 ? '' : capped.toString('utf8');
    } catch (e) {
      if (timedOut) return { code: 'OWSD_ERR_CLOUD_TIMEOUT', message: `${what}: no answer within ${timeoutMs} ms`, retryable: true };
      if (outer?.aborted) throw outer.reason;
      return { code: 'OWSD_ERR_CLOUD_NETWORK', message: `${what}: cannot reach the cloud: ${networkReason(e)}`, retryable: true, cause: e, notSent: neverLeft(e) };
    }
    if (res.status < 200 || res.status >= 300) {
      const detail = snippet(text);
      return {
        code: 'OWSD_ERR_CLOUD_HTTP',
        message: `${what}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${detail ? `: ${detail}` : ''}`,
        retryable: RETRYABLE_STATUS(res.status),
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
      };
    }
    if (raw) return { status: res.status, headers: res.headers, bytes };
    if (text.length === 0) return { status: res.status, body: undefined };
    if (nestsDeeperThan(text)) {
      return { code: 'OWSD_ERR_CLOUD_RESPONSE', message: `${what}: HTTP ${res.status} but the answer nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`, retryable: false };
    }
    try {
      return { status: res.status, body: parseJsonLenient(text) };
    } catch (e) {
      return { code: 'OWSD_ERR_CLOUD_RESPONSE', message: `${what}: HTTP ${res.status} but the answer is not JSON (${describe(e)}): ${snippet(text).slice(0, 80)}`, retryable: false };
    }
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/** Send one request (JSON body when `body` is given), retrying as configured; resolves with the parsed JSON answer. */
export function requestJson(url: string, req: { method?: string; body?: unknown }, opts: HttpOptions = {}): Promise<JsonResponse> {
  const method = req.method ?? (req.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let body: string | undefined;
  if (req.body !== undefined) {
    body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    headers['content-type'] ??= 'application/json';
  }
  return send(url, method, body, headers, opts, false) as Promise<JsonResponse>;
}

/**
 * Send a request with a byte body and these headers (retried as requestJson is); resolves with the 2xx answer's
 * bytes and headers, unparsed (errors as requestJson's).
 */
export function requestBytes(url: string, req: { method?: string; body: Uint8Array; headers: Record<string, string> }, opts: HttpOptions = {}): Promise<BytesResponse> {
  return send(url, req.method ?? 'POST', req.body, { ...opts.headers, ...req.headers }, opts, true) as Promise<BytesResponse>;
}

async function send(url: string, method: string, body: string | Uint8Array | undefined, headers: Record<string, string>, opts: HttpOptions, raw: boolean): Promise<JsonResponse | BytesResponse> {
  const retries = opts.retries ?? 4;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const base = opts.backoffMs ?? 200;
  const cap = opts.maxBackoffMs ?? 10_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const random = opts.random ?? Math.random;
  for (let i = 0; ; i++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const r = await attempt(url, { method, body, headers }, timeoutMs, opts.signal, opts.maxResponseBytes, raw);
    if (!('code' in r)) return r;
    const attempts = i + 1;
    if (r.notSent) await opts.onNotSent?.(attempts);
    if (!r.retryable) throw new OwsdError(r.code, r.message, r.cause === undefined ? undefined : { cause: r.cause });
    if (i >= retries) {
      throw new OwsdError(r.code, `${r.message} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`, r.cause === undefined ? undefined : { cause: r.cause });
    }
    let delay: number;
    if (r.retryAfterMs !== undefined) {
      if (r.retryAfterMs > maxRetryAfter) {
        throw new OwsdError(r.code, `${r.message} (the cloud asks to retry after ${Math.round(r.retryAfterMs / 1000)} s, longer than the ${Math.round(maxRetryAfter / 1000)} s limit)`);
      }
      // Honour Retry-After, plus up to 10% jitter so that parallel clients do not come back at once.
      delay = r.retryAfterMs * (1 + 0.1 * random());
    } else {
      // Exponential backoff with "equal jitter": half fixed, half random.
      const exp = Math.min(cap, base * 2 ** i);
      delay = exp / 2 + (exp / 2) * random();
    }
    opts.onRetry?.({ attempt: attempts, delayMs: delay, reason: r.message });
    await sleep(delay, opts.signal);
    await opts.beforeRetry?.(attempts);
  }
}
