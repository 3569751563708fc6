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

/** Subtracts ARGV[1], never below 0; returns the count after. */
const RELEASE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = math.max(0, used - tonumber(ARGV[1]))
redis.call('SET', KEYS[1], after)
return after
`;

export function ledgerKey(keyId: string): string {
  return `owsd:ledger:${keyId}`;
}

/** What the shared ledger in Redis has counted for a key (undefined when no process has used it through Redis). */
export async function redisUsed(redis: Redis, keyId: string): Promise<number | undefined> {
  const v = await redis.get(ledgerKey(keyId));
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) return fail('OWSD_ERR_KEY', `shared ledger ${ledgerKey(keyId)} in Redis is corrupt: expected a non-negative integer, got ${JSON.stringify(v).slice(0, 40)}`);
  return n;
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
    this.usedCount = (await redisUsed(this.redis, this.keyId)) ?? 0;
  }

  async reserve(n: number): Promise<void> {
    if (n <= 0) return;
    const [ok, used] = (await this.redis.eval(RESERVE, 1, ledgerKey(this.keyId), String(n), String(this.budget))) as [number, number];
    this.usedCount = Number(used);
    if (!ok) budgetExceeded(this.keyId, used, this.budget, n, ' (shared ledger in Redis)');
  }

  /** Give back `n` submissions that provably never left (see KeyLedger.release); never below 0. */
  async release(n: number): Promise<void> {
    if (n <= 0) return;
    this.usedCount = Number(await this.redis.eval(RELEASE, 1, ledgerKey(this.keyId), String(n)));
  }
}
