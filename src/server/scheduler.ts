/**
 * Fair scheduling of the gateway's arrival work (decoding uploaded images): at most `concurrency` tasks run at once,
 * and the next task to start is the oldest waiting one of the client that has had the least decoding time so far
 * (time of its finished tasks plus the elapsed time of its running ones; one client = one connection). A client
 * that sends many expensive images therefore waits behind its own images, and a client with one ordinary image
 * starts at the next free slot, whatever is queued. A task whose request is gone (its AbortSignal aborted) is
 * skipped, never started.
 */
import { OwsdError } from '../errors.js';

interface Task {
  signal: AbortSignal | undefined;
  seq: number;
  start: () => Promise<void>;
  cancel: (e: unknown) => void;
}

interface Client {
  waiting: Task[];
  /** Start times of running tasks, by task. */
  running: Map<number, number>;
  /** Milliseconds of finished tasks. */
  usedMs: number;
  started: number;
}

/** The error a task of a gone request rejects with (nobody is left to read it). */
export function goneError(): OwsdError {
  return new OwsdError('OWSD_ERR_REQUEST', 'the client closed the connection before its images were processed');
}

export class FairQueue {
  private readonly clients = new Map<string, Client>();
  private running = 0;
  private seq = 0;
  /** Tasks skipped because their request was gone. */
  skipped = 0;
  /** Tasks run. */
  started = 0;

  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new OwsdError('OWSD_ERR_BAD_ARGUMENT', `decode concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Tasks waiting (not started). */
  get waiting(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.waiting.length;
    return n;
  }

  run<T>(client: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task: Task = { signal, seq: this.seq++, start: () => fn().then(resolve, reject), cancel: reject };
      let c = this.clients.get(client);
      if (!c) {
        c = { waiting: [], running: new Map(), usedMs: 0, started: 0 };
        this.clients.set(client, c);
      }
      c.waiting.push(task);
      this.pump();
    });
  }

  /** The decoding time a client has had (finished + running so far), plus a little per task started. */
  private used(c: Client, now: number): number {
    let ms = c.usedMs + c.started * 0.001;
    for (const t0 of c.running.values()) ms += now - t0;
    return ms;
  }

  private next(): { key: string; client: Client; task: Task } | undefined {
    const now = performance.now();
    let best: { key: string; client: Client; used: number } | undefined;
    for (const [key, client] of this.clients) {
      const head = client.waiting[0];
      if (!head) continue;
      const used = this.used(client, now);
      if (!best || used < best.used || (used === best.used && head.seq < best.client.waiting[0]!.seq)) best = { key, client, used };
    }
    if (!best) return undefined;
    return { key: best.key, client: best.client, task: best.client.waiting.shift()! };
  }

  private forget(key: string, c: Client): void {
    if (c.waiting.length === 0 && c.running.size === 0) this.clients.delete(key);
  }

  private pump(): void {
    while (this.running < this.concurrency) {
      const n = this.next();
      if (!n) return;
      const { key, client, task } = n;
      if (task.signal?.aborted) {
        this.skipped++;
        task.cancel(goneError());
        this.forget(key, client);
        continue;
      }
      this.running++;
      this.started++;
      client.started++;
      const t0 = performance.now();
      client.running.set(task.seq, t0);
      void task.start().finally(() => {
        client.running.delete(task.seq);
        client.usedMs += performance.now() - t0;
        this.running--;
        this.forget(key, client);
        this.pump();
      });
    }
  }
}
