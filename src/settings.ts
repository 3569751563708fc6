/**
 * Every runtime setting in one place, read from the environment once. The CLI's flags override these.
 *
 * | variable          | meaning                                                         | default              |
 * |-------------------|-----------------------------------------------------------------|----------------------|
 * | OWSD_MODELS       | models directory holding models.json                            | (none)               |
 * | OWSD_DATA         | data directory holding the datasets (demo, experiments)         | (none)               |
 * | OWSD_CACHE        | cache for `owsd models pull`                                    | ~/.cache/owsd        |
 * | OWSD_THREADS      | intra-op threads for onnxruntime                                | number of CPU cores  |
 * | OWSD_LOG          | log level: silent, error, info, debug                           | info                 |
 * | OWSD_ORT_SPIN     | 1: let onnxruntime's idle threads spin-wait (its own default)   | 0 (threads sleep)    |
 * | OWSD_STATE        | this user's state folder: key ledgers by key id (read at use)   | $XDG_STATE_HOME/owsd or ~/.local/state/owsd |
 * | OWSD_REDIS        | `owsd key show`: the Redis ledger to read as well                | (none)               |
 *
 * onnxruntime's own ORT_DISABLE_TELEMETRY is set to 1 by src/internal/ort.ts, not read: its telemetry stays off.
 */
import os from 'node:os';
import path from 'node:path';

export interface Settings {
  modelsDir: string | undefined;
  dataDir: string | undefined;
  cacheDir: string;
  threads: number;
  logLevel: 'silent' | 'error' | 'info' | 'debug';
  /**
   * Whether onnxruntime's intra-op threads spin while waiting for work. Its default is to spin; we default to not,
   * because on shared cores (the cloud and the client on one machine, or other jobs) spinning threads burn the
   * cycles the working ones need: the 256 px generator ran 1.4-2.1x faster without spinning under load
   * (bench/stages.js measures both), with identical outputs.
   */
  ortSpinning: boolean;
}

function readLogLevel(v: string | undefined): Settings['logLevel'] {
  return v === 'silent' || v === 'error' || v === 'debug' ? v : 'info';
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const threads = Number.parseInt(env.OWSD_THREADS ?? '', 10);
  return {
    modelsDir: env.OWSD_MODELS || undefined,
    dataDir: env.OWSD_DATA || undefined,
    cacheDir: env.OWSD_CACHE || path.join(os.homedir(), '.cache', 'owsd'),
    threads: Number.isFinite(threads) && threads > 0 ? threads : Math.max(1, os.availableParallelism()),
    logLevel: readLogLevel(env.OWSD_LOG),
    ortSpinning: env.OWSD_ORT_SPIN === '1',
  };
}

/** The settings of this process; tests and the CLI may replace fields. */
export const settings: Settings = readSettings();
