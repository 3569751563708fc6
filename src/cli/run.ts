/**
 * The CLI's outer ring: turn thrown errors into one clear line and an exit code (never a stack trace unless
 * OWSD_DEBUG=1), and print results as text or JSON.
 */
import { fail, isOwsdError, settings } from '../index.js';

export function exitCodeFor(e: unknown): number {
  return isOwsdError(e) ? e.exitCode : 1;
}

/** Wrap a command action: errors become `owsd: <message>` on stderr and a non-zero exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (process.env.OWSD_DEBUG === '1') console.error(e);
      const message = isOwsdError(e) ? e.message : `unexpected error: ${e instanceof Error ? e.message : String(e)}`;
      process.stderr.write(`owsd: ${message}\n`);
      process.exitCode = exitCodeFor(e);
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Parse a positive integer flag, naming the flag in the error. */
export function intOption(name: string, min = 1) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`owsd: ${name} expects an integer >= ${min}, got '${v}'\n`);
      process.exit(2);
    }
    return n;
  };
}

/** Parse a number flag in [min, max], naming the flag in the error. */
export function floatOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min || x > max) {
      process.stderr.write(`owsd: ${name} expects a number in [${min}, ${max}], got '${v}'\n`);
      process.exit(2);
    }
    return x;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The models and data folders from --models / --data-dir or OWSD_MODELS / OWSD_DATA; `who` starts the error ("experiments need"). */
export function modelsAndData(o: { models?: string; dataDir?: string }, who: string): { modelsDir: string; dataDir: string } {
  const modelsDir = o.models ?? settings.modelsDir;
  const dataDir = o.dataDir ?? settings.dataDir;
  if (!modelsDir) return fail('OWSD_ERR_BAD_ARGUMENT', `${who} the models: set OWSD_MODELS (or --models) to the folder holding models.json`);
  if (!dataDir) return fail('OWSD_ERR_BAD_ARGUMENT', `${who} the data: set OWSD_DATA (or --data-dir) to the folder holding the datasets`);
  return { modelsDir, dataDir };
}

/** Resolve when SIGTERM or SIGINT arrives; a second signal exits at once. */
export function untilSignal(who: string): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (sig: NodeJS.Signals): void => {
      if (seen) {
        process.stderr.write(`${who}: second ${sig}, exiting now\n`);
        process.exit(130);
      }
      seen = true;
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
