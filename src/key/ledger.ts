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
 * each durable reservation takes a lock file (`<keyId>.json.lock`, holding the owner's pid; a lock whose owner is
 * dead is taken over), re-reads the count on disk and adds to it, so no process's submissions are lost from the
 * count. `release` gives back submissions that provably never left this machine (the cloud refused the connection).
 *
 * Reservations are counted in blocks (issue 20: the locked, fsynced write pair cost several ms, up to 21 on a busy
 * disk, once per image at batch 1). A process keeps an allowance: what it counted on disk ahead of use. `reserve(n)` takes `n` from
 * the allowance when it covers them (no disk I/O); otherwise it counts `n` plus a block durably, as above. The
 * block is 0 for a process's first reservation (a one-shot run writes once, with nothing to give back), then
 * LEDGER_BLOCK_MIN (8), doubled while each block lasts under a second, up to LEDGER_BLOCK_MAX (64), and halved
 * back down to 0 when reservations slow; near the budget it is clipped to a quarter of what the budget has left
 * after `n` (so processes sharing the key leave each other room, and the last submissions are counted one by one),
 * and only `n` itself not fitting is refused (the error counts real use, not this process's allowance). The count on disk is therefore never below
 * what left the machine. The allowance is given back by `close()` (under the lock: the count on disk less the
 * unspent allowance) and, while one is held, by a synchronous `process.on('exit')` hook (normal exit,
 * process.exit, and the CLI's Ctrl-C/SIGTERM paths, which end through it). A SIGKILL or crash leaves the
 * over-count: at most LEDGER_BLOCK_MAX (64) per key and process, plus submissions released since the last block.
 * Every `UsageLedger` of one file in a process shares the one allowance, so `used` (the count on disk less this
 * process's unspent allowance) is what was spent, in whichever ledger of the file it is read. Another process's
 * unspent allowance shows as used until it gives it back (forever, if it was killed: the over-count above).
 * test/ledger-blocks.test.ts checks all of this.
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
  /**
   * Give back what was counted ahead and not spent (`UsageLedger`'s block); the ledger stays usable. Absent when
   * nothing is counted ahead.
   */
  close?(): void | Promise<void>;
}

/** The smallest block counted ahead once reservations come fast, and the largest (the most a crash over-counts). */
export const LEDGER_BLOCK_MIN = 8;
export const LEDGER_BLOCK_MAX = 64;
/** A block used up faster than this is doubled for the next one; one that lasted longer is halved. */
const BLOCK_FAST_MS = 1000;
/** A block takes at most this fraction (1 / BLOCK_SHARE_OF_REST) of the budget left after the reservation. */
const BLOCK_SHARE_OF_REST = 4;

/**
 * This process's share of one ledger file, shared by every `UsageLedger` of that file in the process (a gateway's
 * predictor, `Predictor.usage`, a ledger opened to read the count): what it counted ahead and has not spent.
 */
interface Allowance {
  /** The count on disk as this process last read or wrote it (this allowance included). */
  disk: number;
  /** Counted on disk by this process and not (yet) spent: given back by `close` or at exit. */
  unspent: number;
  /** The block the last durable reservation asked for beyond `n` (0: none yet, or reservations are slow). */
  block: number;
  /** When the last durable reservation was made (performance.now()), undefined before the first. */
  at: number | undefined;
  /** The ledger that gives the allowance back at exit (the last one that reserved a block). */
  owner: UsageLedger | undefined;
}

const allowances = new Map<string, Allowance>();
const holding = new Set<Allowance>();

function allowanceOf(file: string): Allowance {
  const at = path.resolve(file);
  let a = allowances.get(at);
  if (!a) allowances.set(at, (a = { disk: 0, unspent: 0, block: 0, at: undefined, owner: undefined }));
  return a;
}

/**
 * At exit (normal end, process.exit, and the CLI's SIGINT/SIGTERM paths, which end through process.exit): give
 * every unspent allowance back, synchronously. A SIGKILL or crash skips it and leaves the over-count (at most
 * LEDGER_BLOCK_MAX per key), which is the safe direction. Registered only while an allowance is held.
 */
function giveBackAtExit(): void {
  for (const a of [...holding]) {
    const n = a.unspent;
    try {
      a.owner?.close();
    } catch (e) {
      process.stderr.write(`owsd: could not give ${n} unspent submission(s) back to the usage ledger of key ${a.owner?.keyId} (${(e as Error).message}); it over-counts by ${n}\n`);
    }
  }
}

function hold(a: Allowance): void {
  if (a.unspent > 0) {
    if (holding.size === 0) process.on('exit', giveBackAtExit);
    holding.add(a);
  } else if (holding.delete(a) && holding.size === 0) {
    process.off('exit', giveBackAtExit);
  }
}

export class UsageLedger implements KeyLedger {
  /** This process's allowance of the ledger file (shared with every other `UsageLedger` of the file in it). */
  private readonly allowance: Allowance;

  private constructor(
    /** Where the count is kept: `ledgerPath(keyId)` unless given. */
    readonly file: string,
    /** The copy beside the key file (absent for a ledger at a path given by the caller). */
    readonly besideKey: string | undefined,
    readonly keyId: string,
    readonly budget: number,
    onDisk: number,
  ) {
    this.allowance = allowanceOf(file);
    this.allowance.disk = onDisk;
  }

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

  /**
   * Submissions counted: the count on disk as last read or written, less what this process counted ahead and has
   * not spent. So it is what this process sent plus what other processes had counted (their unspent blocks
   * included: those show as used until given back).
   */
  get used(): number {
    return Math.max(0, this.allowance.disk - this.allowance.unspent);
  }

  get remaining(): number {
    return Math.max(0, this.budget - this.used);
  }

  /** Counted on disk ahead of use by this process and not spent yet (given back by `close` or at exit). */
  get unspent(): number {
    return this.allowance.unspent;
  }

  /** Write `used` to the ledger and the copy beside the key (under the lock), and the first-use marker once. */
  private store(used: number, firstUsed: string | undefined): void {
    const now = new Date().toISOString();
    const first = firstUsed ?? (used > 0 ? now : undefined);
    const body = JSON.stringify({ keyId: this.keyId, used, updated: now, firstUsed: first } satisfies Usage) + '\n';
    // The ledger by key id first: it is what every copy of the key reads.
    writeDurably(this.file, body);
    if (this.besideKey) writeDurably(this.besideKey, body);
    this.allowance.disk = used;
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
   * The count on disk, read under the lock: the larger of the ledger and its copy beside the key. With both gone
   * (deleted while this process runs) the count this process last saw holds, so it never restarts at 0.
   */
  private readDisk(): { used: number; firstUsed: string | undefined } {
    const own = readUsage(this.file, this.keyId);
    const copy = this.besideKey ? readUsage(this.besideKey, this.keyId) : undefined;
    if (!own && !copy) return { used: this.allowance.disk, firstUsed: undefined };
    return { used: Math.max(own?.used ?? 0, copy?.used ?? 0), firstUsed: own?.firstUsed };
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
   * Count `n` submissions before they are sent; throws OWSD_ERR_BUDGET when they do not fit in the budget. Taken
   * from this process's allowance when it covers `n` (no disk I/O); otherwise counted durably on disk, under the
   * lock, together with the next block (see the module doc). (`sync`: write even when n is 0, to carry a larger
   * count over from the copy beside the key.)
   */
  reserve(n: number, sync = false): void {
    if (n <= 0 && !sync) return;
    const a = this.allowance;
    if (n > 0 && n <= a.unspent) {
      a.unspent -= n;
      hold(a);
      return;
    }
    const now = performance.now();
    // The block: none for a first reservation (a one-shot run writes once and has nothing to give back), doubled
    // while each block lasts under BLOCK_FAST_MS, halved (down to none) when reservations slow down.
    let block = a.block;
    if (n > 0) {
      if (a.at === undefined) block = 0;
      else if (now - a.at < BLOCK_FAST_MS) block = Math.min(LEDGER_BLOCK_MAX, Math.max(LEDGER_BLOCK_MIN, block * 2));
      else block = block >= 2 * LEDGER_BLOCK_MIN ? block / 2 : 0;
    }
    withLock(this.file, () => {
      // Another process (or another copy of the key) may have used it since: add to what is on disk.
      const disk = this.readDisk();
      const need = Math.max(0, n - a.unspent);
      if (n > 0 && disk.used + need > this.budget) budgetExceeded(this.keyId, Math.max(0, disk.used - a.unspent), this.budget, n);
      // Near the budget the block is clipped to a quarter of what is left after n, so that processes sharing the key
      // leave each other room (their unspent blocks count as used for the others) and the end is counted exactly.
      const extra = n > 0 ? Math.min(block, Math.floor((this.budget - disk.used - need) / BLOCK_SHARE_OF_REST)) : 0;
      this.store(disk.used + need + extra, disk.firstUsed);
      if (n > 0) {
        a.unspent = a.unspent + need + extra - n;
        a.block = block;
        a.at = now;
        a.owner = this;
      }
    });
    hold(a);
  }

  /**
   * Give back `n` submissions that provably never left (see KeyLedger.release): to this process's allowance (no
   * disk I/O: the count on disk still covers everything that left, and `close` or the exit gives it back).
   */
  release(n: number): void {
    if (n <= 0) return;
    const a = this.allowance;
    a.unspent = Math.min(a.disk, a.unspent + n);
    a.owner ??= this;
    hold(a);
  }

  /**
   * Give this process's unspent allowance back: under the lock, re-read the count on disk and write it less the
   * allowance (never below 0). The ledger stays usable (a later `reserve` counts anew). Called by
   * `Predictor.close`, `fit` and the other owners of a ledger, and at exit while an allowance is held. When the
   * ledger's folder is gone (a scratch folder removed), there is nothing to give back to.
   */
  close(): void {
    const a = this.allowance;
    const n = a.unspent;
    if (n > 0 && fs.existsSync(path.dirname(this.file))) {
      withLock(this.file, () => {
        const disk = this.readDisk();
        this.store(Math.max(0, disk.used - n), disk.firstUsed);
      });
    }
    a.unspent = 0;
    a.block = 0;
    a.at = undefined;
    hold(a);
  }
}
