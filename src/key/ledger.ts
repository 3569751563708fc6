/**
 * The usage ledger: how many submissions a key has made. It is kept by key id, not by file path, so every copy of
 * a key file on this machine (copied, symlinked, moved) shares one count: `<state>/ledgers/<keyId>.json`, where
 * `<state>` is `$OWSD_STATE`, else `$XDG_STATE_HOME/owsd`, else `~/.local/state/owsd` (a folder of this user's,
 * mode 0700; one group- or world-writable is refused). A copy of the count is also kept beside the key file that
 * was used (`KEY.usage.json`, where the ledger lived before): opening takes the larger of the two, so a ledger of
 * the old layout is migrated without losing counted use, and deleting either file (say while a gateway is
 * stopped) does not start the key again at 0; with both gone, a first-use marker makes opening refuse the key
 * (`firstUseMarkerPath`; `UsageLedger.restore` is the explicit way back). None of them holds a secret.
 *
 * Both are written atomically and durably (an exclusive temp file with an unpredictable name, fsync, rename,
 * fsync of the folder: ./files.ts) BEFORE a submission leaves, so a crash at any moment can only over-count,
 * never under-count. `reserve` refuses to go past the key's budget. Several processes may use one key at once:
 * each reservation takes a lock file (`<keyId>.json.lock`, holding the owner's pid; a lock whose owner is dead is
 * taken over), re-reads the count on disk and adds to it, so no process's submissions are lost from the count.
 * `release` gives back submissions that provably never left this machine (the cloud refused the connection).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';
import { MAX_BUDGET, type Key } from './keyfile.js';
import { checkPrivateFolder, tempOwner, writeFileAtomic } from './files.js';

export interface Usage {
  keyId: string;
  used: number;
  updated: string;
  /** When the key's first submission was counted (absent in ledgers written before it was kept). */
  firstUsed?: string;
}

/** This user's owsd state folder: $OWSD_STATE, else $XDG_STATE_HOME/owsd, else ~/.local/state/owsd. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OWSD_STATE) return path.resolve(env.OWSD_STATE);
  if (env.XDG_STATE_HOME) return path.join(path.resolve(env.XDG_STATE_HOME), 'owsd');
  return path.join(os.homedir(), '.local', 'state', 'owsd');
}

/** Where a key's ledger lives on this machine: `<state>/ledgers/<keyId>.json`. */
export function ledgerPath(keyId: string): string {
  if (!/^k_[0-9a-f]{16}$/.test(keyId)) return fail('OWSD_ERR_BAD_ARGUMENT', `ledgerPath: expected a key id (k_ and 16 hex digits), got ${JSON.stringify(keyId).slice(0, 40)}`);
  return path.join(stateDir(), 'ledgers', `${keyId}.json`);
}

/**
 * A key's first-use marker, `<state>/ledgers/<keyId>.used`: written once, when the key's first submission is
 * counted, and never removed by owsd. A ledger (and its copy) gone while the marker is there was deleted, not new:
 * opening refuses rather than start the count again at 0 (`UsageLedger.restore` is the explicit way back).
 */
export function firstUseMarkerPath(keyId: string): string {
  return ledgerPath(keyId).replace(/\.json$/, '.used');
}

/** The copy of the count kept beside a key file (where the ledger lived before it was kept by key id). */
export function besideKeyLedgerPath(keyFile: string): string {
  return `${keyFile}.usage.json`;
}

/** Create (mode 0700) and check the ledger folder: refused when others could plant files in it. */
function ledgerFolder(file: string): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    fail('OWSD_ERR_FILE', `cannot create the ledger folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): set OWSD_STATE to a folder of yours`);
  }
  checkPrivateFolder(dir, 'ledger folder');
}

function writeDurably(file: string, body: string): void {
  writeFileAtomic(file, body, { mode: 0o600, code: 'OWSD_ERR_KEY' });
}

const LOCK_WAIT_MS = 10_000;
const sleepSync = (ms: number): void => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) as unknown as void;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Run `fn` holding `${file}.lock` (created exclusively; taken over when its owner process is gone). */
function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(lock, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        fs.writeSync(fd, String(process.pid));
      } finally {
        fs.closeSync(fd);
      }
      try {
        return fn();
      } finally {
        fs.rmSync(lock, { force: true });
      }
    }
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(lock, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    // A lock left by a killed process (kill -9 between lock and release): take it over.
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !alive(owner)) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      return fail('OWSD_ERR_KEY', `usage ledger ${file} is locked by process ${Number.isNaN(owner) ? '(unknown)' : owner} for more than ${LOCK_WAIT_MS / 1000} s; if no owsd process is running, remove ${lock}`);
    }
    sleepSync(2);
  }
}

/**
 * Temp files left by writers killed before their rename (never read: the rename is the commit): this layout's
 * `.<name>.<pid>.<random>.tmp` and the old `<name>.<pid>.tmp`, when their pid is not running.
 */
function removeDeadTemps(file: string): void {
  const dir = path.dirname(file);
  const oldPrefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const old = n.startsWith(oldPrefix) ? /^(\d+)\.tmp$/.exec(n.slice(oldPrefix.length)) : null;
    const pid = old ? Number(old[1]) : tempOwner(file, n);
    if (pid !== undefined && pid !== process.pid && !alive(pid)) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** The ledger on disk, or undefined when there is none yet; errors name the file and never guess. */
function readUsage(where: string, keyId: string): Usage | undefined {
  let text: string;
  try {
    const st = fs.lstatSync(where);
    if (!st.isFile()) return fail('OWSD_ERR_KEY', `usage ledger ${where} is not a regular file (a symlink or folder planted there?): refusing to use it`);
    text = fs.readFileSync(where, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let json: Partial<Usage>;
  try {
    json = JSON.parse(text) as Partial<Usage>;
  } catch {
    return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: not valid JSON (refusing to guess how much of the budget is used)`);
  }
  if (json.keyId !== keyId) return fail('OWSD_ERR_KEY', `usage ledger ${where} belongs to key ${json.keyId}, not ${keyId}`);
  if (typeof json.used !== 'number' || !Number.isInteger(json.used) || json.used < 0) {
    return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: "used" must be a non-negative integer`);
  }
  return { keyId, used: json.used, updated: String(json.updated ?? ''), ...(typeof json.firstUsed === 'string' ? { firstUsed: json.firstUsed } : {}) };
}

function readUsed(where: string | undefined, keyId: string): number {
  return where ? (readUsage(where, keyId)?.used ?? 0) : 0;
}

/** The one error for a reservation that would pass a key's budget (`where`: e.g. ' (shared ledger in Redis)'). */
export function budgetExceeded(keyId: string, used: number, budget: number, n: number, where = ''): never {
  return fail('OWSD_ERR_BUDGET', `key ${keyId} has used ${used} of its ${budget} submissions${where}; ${n} more would exceed the budget: make a new key (owsd key new) and refit`);
}

/**
 * What the pipeline needs of a key's ledger: its budget and use, and `reserve(n)`, which counts `n` submissions
 * BEFORE they are sent and refuses (OWSD_ERR_BUDGET) past the budget. `UsageLedger` (a file per key id on this
 * machine) is the single-machine one; `RedisLedger` (src/scale) is shared by every worker and gateway replica.
 */
export interface KeyLedger {
  readonly keyId: string;
  readonly budget: number;
  /** Submissions counted so far, as last seen (call `refresh` first for a shared ledger). */
  readonly used: number;
  readonly remaining: number;
  reserve(n: number): void | Promise<void>;
  /**
   * Give back `n` reserved submissions that provably never left this machine (the connection was refused, or the
   * name did not resolve, before any byte was written). Never for a request that may have arrived.
   */
  release?(n: number): void | Promise<void>;
  /** Re-read the count from where it is kept (shared ledgers); absent when `used` is always current. */
  refresh?(): Promise<void>;
}

export class UsageLedger implements KeyLedger {
  private constructor(
    /** Where the count is kept: `ledgerPath(keyId)` unless given. */
    readonly file: string,
    /** The copy beside the key file (absent for a ledger at a path given by the caller). */
    readonly besideKey: string | undefined,
    readonly keyId: string,
    readonly budget: number,
    private usedCount: number,
  ) {}

  /**
   * The ledger of a key: by its id in this user's state folder (see the module doc), and beside its key file. A
   * count found only beside the key (the old layout, or a state folder lost) is carried over: the larger count
   * holds. `file` puts the ledger at that path instead (keys not read from a file; experiments).
   */
  static open(key: Key, file?: string): UsageLedger {
    const where = file ?? ledgerPath(key.id);
    const beside = file === undefined && key.file ? besideKeyLedgerPath(key.file) : undefined;
    if (file === undefined) ledgerFolder(where);
    const own = readUsed(where, key.id);
    const copy = readUsed(beside, key.id);
    if (file === undefined && own === 0 && copy === 0 && !fs.existsSync(where) && !(beside && fs.existsSync(beside))) {
      const marker = firstUseMarkerPath(key.id);
      if (fs.existsSync(marker)) {
        let first = '';
        try {
          first = String((JSON.parse(fs.readFileSync(marker, 'utf8')) as { firstUsed?: unknown }).firstUsed ?? '');
        } catch {
          /* the marker's presence is what counts */
        }
        return fail(
          'OWSD_ERR_KEY',
          `the usage ledger of key ${key.id} is gone (${where}${beside ? ` and ${beside}` : ''} are missing), but the key was first used ${first ? `at ${first} ` : ''}(${marker}): refusing to start its count again at 0. Restore the ledger from a backup, or give the count you know with owsd key restore-ledger KEY --used N`,
        );
      }
    }
    removeDeadTemps(where);
    if (beside) removeDeadTemps(beside);
    const l = new UsageLedger(where, beside, key.id, key.budget, Math.max(own, copy));
    if (copy > own) l.reserve(0, true); // migrate: the state folder gets the count found beside the key
    return l;
  }

  get used(): number {
    return this.usedCount;
  }

  get remaining(): number {
    return Math.max(0, this.budget - this.usedCount);
  }

  /** Write `used` to the ledger and the copy beside the key (under the lock), and the first-use marker once. */
  private store(used: number, firstUsed: string | undefined): void {
    const now = new Date().toISOString();
    const first = firstUsed ?? (used > 0 ? now : undefined);
    const body = JSON.stringify({ keyId: this.keyId, used, updated: now, firstUsed: first } satisfies Usage) + '\n';
    // The ledger by key id first: it is what every copy of the key reads.
    writeDurably(this.file, body);
    if (this.besideKey) writeDurably(this.besideKey, body);
    this.usedCount = used;
    // The marker after the ledger: a crash between the two leaves a ledger without a marker (written next time),
    // never a marker without a ledger (which would refuse the key).
    if (used > 0 && this.defaultPlace) {
      const marker = firstUseMarkerPath(this.keyId);
      if (!fs.existsSync(marker)) writeDurably(marker, JSON.stringify({ keyId: this.keyId, firstUsed: first }) + '\n');
    }
  }

  /** Whether this is the ledger by key id in the state folder (not a path a caller chose). */
  private get defaultPlace(): boolean {
    return this.file === ledgerPath(this.keyId);
  }

  /**
   * The explicit way back after a ledger was deleted (see `open`): write the count `used` (what you know the key
   * has used; the ledger is never lowered below a count still on disk) and return the ledger.
   */
  static restore(key: Key, used: number): UsageLedger {
    if (!Number.isInteger(used) || used < 0 || used > MAX_BUDGET) return fail('OWSD_ERR_BAD_ARGUMENT', `--used: expected an integer from 0 to ${MAX_BUDGET} (the submissions key ${key.id} has made), got ${used}`);
    const where = ledgerPath(key.id);
    ledgerFolder(where);
    const beside = key.file ? besideKeyLedgerPath(key.file) : undefined;
    const l = new UsageLedger(where, beside, key.id, key.budget, used);
    withLock(where, () => {
      const own = readUsage(where, key.id);
      l.store(Math.max(used, own?.used ?? 0, readUsed(beside, key.id)), own?.firstUsed);
    });
    return l;
  }

  /**
   * Durably count `n` submissions before they are sent; throws OWSD_ERR_BUDGET if that passes the budget.
   * (`sync`: write even when n is 0, to carry a larger count over from the copy beside the key.)
   */
  reserve(n: number, sync = false): void {
    if (n <= 0 && !sync) return;
    withLock(this.file, () => {
      // Another process (or another copy of the key) may have used it since: add to what is on disk.
      const own = readUsage(this.file, this.keyId);
      const current = Math.max(this.usedCount, own?.used ?? 0, readUsed(this.besideKey, this.keyId));
      this.usedCount = current;
      if (n > 0 && current + n > this.budget) budgetExceeded(this.keyId, current, this.budget, n);
      this.store(current + Math.max(0, n), own?.firstUsed);
    });
  }

  /** Give back `n` submissions that provably never left (see KeyLedger.release); the count never goes below 0. */
  release(n: number): void {
    if (n <= 0) return;
    withLock(this.file, () => {
      const own = readUsage(this.file, this.keyId);
      const current = Math.max(own?.used ?? 0, readUsed(this.besideKey, this.keyId));
      this.store(Math.max(0, current - n), own?.firstUsed);
    });
  }
}
