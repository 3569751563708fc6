/**
 * The usage ledger: how many submissions a key has made. It lives beside the key file (`KEY.usage.json`, no
 * secret in it) and is written atomically and durably (temp file, fsync, rename, fsync of the folder) BEFORE a
 * submission leaves, so a crash at any moment can only over-count, never under-count. `reserve` refuses to go
 * past the key's budget. Several processes may use one key at once: each reservation takes a lock file
 * (`KEY.usage.json.lock`, holding the owner's pid; a lock whose owner is dead is taken over), re-reads the count
 * on disk and adds to it, so no process's submissions are lost from the count.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import type { Key } from './keyfile.js';

export interface Usage {
  keyId: string;
  used: number;
  updated: string;
}

export function ledgerPath(keyFile: string): string {
  return `${keyFile}.usage.json`;
}

function writeDurably(file: string, body: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, body);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dir = fs.openSync(path.dirname(file), 'r');
    fs.fsyncSync(dir);
    fs.closeSync(dir);
  } catch {
    /* some filesystems refuse to fsync a folder; the rename is still atomic */
  }
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

/** Temp files `${file}.<pid>.tmp` left by writers killed before their rename (never read: the rename is the commit). */
function removeDeadTemps(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.tmp$/.exec(n.slice(prefix.length)) : null;
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** The count on disk (0 when there is no ledger yet); errors name the file and never guess. */
function readUsed(where: string, keyId: string): number {
  if (!fs.existsSync(where)) return 0;
  let json: Partial<Usage>;
  try {
    json = JSON.parse(fs.readFileSync(where, 'utf8')) as Partial<Usage>;
  } catch {
    return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: not valid JSON (refusing to guess how much of the budget is used)`);
  }
  if (json.keyId !== keyId) return fail('OWSD_ERR_KEY', `usage ledger ${where} belongs to key ${json.keyId}, not ${keyId}`);
  if (typeof json.used !== 'number' || !Number.isInteger(json.used) || json.used < 0) {
    return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: "used" must be a non-negative integer`);
  }
  return json.used;
}

/** The one error for a reservation that would pass a key's budget (`where`: e.g. ' (shared ledger in Redis)'). */
export function budgetExceeded(keyId: string, used: number, budget: number, n: number, where = ''): never {
  return fail('OWSD_ERR_BUDGET', `key ${keyId} has used ${used} of its ${budget} submissions${where}; ${n} more would exceed the budget: make a new key (owsd key new) and refit`);
}

/**
 * What the pipeline needs of a key's ledger: its budget and use, and `reserve(n)`, which counts `n` submissions
 * BEFORE they are sent and refuses (OWSD_ERR_BUDGET) past the budget. `UsageLedger` (a file beside the key) is the
 * single-machine one; `RedisLedger` (src/scale) is shared by every worker and gateway replica.
 */
export interface KeyLedger {
  readonly keyId: string;
  readonly budget: number;
  /** Submissions counted so far, as last seen (call `refresh` first for a shared ledger). */
  readonly used: number;
  readonly remaining: number;
  reserve(n: number): void | Promise<void>;
  /** Re-read the count from where it is kept (shared ledgers); absent when `used` is always current. */
  refresh?(): Promise<void>;
}

export class UsageLedger implements KeyLedger {
  private constructor(
    readonly file: string,
    readonly keyId: string,
    readonly budget: number,
    private usedCount: number,
  ) {}

  /** The ledger of a key read from a file; `file` overrides where the ledger lives. */
  static open(key: Key, file?: string): UsageLedger {
    const where = file ?? (key.file ? ledgerPath(key.file) : undefined);
    if (!where) return fail('OWSD_ERR_KEY', `key ${key.id} was not read from a file: give the ledger a path`);
    const used = readUsed(where, key.id);
    removeDeadTemps(where);
    return new UsageLedger(where, key.id, key.budget, used);
  }

  get used(): number {
    return this.usedCount;
  }

  get remaining(): number {
    return Math.max(0, this.budget - this.usedCount);
  }

  /** Durably count `n` submissions before they are sent; throws OWSD_ERR_BUDGET if that passes the budget. */
  reserve(n: number): void {
    if (n <= 0) return;
    withLock(this.file, () => {
      // Another process may have used the key since: add to what is on disk.
      const current = Math.max(this.usedCount, readUsed(this.file, this.keyId));
      this.usedCount = current;
      if (current + n > this.budget) budgetExceeded(this.keyId, current, this.budget, n);
      const next = current + n;
      writeDurably(this.file, JSON.stringify({ keyId: this.keyId, used: next, updated: new Date().toISOString() } satisfies Usage) + '\n');
      this.usedCount = next;
    });
  }
}
