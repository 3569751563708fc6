/** Progress bars on stderr (cli-progress), shown only when stderr is a terminal and the job is long enough. */
import cliProgress from 'cli-progress';

export interface Progress {
  tick(n?: number): void;
  stop(): void;
}

export function progress(label: string, total: number, minTotal = 64): Progress {
  if (!process.stderr.isTTY || total < minTotal) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label.padEnd(10)} {bar} {value}/{total} {percentage}% | {eta_formatted} left`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() };
}
