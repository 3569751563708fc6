/**
 * A throwaway redis-server for tests: bound to 127.0.0.1 on a free port, no persistence (`--save '' --appendonly
 * no`), in a temp folder, stopped at the end. Without redis-server on the PATH (or OWSD_REDIS_SERVER) the caller
 * skips with the reason, or fails when OWSD_REQUIRE_REDIS=1 (set by .ci/run, which installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, tempDir } from './helpers.js';

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function redisServerBinary(): string | undefined {
  const bin = process.env.OWSD_REDIS_SERVER ?? 'redis-server';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? bin : undefined;
}

/** Why the Redis tests cannot run here, or undefined when they can; throws when OWSD_REQUIRE_REDIS=1. */
export function redisSkipReason(): string | undefined {
  if (redisServerBinary()) return undefined;
  const why = 'redis-server is not installed (apt-get install -y redis-server, or set OWSD_REDIS_SERVER)';
  if (process.env.OWSD_REQUIRE_REDIS === '1') throw new Error(`OWSD_REQUIRE_REDIS=1 but ${why}`);
  return why;
}

export async function startRedis(): Promise<TestRedis> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server is not installed');
  const dir = tempDir('owsd-redis-');
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${log}`)), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      log += c.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited with ${code}:\n${log}`));
    });
  });
  child.stdout!.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
