/**
 * Opening the parts a bundle or a fit needs: encoders by name, keys checked against the bundle, one scrambler
 * and ledger per key, and the cloud client.
 */
import { fail } from '../errors.js';
import { Encoder } from '../encoder/encoder.js';
import { resolveModel, type ResolveOptions } from '../models/registry.js';
import type { ModelSpec } from '../models/spec.js';
import type { Key } from '../key/keyfile.js';
import { UsageLedger, type KeyLedger } from '../key/ledger.js';
import { Scrambler } from '../scrambler/scrambler.js';
import { createCloudClient, KSERVE_WIRES, type CloudClient, type CloudProtocol, type KServeWire } from '../cloud/client.js';
import { VectorJournal } from './journal.js';
import type { KeyChannel } from './features.js';

export async function openEncoder(names: string[], opts: ResolveOptions = {}): Promise<{ encoder: Encoder; specs: ModelSpec[] }> {
  if (names.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'give at least one --encoder');
  const specs: ModelSpec[] = [];
  for (const n of names) specs.push(await resolveModel(n, opts));
  return { encoder: await Encoder.create(specs), specs };
}

export async function openChannels(keys: Key[], inputDim: number, opts: {
    journalDir?: string;
    cloudId: string;
    ledgerFiles?: string[];
    noiseSeed?: string;
    /** Where each key's submissions are counted instead of its file ledger (e.g. a RedisLedger shared by workers). */
    ledgerFor?: (key: Key) => KeyLedger | Promise<KeyLedger>;
  }): Promise<KeyChannel[]> {
  if (keys.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'give at least one --key');
  const sizes = new Set(keys.map((k) => k.generator.imageSize));
  if (sizes.size > 1) return fail('OWSD_ERR_BAD_ARGUMENT', `all keys must scramble to the same image size, got ${[...sizes].join(', ')}`);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) return fail('OWSD_ERR_BAD_ARGUMENT', 'the same key was given twice');
  const channels: KeyChannel[] = [];
  for (const [i, key] of keys.entries()) {
    channels.push({
      scrambler: await Scrambler.create(key, inputDim, { noiseSeed: opts.noiseSeed === undefined ? undefined : `${opts.noiseSeed} ${key.id}` }),
      ledger: opts.ledgerFor ? await opts.ledgerFor(key) : UsageLedger.open(key, opts.ledgerFiles?.[i]),
      journal: opts.journalDir ? VectorJournal.open(opts.journalDir, key.id, opts.cloudId) : undefined,
    });
  }
  return channels;
}

/**
 * Give back what each key's ledger counted ahead and did not spend (`KeyLedger.close`: a file ledger's block),
 * once the channels send nothing more. Every ledger is closed even when one fails; the first failure is thrown.
 */
export async function closeLedgers(channels: KeyChannel[]): Promise<void> {
  let first: unknown;
  for (const c of channels) {
    try {
      await c.ledger.close?.();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

export interface CloudSettings {
  url: string;
  protocol?: CloudProtocol;
  modelName: string;
  timeoutMs?: number;
  concurrency?: number;
  /**
   * KServe only: how the images travel. 'json' (the default: base64 PNGs, every V2 server reads it), 'binary' (the
   * binary tensor data extension: the PNGs raw beside a JSON header, a quarter fewer bytes up, the answer in binary
   * too) or 'auto' (binary when the server lists the extension). `fit` records it in the bundle.
   */
  wire?: KServeWire;
}


export function openCloud(c: CloudSettings): CloudClient {
  if (!c.url) return fail('OWSD_ERR_BAD_ARGUMENT', 'give the cloud\'s address with --cloud URL');
  if (c.protocol && c.protocol !== 'kserve' && c.protocol !== 'tfserving') {
    return fail('OWSD_ERR_BAD_ARGUMENT', `--protocol must be kserve or tfserving on the command line (generic endpoints are configured through the library), got ${c.protocol}`);
  }
  if (c.wire !== undefined && !(KSERVE_WIRES as readonly string[]).includes(c.wire)) return fail('OWSD_ERR_BAD_ARGUMENT', `--wire must be json, binary or auto, got ${String(c.wire).slice(0, 40)}`);
  if (c.protocol === 'tfserving' && c.wire !== undefined && c.wire !== 'json') {
    return fail('OWSD_ERR_BAD_ARGUMENT', `--wire ${c.wire} needs --protocol kserve: TF Serving's REST API has no binary tensor extension`);
  }
  const common = { url: c.url, modelName: c.modelName, timeoutMs: c.timeoutMs, concurrency: c.concurrency };
  return c.protocol === 'tfserving' ? createCloudClient({ protocol: 'tfserving', ...common }) : createCloudClient({ protocol: 'kserve', ...common, ...(c.wire ? { wire: c.wire } : {}) });
}

/** The keys given must be exactly the bundle's keys, in order. */
export function checkKeysMatch(keys: Key[], keyIds: string[], where: string): void {
  const given = keys.map((k) => k.id);
  if (given.length !== keyIds.length || given.some((id, i) => id !== keyIds[i])) {
    fail('OWSD_ERR_KEY', `${where} was fitted with key(s) ${keyIds.join(', ')}, but got ${given.join(', ')}: give the same --key files in the same order`);
  }
}
