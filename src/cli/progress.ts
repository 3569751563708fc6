/**
 * Progress of a long command on stderr, one display for all its phases (encode, scramble, send, train, rotate, ...).
 *
 * - On a terminal: one line, redrawn at most 10 times a second, listing every phase seen so far: finished ones
 *   with a tick, running ones with done/total, rate and time left (cut to the terminal's width).
 * - Not on a terminal (a log, CI, a pipe): plain lines `owsd <command>: <phase> done/total (pct), rate, ~left`,
 *   one when a phase has run for `everyMs` without a line, and one when it finishes; nothing at all during the
 *   command's first `everyMs` (a quick command stays silent). `everyMs`: 5000, or $OWSD_PROGRESS_MS.
 * - `quiet`: nothing.
 *
 * The pipeline reports `(phase, done, total, detail?)` with running totals (src/pipeline/features.ts ProgressFn).
 */

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** The command, as the lines name it: 'fit', 'key rotate'. */
  command: string;
  quiet?: boolean;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Redraw one line (default: whether the stream is a terminal). */
  tty?: boolean;
  /** Not on a terminal: a line at least this often while a phase runs, none before (default $OWSD_PROGRESS_MS or 5000 ms). */
  everyMs?: number;
  /** The clock, in ms (tests). */
  now?: () => number;
}

export interface PhaseProgress {
  /** A phase's running total; `detail` says more (an IIN's epoch and loss). */
  on(phase: string, done: number, total: number, detail?: string): void;
  /** A line of its own (e.g. answers reused), printed above the display; silenced by `quiet` unless `evenQuiet`. */
  note(line: string, opts?: { evenQuiet?: boolean }): void;
  /** Finish the display (the line ends; nothing is printed after). */
  stop(): void;
}

interface Phase {
  name: string;
  done: number;
  /** `done` at the phase's first report, when it started being timed. */
  done0: number;
  total: number;
  detail?: string;
  started: number;
  lastLine: number;
  finished: boolean;
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Items per second so far; 0 (not shown) for a phase of a few steps (check, rotate), where a rate means nothing. */
function rate(p: Phase, now: number): number {
  const s = (now - p.started) / 1000;
  return s > 0 && p.total >= 10 ? (p.done - p.done0) / s : 0;
}

function rateText(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}/s` : `${r.toFixed(1)}/s`;
}

/** `send 200/350 (57%), 41/s, ~4s left` or `send 350/350 done in 8.5s (41/s)`. */
export function phaseLine(p: Phase, now: number): string {
  const r = rate(p, now);
  const detail = p.detail ? `; ${p.detail}` : '';
  if (p.finished) return `${p.name} ${p.done}/${p.total} done in ${seconds((now - p.started) / 1000)}${r > 0 ? ` (${rateText(r)})` : ''}${detail}`;
  const pct = p.total > 0 ? ` (${Math.floor((100 * p.done) / p.total)}%)` : '';
  const left = r > 0 && p.total > p.done ? `, ~${seconds((p.total - p.done) / r)} left` : '';
  return `${p.name} ${p.done}/${p.total}${pct}${r > 0 ? `, ${rateText(r)}` : ''}${left}${detail}`;
}

/** The terminal's form of a running phase: `send 200/350 57% 41/s ~4s (detail)`. */
function compact(p: Phase, now: number): string {
  const r = rate(p, now);
  const pct = p.total > 0 ? ` ${Math.floor((100 * p.done) / p.total)}%` : '';
  const left = r > 0 && p.total > p.done ? ` ~${seconds((p.total - p.done) / r)}` : '';
  return `${p.name} ${p.done}/${p.total}${pct}${r > 0 ? ` ${rateText(r)}` : ''}${left}${p.detail ? ` (${p.detail})` : ''}`;
}

/**
 * The pipeline's progress callback (src/pipeline/features.ts ProgressFn) on a display: phase 'reuse' (answers a
 * rerun took from the journal) becomes a line of its own (silenced by `quiet` like the rest).
 */
export function progressWith(p: PhaseProgress, workDir?: string): (phase: string, done: number, total: number, detail?: string) => void {
  return (phase, done, total, detail) => {
    if (phase === 'reuse') p.note(`reused ${done} of ${total} cloud answers journaled${workDir ? ` in ${workDir}` : ''} (not sent again)`);
    else p.on(phase, done, total, detail);
  };
}

export function createProgress(opts: ProgressOptions): PhaseProgress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const everyMs = opts.everyMs ?? (Number(process.env.OWSD_PROGRESS_MS) || 5000);
  const now = opts.now ?? (() => performance.now());
  const began = now();
  const phases = new Map<string, Phase>();
  let drawn = false;
  let lastDraw = -Infinity;
  let stopped = false;

  const line = (): string => {
    const t = now();
    const parts = [...phases.values()].map((p) => (p.finished ? `${p.name} ${p.done} ✓` : compact(p, t)));
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    const s = `owsd ${opts.command}  ${parts.join(' | ')}`;
    return s.length > width ? `${s.slice(0, width - 1)}…` : s;
  };
  const draw = (force = false): void => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    stream.write(`\r${line()}\x1b[K`);
    drawn = true;
  };

  return {
    on(name, done, total, detail) {
      if (opts.quiet || stopped) return;
      const t = now();
      let p = phases.get(name);
      if (!p || (p.finished && done < total)) {
        // A phase seen again after it finished (eval after fit in the demo) starts over.
        if (p) phases.delete(name);
        p = { name, done, done0: done, total, started: t, lastLine: t, finished: false };
        phases.set(name, p);
      }
      p.done = done;
      p.total = total;
      p.detail = detail;
      const finishing = !p.finished && total > 0 && done >= total;
      if (finishing) p.finished = true;
      if (tty) return draw(finishing);
      if (t - began >= everyMs && (finishing || t - p.lastLine >= everyMs)) {
        p.lastLine = t;
        stream.write(`owsd ${opts.command}: ${phaseLine(p, t)}\n`);
      }
    },
    note(text, o = {}) {
      if (opts.quiet && !o.evenQuiet) return;
      if (tty && drawn) stream.write('\r\x1b[K');
      stream.write(`owsd ${opts.command}: ${text}\n`);
      if (tty && drawn && !stopped) draw(true);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (tty && drawn) {
        stream.write(`\r${line()}\x1b[K\n`);
      }
    },
  };
}
