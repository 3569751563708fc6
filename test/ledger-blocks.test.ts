/**
 * Issue 20: the key's usage ledger counts reservations in blocks (src/key/ledger.ts, its module doc). The count on
 * disk is never below what was spent (a crash over-counts by at most one block, never under-counts); many small
 * reservations write the disk once per block; the unspent allowance is given back by close, at process.exit, at a
 * normal end, and on the CLI's Ctrl-C; two processes sharing a key lose no count; near the budget the block is
 * clipped, the last submission is allowed and the next refused, with the real use in the error; `used` is what
 * was spent, in every ledger of the file the process opens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKey, readKeyFile, UsageLedger, writeKeyFile } from '../src/index.js';
import { LEDGER_BLOCK_MAX, ledgerPath } from '../src/key/ledger.js';
import { tempDir } from './helpers.js';

const distSrc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

function newKeyFile(fill: number, budget: number): string {
  const file = path.join(tempDir('owsd-ledger-blocks-'), 'k.key');
  writeKeyFile(file, createKey({ secret: new Uint8Array(32).fill(fill), imageSize: 32, budget }));
  return file;
}

/** The count on disk: the ledger by key id (and the copy beside the key, which must agree). */
function onDisk(keyFile: string): number {
  const id = readKeyFile(keyFile).id;
  const own = JSON.parse(fs.readFileSync(ledgerPath(id), 'utf8')) as { used: number };
  const beside = JSON.parse(fs.readFileSync(`${keyFile}.usage.json`, 'utf8')) as { used: number };
  assert.equal(beside.used, own.used, 'the copy beside the key holds the same count');
  return own.used;
}

/**
 * A child process with the ledger of `keyFile`: it runs `body` (with `ledger`, `spent` and `say(text)`), then
 * waits for lines on stdin: "close" (close, say "closed"), "exit" (process.exit(0)), "end" (let the loop end).
 */
function child(keyFile: string, body: string, extraImports = ''): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const script = `
    import { UsageLedger } from ${JSON.stringify(path.join(distSrc, 'key/ledger.js'))};
    import { readKeyFile } from ${JSON.stringify(path.join(distSrc, 'key/keyfile.js'))};
    ${extraImports}
    const ledger = UsageLedger.open(readKeyFile(${JSON.stringify(keyFile)}));
    let spent = 0;
    const say = (t) => process.stdout.write(t + '\\n');
    ${body}
    let buf = '';
    process.stdin.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
        const cmd = buf.slice(0, i); buf = buf.slice(i + 1);
        if (cmd === 'close') { ledger.close(); say('closed'); }
        if (cmd === 'exit') process.exit(0);
        if (cmd === 'end') process.stdin.destroy();
      }
    });
  `;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  async function* read(): AsyncGenerator<string> {
    let buf = '';
    for await (const d of proc.stdout!) {
      buf += String(d);
      for (let i; (i = buf.indexOf('\n')) >= 0; ) {
        yield buf.slice(0, i);
        buf = buf.slice(i + 1);
      }
    }
  }
  return { proc, lines: read() };
}

async function nextLine(lines: AsyncIterator<string>): Promise<string> {
  const r = await lines.next();
  assert.ok(!r.done, 'the child ended early');
  return r.value;
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

const SPEND = `for (let i = 0; i < 200; i++) { ledger.reserve(1); spent++; } say(String(spent));`;

test('many reserve(1): the disk is written once per block, never below what was spent and at most one block above; used is what was spent; close gives the rest back', () => {
  const keyFile = newKeyFile(71, 100_000);
  const ledger = UsageLedger.open(readKeyFile(keyFile));
  let writes = 0;
  let last = -1;
  for (let spent = 1; spent <= 1000; spent++) {
    ledger.reserve(1);
    const disk = onDisk(keyFile);
    if (disk !== last) writes++;
    last = disk;
    assert.ok(disk >= spent && disk - spent <= LEDGER_BLOCK_MAX, `after ${spent} reservations the disk holds ${disk}`);
    assert.equal(ledger.used, spent);
    assert.equal(ledger.remaining, 100_000 - spent);
  }
  // The first reservation alone, then blocks of 8, 16, 32 and 64 (+ the one asked): 1000 in 19 writes, not 1000.
  assert.ok(writes >= Math.ceil(1000 / (LEDGER_BLOCK_MAX + 1)) && writes <= 25, `${writes} writes for 1000 reservations`);
  // Any other ledger of the file in this process reports the same use (the gateway's status, key show in-process).
  assert.equal(UsageLedger.open(readKeyFile(keyFile)).used, 1000);
  assert.ok(ledger.unspent > 0, 'a block is held');
  ledger.close();
  assert.equal(onDisk(keyFile), 1000, 'close gave the unspent block back');
  assert.equal(ledger.unspent, 0);
  assert.equal(ledger.used, 1000);
  // The ledger stays usable after close: a first reservation again counts exactly.
  ledger.reserve(3);
  assert.equal(onDisk(keyFile), 1003);
  ledger.close();
  assert.equal(onDisk(keyFile), 1003);
});

test('release gives submissions that never left back to the allowance: used drops at once, the disk at close', () => {
  const keyFile = newKeyFile(72, 1000);
  const ledger = UsageLedger.open(readKeyFile(keyFile));
  ledger.reserve(10);
  assert.equal(onDisk(keyFile), 10);
  ledger.release(4);
  assert.equal(ledger.used, 6);
  assert.equal(ledger.remaining, 994);
  assert.equal(onDisk(keyFile), 10, 'the disk still covers everything reserved');
  ledger.close();
  assert.equal(onDisk(keyFile), 6);
});

test('near the budget a block is clipped (to a quarter of what is left): the exact last submission is allowed, the next refused, the error counting real use', () => {
  const keyFile = newKeyFile(73, 100);
  const ledger = UsageLedger.open(readKeyFile(keyFile));
  let ahead = 0;
  for (let spent = 1; spent <= 95; spent++) {
    ledger.reserve(1);
    const disk = onDisk(keyFile);
    assert.ok(disk >= spent && disk <= 100, `spent ${spent}, disk ${disk}`);
    ahead = Math.max(ahead, disk - spent);
    // The block never takes more than a quarter of what the budget has left.
    assert.ok(disk - spent <= Math.floor((100 - spent) / 4) + 1, `spent ${spent}, disk ${disk}`);
  }
  assert.ok(ahead >= 8, 'blocks were counted ahead on the way');
  assert.equal(ledger.remaining, 5);
  assert.throws(() => ledger.reserve(6), { code: 'OWSD_ERR_BUDGET', message: /has used 95 of its 100 submissions; 6 more would exceed/ });
  ledger.reserve(5);
  assert.equal(ledger.used, 100);
  assert.equal(onDisk(keyFile), 100);
  assert.throws(() => ledger.reserve(1), { code: 'OWSD_ERR_BUDGET', message: /has used 100 of its 100 submissions; 1 more/ });
  ledger.close();
  assert.equal(onDisk(keyFile), 100);
});

test('a process killed with SIGKILL while it holds a block leaves the disk above what it spent, by at most one block', async () => {
  const keyFile = newKeyFile(74, 10_000);
  const c = child(keyFile, SPEND);
  const spent = Number(await nextLine(c.lines));
  assert.equal(spent, 200);
  c.proc.kill('SIGKILL');
  assert.equal((await exited(c.proc)).signal, 'SIGKILL');
  const disk = onDisk(keyFile);
  assert.ok(disk > spent && disk - spent <= LEDGER_BLOCK_MAX, `spent ${spent}, disk ${disk}: over-counts by at most one block, never under`);
  // Another process sees the killed one's unspent block as used: the documented over-count.
  assert.equal(UsageLedger.open(readKeyFile(keyFile)).used, disk);
});

test('a process that ends normally or through process.exit gives its unspent block back', async () => {
  for (const how of ['end', 'exit']) {
    const keyFile = newKeyFile(how === 'end' ? 75 : 76, 10_000);
    const c = child(keyFile, SPEND);
    assert.equal(await nextLine(c.lines), '200');
    assert.ok(onDisk(keyFile) > 200, 'the child holds a block');
    c.proc.stdin!.write(`${how}\n`);
    assert.equal((await exited(c.proc)).code, 0);
    assert.equal(onDisk(keyFile), 200, `${how}: the disk holds what was spent`);
  }
});

test('the CLI\'s Ctrl-C and SIGTERM (exitOnSignals, as owsd predict gets it) end through exit, giving the block back', async () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const keyFile = newKeyFile(sig === 'SIGINT' ? 77 : 78, 10_000);
    const c = child(keyFile, `exitOnSignals(); ${SPEND}`, `import { exitOnSignals } from ${JSON.stringify(path.join(distSrc, 'cli/run.js'))};`);
    assert.equal(await nextLine(c.lines), '200');
    assert.ok(onDisk(keyFile) > 200, 'the child holds a block');
    c.proc.kill(sig);
    assert.equal((await exited(c.proc)).code, code);
    assert.equal(onDisk(keyFile), 200, `${sig}: the disk holds what was spent`);
  }
});

test('two processes sharing one key\'s ledger never lose a count: the disk covers both while they run, and equals their sum after both close', async () => {
  const keyFile = newKeyFile(79, 100_000);
  // Sizes 1 to 3, interleaved by the two processes at once, each checking that the disk covers its own spending.
  const body = `
    for (let i = 0; i < 300; i++) {
      const n = 1 + (i % 3);
      ledger.reserve(n); spent += n;
      if (UsageLedger.open(readKeyFile(${JSON.stringify(keyFile)})).used < spent) throw new Error('under-counted');
    }
    say(String(spent));`;
  const a = child(keyFile, body);
  const b = child(keyFile, body);
  const spent = Number(await nextLine(a.lines)) + Number(await nextLine(b.lines));
  assert.equal(spent, 1200);
  const disk = onDisk(keyFile);
  assert.ok(disk >= spent && disk - spent <= 2 * LEDGER_BLOCK_MAX, `both running: spent ${spent}, disk ${disk}`);
  for (const c of [a, b]) c.proc.stdin!.write('close\n');
  assert.equal(await nextLine(a.lines), 'closed');
  assert.equal(await nextLine(b.lines), 'closed');
  assert.equal(onDisk(keyFile), spent, 'after both closed: exactly what both spent');
  for (const c of [a, b]) c.proc.stdin!.write('end\n');
  for (const c of [a, b]) assert.equal((await exited(c.proc)).code, 0);
  assert.equal(onDisk(keyFile), spent);
});
