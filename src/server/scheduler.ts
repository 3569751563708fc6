/**
 * Fair scheduling of the gateway's arrival work (decoding uploaded images): at most `concurrency` tasks run at once,
 * and waiting tasks are taken round-robin across clients (one connection = one client), so a client that sends many
 * expensive images waits behind its own images, not in front of everyone else's. A task whose request is gone
 * (its AbortSignal aborted) is skipped, never started.
 */
import { OwsdError } from '../errors.js';

interface Task {
  signal: AbortSignal | undefined;
  start: () => Promise<void>;
  cancel: (e: unknown) => void;
}

/** The error a task of a gone request rejects with (nobody is left to read it). */
export function goneError(): OwsdError {
  return new OwsdError('OWSD_ERR_REQUEST', 'the client closed the connection before its images were processed');
}

export class FairQueue {
  /** Waiting tasks per client; the Map's order is the round-robin order. */
  private readonly queues = new Map<string, Task[]>();
  private running = 0;
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
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  run<T>(client: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task: Task = { signal, start: () => fn().then(resolve, reject), cancel: reject };
      const q = this.queues.get(client);
      if (q) q.push(task);
      else this.queues.set(client, [task]);
      this.pump();
    });
  }

  private next(): Task | undefined {
    for (const [client, q] of this.queues) {
      const t = q.shift();
      // To the back of the round: the next task comes from the next client.
      this.queues.delete(client);
      if (q.length > 0) this.queues.set(client, q);
      if (t) return t;
    }
    return undefined;
  }

  private pump(): void {
    while (this.running < this.concurrency) {
      const t = this.next();
      if (!t) return;
      if (t.signal?.aborted) {
        this.skipped++;
        t.cancel(goneError());
        continue;
      }
      this.running++;
      this.started++;
      void t.start().finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}
