/** `owsd serve`: the organization's gateway (HTTP API + web page) holding the key and a fitted bundle. */
import type { Command } from 'commander';
import { DEFAULT_REQUEST_TIMEOUT_MS, startGateway, type RunningGateway } from '../../server/index.js';
import { connectRedis, RedisLedger } from '../../scale/index.js';
import { action, collect, intOption, untilSignal, usageError } from '../run.js';

export interface ServeFlags {
  bundle: string;
  key: string[];
  cloud?: string;
  port: number;
  host: string;
  models?: string;
  warnAt: number;
  quiet?: boolean;
  redis?: string;
  requestTimeout: number;
  allowedHost: string[];
  local?: boolean;
}

function fractionOption(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!(x > 0 && x <= 1)) usageError(name, `${name} expects a number in (0, 1], got '${v}'`);
    return x;
  };
}

/** Serve until SIGINT/SIGTERM, then finish the requests in flight and exit. */
export async function serveUntilSignal(g: RunningGateway, what: string): Promise<void> {
  process.stdout.write(`${what}: ${g.url}/  (API: ${g.url}/v1/classify, ${g.url}/v1/status, ${g.url}/v1/openapi.json; Ctrl-C stops)\n`);
  const sig = await untilSignal('owsd serve');
  process.stderr.write(`owsd serve: ${sig}, finishing requests in flight\n`);
  await g.close();
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('the gateway: an HTTP API (POST /v1/classify, GET /v1/status, OpenAPI) and a web page, holding the key and a fitted bundle (--local: the embedding-alone IIN, sending nothing to any cloud)')
    .requiredOption('--bundle <dir>', 'bundle written by owsd fit (a rotated bundle is followed to its successor)')
    .option('--key <file>', 'key file(s) the bundle was fitted with, in order (required unless --local)', collect, [])
    .option('--local', 'serve the bundle\'s embedding-alone IIN: nothing is sent to any cloud (no key used, no submission spent, no cloud contacted); choose it when owsd fit says the cloud adds nothing measurable')
    .option('--cloud <url>', 'the cloud\'s base URL (default: the one the bundle names)')
    .option('--port <n>', 'port (0: any free port)', intOption('--port', 0), 8090)
    .option('--host <addr>', 'address to listen on (0.0.0.0 for the organization\'s network)', '127.0.0.1')
    .option('--models <dir>', 'models directory (default $OWSD_MODELS)')
    .option('--warn-at <f>', 'warn when a key has used this share of its budget', fractionOption('--warn-at'), 0.9)
    .option('--request-timeout <ms>', 'drop, with a 408, a client that has not sent its whole request in this time', intOption('--request-timeout', 1), DEFAULT_REQUEST_TIMEOUT_MS)
    .option('--allowed-host <name>', 'also answer requests whose Host is this name (or name:port), e.g. the name clients use on the network; repeat for several (default: localhost, 127.0.0.1, [::1] and the listening address only: other Host headers get 421, against DNS rebinding)', collect, [])
    .option('--quiet', 'no request log')
    .option('--redis <url>', 'count submissions in the ledger shared in Redis by every replica and batch worker (default: the key\'s file ledger)')
    .action(
      action(async (o: ServeFlags) => {
        if (o.local && o.redis) process.stderr.write('owsd serve: --local spends no submissions: --redis is not used\n');
        const redis = o.local ? undefined : o.redis ? connectRedis(o.redis) : undefined;
        let lastError = '';
        redis?.on('error', (e: Error) => {
          if (e.message !== lastError) process.stderr.write(`owsd serve: Redis: ${e.message} (retrying)\n`);
          lastError = e.message;
        });
        redis?.on('ready', () => (lastError = ''));
        const g = await startGateway({
          ledgerFor: redis ? (k) => RedisLedger.open(redis, k) : undefined,
          bundle: o.bundle,
          keyFiles: o.key,
          cloud: o.cloud ? { url: o.cloud } : undefined,
          port: o.port,
          host: o.host,
          modelsDir: o.models,
          warnAt: o.warnAt,
          log: o.quiet ? false : undefined,
          requestTimeoutMs: o.requestTimeout,
          allowedHosts: o.allowedHost,
          local: o.local,
        }).catch((e: unknown) => {
          redis?.disconnect();
          throw e;
        });
        const what = o.local
          ? `owsd gateway serving ${g.gateway.bundle.classes.length} labels locally (embedding alone: nothing leaves this machine, no key used)`
          : `owsd gateway serving ${g.gateway.bundle.classes.length} labels with key ${g.gateway.keyIds.join(', ')}${redis ? ' (shared ledger in Redis)' : ''}`;
        await serveUntilSignal(g, what);
        redis?.disconnect();
      }),
    );
}
