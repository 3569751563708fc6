/** What every cloud client shares: the leak guard, batching, the concurrency limit and answer checks. */
import { fail, isOwsdError, OwsdError } from '../../errors.js';
import { assertScrambled, type ScrambledImage } from '../../scrambler/scrambled.js';
import type { ClassifyOptions, CloudClient, CloudHealth, CloudProtocol, CommonClientOptions } from './types.js';
import type { HttpOptions } from './http.js';

/** How long a successful `ready()` check is trusted before the next send checks again. */
export const READY_TTL_MS = 30_000;

/** At most `max` tasks at once; the others wait in FIFO order. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) fail('OWSD_ERR_BAD_ARGUMENT', `concurrency must be an integer >= 1, got ${max}`);
  }
  get inFlight(): number {
    return this.active;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function trimUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail('OWSD_ERR_BAD_ARGUMENT', `cloud url: '${url}' is not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail('OWSD_ERR_BAD_ARGUMENT', `cloud url: '${url}' must be http:// or https://`);
  return url.replace(/\/+$/, '');
}

export function httpOptionsOf(o: CommonClientOptions): HttpOptions {
  return {
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    backoffMs: o.backoffMs,
    maxBackoffMs: o.maxBackoffMs,
    maxRetryAfterMs: o.maxRetryAfterMs,
    headers: o.headers,
    onRetry: o.onRetry,
    random: o.random,
    signal: o.signal,
    maxResponseBytes: o.maxResponseBytes,
  };
}

/**
 * Sends base64 images in batches of `maxBatch`, at most `concurrency` requests at once, and checks that every
 * vector has the same length (and the expected one). Subclasses implement one batch request and health.
 */
export abstract class BatchingClient implements CloudClient {
  abstract readonly protocol: CloudProtocol;
  readonly url: string;
  readonly maxBatch: number;
  protected readonly http: HttpOptions;
  protected readonly limiter: Limiter;
  protected knownClasses: number | undefined;

  constructor(opts: CommonClientOptions, defaultBatch: number) {
    this.url = trimUrl(opts.url);
    this.maxBatch = opts.maxBatch ?? defaultBatch;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) fail('OWSD_ERR_BAD_ARGUMENT', `maxBatch must be an integer >= 1, got ${opts.maxBatch}`);
    this.limiter = new Limiter(opts.concurrency ?? 4);
    this.http = httpOptionsOf(opts);
    this.knownClasses = opts.numClasses;
  }

  /** Requests now in flight. */
  get inFlight(): number {
    return this.limiter.inFlight;
  }

  async classify(images: readonly ScrambledImage[], opts: ClassifyOptions = {}): Promise<Float32Array[]> {
    assertScrambled(images, `cloud client (${this.url})`);
    if (images.length === 0) return [];
    const b64 = images.map((img) => base64Of(img.png));
    const batches: string[][] = [];
    const pngBatches: Uint8Array[][] = [];
    for (let i = 0; i < b64.length; i += this.maxBatch) {
      batches.push(b64.slice(i, i + this.maxBatch));
      pngBatches.push(images.slice(i, i + this.maxBatch).map((img) => img.png));
    }
    const results = await Promise.all(
      batches.map((batch, k) =>
        this.limiter.run(async () => {
          const resend = opts.beforeResend;
          const notSent = opts.notSent;
          const http: HttpOptions = {
            ...this.http,
            ...(resend ? { beforeRetry: () => resend(batch.length) } : {}),
            ...(notSent ? { onNotSent: () => notSent(batch.length) } : {}),
          };
          const vectors = await this.sendBatch(batch, http, pngBatches[k]!);
          if (vectors.length !== batch.length) {
            fail('OWSD_ERR_CLOUD_RESPONSE', `${this.endpoint()}: answered ${vectors.length} vectors for ${batch.length} images`);
          }
          for (const v of vectors) this.checkLength(v.length);
          return vectors;
        }),
      ),
    );
    return results.flat();
  }

  private checkLength(c: number): void {
    if (c === 0) fail('OWSD_ERR_CLOUD_RESPONSE', `${this.endpoint()}: answered an empty probability vector`);
    if (this.knownClasses === undefined) this.knownClasses = c;
    else if (c !== this.knownClasses) {
      fail('OWSD_ERR_CLOUD_RESPONSE', `${this.endpoint()}: answered a vector of ${c} values, expected ${this.knownClasses} classes`);
    }
  }

  async numClasses(): Promise<number | undefined> {
    return this.knownClasses;
  }

  /** The URL requests go to, for messages. */
  protected abstract endpoint(): string;
  /** One request for a batch of base64 PNGs (with these transport options; `pngs` are the same images as bytes); one vector per image. */
  protected abstract sendBatch(base64Images: string[], http: HttpOptions, pngs: Uint8Array[]): Promise<Float32Array[]>;
  abstract health(): Promise<CloudHealth>;

  private readyUntil = 0;

  /** See CloudClient.ready: `check` runs at most once per READY_TTL_MS while it succeeds. */
  async ready(): Promise<void> {
    if (Date.now() < this.readyUntil) return;
    await this.checkReady();
    this.readyUntil = Date.now() + READY_TTL_MS;
  }

  /** Ask the cloud (no image sent) whether it and the model can take requests; throw a clear error if not. */
  protected abstract checkReady(): Promise<void>;

  /** GET options for readiness checks: a few quick retries, no budget hooks. */
  protected probeHttp(): HttpOptions {
    return { ...this.http, retries: Math.min(this.http.retries ?? 2, 2), timeoutMs: Math.min(this.http.timeoutMs ?? 10_000, 10_000), beforeRetry: undefined, onNotSent: undefined };
  }
}

/** Wrap a readiness failure: the same code, saying that nothing was sent and no budget spent. */
export function notReady(e: unknown, what: string): never {
  if (!isOwsdError(e)) throw e;
  throw new OwsdError(e.code, `${what}: ${e.message}; nothing was sent and no budget was spent`);
}

/** Whether an OwsdError is an HTTP 404 answer. */
export function isNotFound(e: unknown): boolean {
  return isOwsdError(e) && e.code === 'OWSD_ERR_CLOUD_HTTP' && /: HTTP 404\b/.test(e.message);
}
