/**
 * A key's usage ledger shared in Redis by every worker and gateway replica: one counter per key
 * (`owsd:ledger:<keyId>`), reserved atomically by a Lua script that checks the budget and adds in one step, so
 * concurrent reservations from any number of processes can never together pass the budget. As with the file
 * ledger, submissions are reserved BEFORE they are sent: a crash can only over-count, never under-count.
 *
 * A key already used on one machine (its `KEY.usage.json`) starts the shared counter at that count (SET NX), so
 * moving a key to workers never forgets what it has spent. Durability is Redis's: run it with appendonly yes
 * (`appendfsync everysec` or `always`) in production.
 */
import type { Redis } from 'ioredis';
import { fail } from '../errors.js';
import type { Key } from '../key/keyfile.js';
import { budgetExceeded, UsageLedger, type KeyLedger } from '../key/ledger.js';

/** Returns {1, used after} when reserved, {0, used} when it would pass the budget. */
const RESERVE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
if used + n > budget then return {0, used} end
return {1, redis.call('INCRBY', KEYS[1], n)}
`;

export function ledgerKey(keyId: string): string {
  return `owsd:ledger:${keyId}`;
}

export class RedisLedger implements KeyLedger {
  private usedCount = 0;
  private constructor(
    private readonly redis: Redis,
    readonly keyId: string,
    readonly budget: number,
  ) {}

  /** The shared ledger of a key; seeded from the key's file ledger when the key was read from a file. */
  static async open(redis: Redis, key: Key): Promise<RedisLedger> {
    const l = new RedisLedger(redis, key.id, key.budget);
    const local = key.file ? UsageLedger.open(key).used : 0;
    await redis.set(ledgerKey(key.id), String(local), 'NX');
    await l.refresh();
    return l;
  }

  get used(): number {
    return this.usedCount;
  }

  get remaining(): number {
    return Math.max(0, this.budget - this.usedCount);
  }

  async refresh(): Promise<void> {
    const v = await this.redis.get(ledgerKey(this.keyId));
    const n = v === null ? 0 : Number(v);
    if (!Number.isInteger(n) || n < 0) fail('OWSD_ERR_KEY', `shared ledger ${ledgerKey(this.keyId)} in Redis is corrupt: expected a non-negative integer, got ${JSON.stringify(v)}`);
    this.usedCount = n;
  }

  async reserve(n: number): Promise<void> {
    if (n <= 0) return;
    const [ok, used] = (await this.redis.eval(RESERVE, 1, ledgerKey(this.keyId), String(n), String(this.budget))) as [number, number];
    this.usedCount = Number(used);
    if (!ok) budgetExceeded(this.keyId, used, this.budget, n, ' (shared ledger in Redis)');
  }
}
