/**
 * Request batching: items submitted by concurrent requests are gathered for up to `maxWaitMs` (or until
 * `maxBatch` are waiting) and handed to `run` together, one batch at a time. A request's items stay together
 * (one larger than `maxBatch` runs as its own batch); each request gets its own items' results, or the batch's error.
 * A request whose signal is aborted (its client is gone) before its batch starts is dropped from the queue.
 */
import { goneError } from './scheduler.js';

export interface BatcherOptions {
  /** Most items in one batch (default 32). */
  maxBatch?: number;
  /** How long the first waiting item waits for company (default 10 ms). */
  maxWaitMs?: number;
}

interface Pending<I, O> {
  items: I[];
  signal?: AbortSignal;
  resolve: (out: O[]) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  /** Batches run and items processed so far. */
  batches = 0;
  items = 0;
  /** Requests dropped from the queue because their client was gone. */
  skipped = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    opts: BatcherOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 32;
    this.maxWaitMs = opts.maxWaitMs ?? 10;
  }

  submit(items: I[], signal?: AbortSignal): Promise<O[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ items, signal, resolve, reject });
      this.schedule();
    });
  }

  private waiting(): number {
    return this.queue.reduce((a, p) => a + p.items.length, 0);
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.waiting() >= this.maxBatch) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.maxWaitMs);
    }
  }

  private dropGone(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const p = this.queue[i]!;
      if (p.signal?.aborted) {
        this.queue.splice(i, 1);
        this.skipped++;
        p.reject(goneError());
      }
    }
  }

  private async flush(): Promise<void> {
    if (this.running) return;
    this.dropGone();
    if (this.queue.length === 0) return;
    this.running = true;
    const taken: Pending<I, O>[] = [this.queue.shift()!];
    let size = taken[0]!.items.length;
    while (this.queue.length > 0 && size + this.queue[0]!.items.length <= this.maxBatch) {
      const p = this.queue.shift()!;
      size += p.items.length;
      taken.push(p);
    }
    try {
      const out = await this.run(taken.flatMap((p) => p.items));
      this.batches++;
      this.items += size;
      let at = 0;
      for (const p of taken) {
        p.resolve(out.slice(at, at + p.items.length));
        at += p.items.length;
      }
    } catch (e) {
      for (const p of taken) p.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
