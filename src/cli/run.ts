/**
 * The CLI's outer ring: turn thrown errors into one clear line and an exit code (never a stack trace unless
 * OWSD_DEBUG=1), and print results as text or JSON.
 */
import { Command, Help, type Option } from 'commander';
import { fail, fieldOf as fieldOfError, isOwsdError, OwsdError, settings, withField, type ErrorCode } from '../index.js';

export function exitCodeFor(e: unknown): number {
  return isOwsdError(e) ? e.exitCode : 1;
}

/** `e` marked with the command-line flag or field it is about (printed as `field` in a --json error): withField. */
export const withFlag = withField;

/** The flag or field an error names, if any (set by withFlag here, or by the gateway's withField). */
export function fieldOf(e: unknown): string | undefined {
  return isOwsdError(e) ? fieldOfError(e) : undefined;
}

/** Throw an OwsdError about a flag: `flagError('--key', 'OWSD_ERR_BAD_ARGUMENT', '...')`. */
export function flagError(field: string, code: ErrorCode, message: string): never {
  throw withFlag(new OwsdError(code, message), field);
}

/** Whether this command line asked for JSON output (`--json` before any `--`). */
export function wantsJson(argv: readonly string[] = process.argv): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Report an error the way the command's output goes: `owsd: <message>` on stderr, and with --json also
 * `{"error", "code", "field"?}` on stdout (the gateway's error names). Sets the exit code.
 */
export function reportError(e: unknown, json = wantsJson()): void {
  if (process.env.OWSD_DEBUG === '1') console.error(e);
  const message = isOwsdError(e) ? e.message : `unexpected error: ${e instanceof Error ? e.message : String(e)}`;
  const code = isOwsdError(e) ? e.code : 'OWSD_ERR_INTERNAL';
  const field = fieldOf(e);
  if (json) printJson({ error: message, code, ...(field ? { field } : {}) });
  process.stderr.write(`owsd: ${message}\n`);
  process.exitCode = exitCodeFor(e);
}

/** A bad flag value, before any action runs: the error reported as above and exit 2. */
export function usageError(field: string, message: string): never {
  reportError(withFlag(new OwsdError('OWSD_ERR_BAD_ARGUMENT', message), field));
  process.exit(2);
}

/** Wrap a command action: errors become `owsd: <message>` on stderr (and JSON on stdout with --json) and a non-zero exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1];
    const json = cmd instanceof Command ? Boolean(cmd.opts().json) : wantsJson();
    try {
      await fn(...args);
    } catch (e) {
      reportError(e, json);
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
    if (!Number.isInteger(n) || n < min) usageError(name, `${name} expects an integer >= ${min}, got '${v}'`);
    return n;
  };
}

/** Parse a number flag in [min, max], naming the flag in the error. */
export function floatOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min || x > max) usageError(name, `${name} expects a number in [${min}, ${max}], got '${v}'`);
    return x;
  };
}

/** A repeatable required flag given no value (`--key` with nothing after it in a script): an error naming the flag. */
export function needList(values: readonly string[] | undefined, flag: string, message: string): void {
  if (!values || values.length === 0 || values.some((v) => v.trim() === '')) flagError(flag, 'OWSD_ERR_BAD_ARGUMENT', message);
}

/** `--key FILE` given at least once, non-empty: the bundle's key file(s), in the order fit was given them. */
export function needKeys(keys: readonly string[] | undefined, cmd: string): void {
  needList(keys, '--key', `${cmd} needs the bundle's key file(s): --key FILE (repeat for several, in the order fit was given them)`);
}

/** `--quiet`, the same words on every command that shows progress. */
export const QUIET_OPTION = ['-q, --quiet', 'no progress display on stderr (results and errors are still printed)'] as const;

/** A shell word: as is when safe, else single-quoted. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command line this process was started with, as `owsd ...` (what to run again to resume). */
export function resumeCommand(argv: string[] = process.argv): string {
  return ['owsd', ...argv.slice(2)].map(shellWord).join(' ');
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The models and data folders from --models / --data (or its old name --data-dir) or OWSD_MODELS / OWSD_DATA; `who` starts the error ("experiments need"). */
export function modelsAndData(o: { models?: string; data?: string; dataDir?: string }, who: string): { modelsDir: string; dataDir: string } {
  const modelsDir = o.models ?? settings.modelsDir;
  const dataDir = o.data ?? o.dataDir ?? settings.dataDir;
  if (!modelsDir) return fail('OWSD_ERR_BAD_ARGUMENT', `${who} the models: set OWSD_MODELS (or --models) to the folder holding models.json`);
  if (!dataDir) return fail('OWSD_ERR_BAD_ARGUMENT', `${who} the data: set OWSD_DATA (or --data) to the folder holding the datasets`);
  return { modelsDir, dataDir };
}

/**
 * Ctrl-C or SIGTERM that no command handles (predict, eval, ...): exit through process.exit (130, 143) rather than
 * the signal's default, so the exit hooks run: a key's usage ledger gives back what it counted ahead and did not
 * spend (src/key/ledger.ts; test/ledger-blocks.test.ts). A command's own handler (fit's resume hint, serve's
 * graceful stop) decides when there is one.
 */
export function exitOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) === 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
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

/** Help is wrapped to the terminal (or $COLUMNS), at most 100 columns so long descriptions stay readable. */
function helpWidth(stream: NodeJS.WriteStream): number {
  const cols = stream.isTTY ? stream.columns : Number(process.env.COLUMNS) || 80;
  return Math.max(40, Math.min(cols || 80, 100));
}

/**
 * The program's error and help settings, which every command added afterwards inherits: errors as `owsd: ...`,
 * help wrapped to the width, required options first and marked `(required)`, no `(default: [])` on repeatable ones.
 */
export function configureProgram(program: Command): Command {
  return program
    .showHelpAfterError()
    .configureOutput({
      outputError: (str, write) => {
        // With --json, a usage error (unknown option, missing required option) is also JSON on stdout.
        if (wantsJson() && str.startsWith('error')) {
          const message = str.split('\n')[0]!.replace(/^error: /, '');
          const flag = /'(--[a-z-]+)/.exec(message)?.[1];
          printJson({ error: message, code: 'OWSD_ERR_BAD_ARGUMENT', ...(flag ? { field: flag } : {}) });
        }
        write(str.startsWith('error') ? `owsd: ${str}` : str);
      },
      getOutHelpWidth: () => helpWidth(process.stdout),
      getErrHelpWidth: () => helpWidth(process.stderr),
    })
    .configureHelp({
      // Required options first, marked; then the rest in the order each command declares them (essentials first).
      visibleOptions(this: Help, cmd: Command): Option[] {
        const all = Help.prototype.visibleOptions.call(this, cmd);
        return [...all.filter((o) => o.mandatory), ...all.filter((o) => !o.mandatory)];
      },
      optionDescription(this: Help, option: Option): string {
        // A repeatable option's empty-list default says nothing: leave it out.
        const shown = Array.isArray(option.defaultValue) && option.defaultValue.length === 0 ? Object.assign(Object.create(Object.getPrototypeOf(option) as object) as Option, option, { defaultValue: undefined }) : option;
        const text = Help.prototype.optionDescription.call(this, shown);
        return option.mandatory ? `(required) ${text}` : text;
      },
    });
}
