/**
 * Issue 16 items 7, 8 and 12 without a cloud: bounded budgets, one ledger per key id (copies and symlinks share
 * it; the old `KEY.usage.json` is migrated; deleting either copy does not restart at 0; `key show --redis`), no
 * planted symlink followed by a ledger write, and key folders others can write refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, readKeyFile, rotateKeys, UsageLedger, writeKeyFile } from '../src/index.js';
import { connectRedis, ledgerKey, RedisLedger } from '../src/scale/index.js';
import { modelsDir, runOwsd, tempDir } from './helpers.js';
import { redisSkipReason, startRedis } from './redis.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };
/** Where this process's ledger of a key lives (OWSD_STATE is set per test process by ./helpers.ts). */
const stateLedger = (keyId: string) => path.join(process.env.OWSD_STATE!, 'ledgers', `${keyId}.json`);

function newKeyFile(dir: string, fill: number, budget: number, name = 'k.key'): string {
  const file = path.join(dir, name);
  writeKeyFile(file, createKey({ secret: new Uint8Array(32).fill(fill), imageSize: 32, budget }));
  return file;
}

test('EXPECTED FAILURE - budgets past 10^9 (1e300, 2^53 + 2) are refused in createKey, the key file, key new --budget and rotation, naming the field', async () => {
  for (const budget of [1e300, 2 ** 53 + 2, 1_000_000_001]) {
    assert.throws(() => createKey({ budget }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /budget: expected an integer from 1 to 1000000000/ });
  }
  assert.equal(createKey({ budget: 1_000_000_000 }).budget, 1_000_000_000);
  const dir = tempDir();
  const file = newKeyFile(dir, 61, 100);
  const body = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, body.replace(/"budget": \d+/, '"budget": 1e300'));
  assert.throws(() => readKeyFile(file), { code: 'OWSD_ERR_KEY', message: new RegExp(`key file ${file}: "budget": expected an integer from 1 to 1000000000`) });
  fs.writeFileSync(file, body);
  // The CLI: exit 2, the flag named, no key file written.
  for (const v of ['1e300', '1000000001', '0x10', '1.5']) {
    const out = path.join(dir, `cli-${v}.key`);
    const r = await runOwsd(['key', 'new', '--out', out, '--budget', v], env);
    assert.equal(r.code, 2, `--budget ${v}: ${r.stderr}`);
    assert.match(r.stderr, /--budget: expected an integer from 1 to 1000000000/);
    assert.ok(!fs.existsSync(out));
  }
  // Rotation (offline, and the gateway's POST /v1/keys/rotate body, which ends in rotateKeys): refused first.
  await assert.rejects(rotateKeys({ bundle: path.join(dir, 'no-bundle'), keys: [readKeyFile(file)], budget: 1e300 }), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /^budget: expected an integer from 1 to 1000000000/ });
});

test('EXPECTED FAILURE - a copied or symlinked key file shares its count: copies together never pass the budget', () => {
  const file = newKeyFile(tempDir(), 62, 12);
  UsageLedger.open(readKeyFile(file)).reserve(7);
  const copy = path.join(tempDir(), 'copy.key');
  fs.copyFileSync(file, copy);
  fs.chmodSync(copy, 0o600);
  const link = path.join(tempDir(), 'link.key');
  fs.symlinkSync(file, link);
  const viaCopy = UsageLedger.open(readKeyFile(copy));
  assert.equal(viaCopy.used, 7, 'the copy starts from the count of the original');
  viaCopy.reserve(3);
  const viaLink = UsageLedger.open(readKeyFile(link));
  assert.equal(viaLink.used, 10);
  assert.throws(() => viaLink.reserve(3), { code: 'OWSD_ERR_BUDGET', message: /used 10 of its 12/ });
  assert.equal(UsageLedger.open(readKeyFile(file)).used, 10);
});

test('EXPECTED FAILURE - the old KEY.usage.json is migrated (the larger count holds); deleting either copy of the count does not restart at 0', () => {
  const file = newKeyFile(tempDir(), 63, 1000);
  const key = readKeyFile(file);
  // A ledger of the old layout, beside the key: 114 used.
  fs.writeFileSync(`${file}.usage.json`, JSON.stringify({ keyId: key.id, used: 114, updated: '2026-01-01T00:00:00.000Z' }) + '\n');
  assert.equal(UsageLedger.open(key).used, 114);
  UsageLedger.open(key).reserve(1);
  // Deleted while a gateway is stopped: the other copy holds the count.
  fs.rmSync(`${file}.usage.json`);
  assert.equal(UsageLedger.open(key).used, 115);
  assert.equal(JSON.parse(fs.readFileSync(stateLedger(key.id), 'utf8')).used, 115, 'carried into the ledger by key id');
  UsageLedger.open(key).reserve(1);
  fs.rmSync(stateLedger(key.id));
  assert.equal(UsageLedger.open(key).used, 116);
  // A smaller count found beside the key never lowers the ledger.
  fs.writeFileSync(`${file}.usage.json`, JSON.stringify({ keyId: key.id, used: 3, updated: '2026-01-01T00:00:00.000Z' }) + '\n');
  assert.equal(UsageLedger.open(key).used, 116);
});

test('EXPECTED FAILURE - a symlink planted at a predictable temp name beside the key or the ledger is never followed', () => {
  const dir = tempDir();
  const file = newKeyFile(dir, 64, 100);
  const key = readKeyFile(file);
  UsageLedger.open(key).reserve(1);
  fs.mkdirSync(path.dirname(stateLedger(key.id)), { recursive: true, mode: 0o700 });
  const victim = path.join(tempDir(), 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  const planted = [
    `${file}.usage.json.${process.pid}.tmp`, // the name the ledger's temp file had
    `${stateLedger(key.id)}.${process.pid}.tmp`,
    path.join(dir, `.k.key.usage.json.${process.pid}.tmp`),
  ];
  for (const p of planted) fs.symlinkSync(victim, p);
  const l = UsageLedger.open(key);
  l.reserve(2);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the target is untouched');
  l.release(1);
  l.close(); // the released submission reaches the disk when the ledger gives its allowance back
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the target is untouched');
  for (const f of [`${file}.usage.json`, stateLedger(key.id)]) {
    assert.ok(fs.lstatSync(f).isFile(), `${f} is a regular file, not a symlink`);
    assert.equal(JSON.parse(fs.readFileSync(f, 'utf8')).used, 2);
  }
});

test('EXPECTED FAILURE - a key folder writable by group or others is refused, naming the folder', () => {
  const dir = tempDir();
  const file = newKeyFile(dir, 65, 100);
  for (const [mode, who] of [[0o770, 'its group'], [0o707, 'others']] as const) {
    fs.chmodSync(dir, mode);
    assert.throws(() => readKeyFile(file), (e: Error & { code?: string }) => e.code === 'OWSD_ERR_KEY_PERMISSIONS' && e.message.includes(dir) && e.message.includes(`writable by ${who}`) && /chmod go-w/.test(e.message));
    assert.throws(() => writeKeyFile(path.join(dir, 'new.key'), createKey()), { code: 'OWSD_ERR_KEY_PERMISSIONS' });
  }
  fs.chmodSync(dir, 0o700);
  assert.equal(readKeyFile(file).budget, 100);
});

test('EXPECTED FAILURE - key show --redis reports what the shared ledger in Redis counted', { skip: redisSkipReason() }, async () => {
  const redis = await startRedis();
  const client = connectRedis(redis.url);
  try {
    const file = newKeyFile(tempDir(), 66, 1000);
    const key = readKeyFile(file);
    UsageLedger.open(key).reserve(114); // this machine
    const shared = await RedisLedger.open(client, key); // starts from 114
    await shared.reserve(1); // a gateway replica or worker
    assert.equal(await client.get(ledgerKey(key.id)), '115');
    const r = await runOwsd(['key', 'show', file, '--json', '--redis', redis.url], env);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { used: number; remaining: number; usedInRedis: number; usedOnThisMachine: number };
    assert.equal(info.used, 115);
    assert.equal(info.remaining, 885);
    assert.equal(info.usedInRedis, 115);
    assert.equal(info.usedOnThisMachine, 114);
    const text = await runOwsd(['key', 'show', file, '--redis', redis.url], env);
    assert.match(text.stdout, /115 of 1000 submissions used/);
    // Giving back a reservation that never left (the shared ledger's release): never below 0.
    await shared.release(1);
    assert.equal(await client.get(ledgerKey(key.id)), '114');
    await shared.release(1000);
    assert.equal(await client.get(ledgerKey(key.id)), '0');
  } finally {
    client.disconnect();
    await redis.stop();
  }
});

test('EXPECTED FAILURE - a ledger deleted with its copy (say while a gateway is stopped) is refused, not restarted at 0; key restore-ledger is the explicit way back', async () => {
  const dir = tempDir();
  const file = newKeyFile(dir, 67, 100);
  const key = readKeyFile(file);
  UsageLedger.open(key).reserve(40);
  fs.rmSync(stateLedger(key.id));
  fs.rmSync(`${file}.usage.json`);
  assert.throws(() => UsageLedger.open(readKeyFile(file)), (e: Error & { code?: string }) => e.code === 'OWSD_ERR_KEY' && /ledger of key k_[0-9a-f]{16} is gone/.test(e.message) && /first used at/.test(e.message) && /restore-ledger/.test(e.message));
  // A fresh copy of the key file elsewhere is refused too: the count belongs to the key, not the file.
  const copy = path.join(tempDir(), 'copy.key');
  fs.copyFileSync(file, copy);
  assert.throws(() => UsageLedger.open(readKeyFile(copy)), { code: 'OWSD_ERR_KEY' });
  const bad = await runOwsd(['key', 'show', file], env);
  assert.equal(bad.code, 5, bad.stderr);
  assert.match(bad.stderr, /is gone/);
  const r = await runOwsd(['key', 'restore-ledger', file, '--used', '40'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /restored at 40 of 100/);
  assert.equal(UsageLedger.open(readKeyFile(file)).used, 40);
  assert.equal(UsageLedger.open(readKeyFile(copy)).used, 40);
});
