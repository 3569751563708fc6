/**
 * The usage ledger: how many submissions a key has made. It lives beside the key file (`KEY.usage.json`, no
 * secret in it) and is written atomically and durably (temp file, fsync, rename, fsync of the folder) BEFORE a
 * submission leaves, so a crash at any moment can only over-count, never under-count. `reserve` refuses to go
 * past the key's budget.
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

export class UsageLedger {
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
    let used = 0;
    if (fs.existsSync(where)) {
      let json: Partial<Usage>;
      try {
        json = JSON.parse(fs.readFileSync(where, 'utf8')) as Partial<Usage>;
      } catch {
        return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: not valid JSON (refusing to guess how much of the budget is used)`);
      }
      if (json.keyId !== key.id) return fail('OWSD_ERR_KEY', `usage ledger ${where} belongs to key ${json.keyId}, not ${key.id}`);
      if (typeof json.used !== 'number' || !Number.isInteger(json.used) || json.used < 0) {
        return fail('OWSD_ERR_KEY', `usage ledger ${where} is corrupt: "used" must be a non-negative integer`);
      }
      used = json.used;
    }
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
    if (this.usedCount + n > this.budget) {
      fail('OWSD_ERR_BUDGET', `key ${this.keyId} has used ${this.usedCount} of its ${this.budget} submissions; ${n} more would exceed the budget: make a new key (owsd key new) and refit`);
    }
    const next = this.usedCount + n;
    writeDurably(this.file, JSON.stringify({ keyId: this.keyId, used: next, updated: new Date().toISOString() } satisfies Usage) + '\n');
    this.usedCount = next;
  }
}
