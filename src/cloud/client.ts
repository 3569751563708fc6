/**
 * Cloud clients: what owsd uses to have a remote classifier score scrambled images. A `CloudClient` takes only
 * `ScrambledImage`s (see ./scrambled.ts) — checked by the type and again at send time — and gives one class
 * probability (or score) vector per image.
 *
 * Three protocols:
 * - `kserve` (default): KServe V2 / Open Inference Protocol REST; a BYTES tensor of base64 PNGs, the model name
 *   in the URL (`POST {url}/v2/models/{model}/infer`). owsd's embedded cloud speaks it.
 * - `tfserving`: TensorFlow Serving REST, `POST {url}/v1/models/{model}:predict` with
 *   `{"instances": [{"b64": ...}, ...]}`, answered by `{"predictions": [[...], ...]}`.
 * - `generic`: any JSON endpoint, configured by a request template and a JSON path to the answer (see
 *   ./clients/generic.ts), e.g. the big vision APIs that answer top-k `{label, score}` lists.
 *
 * All of them batch (maxBatch images per request), cap the requests in flight (concurrency), time out each
 * attempt, and retry 429/5xx/network errors/timeouts with exponential backoff and jitter, honouring Retry-After.
 */
import { KServeClient } from './clients/kserve.js';
import { TfServingClient } from './clients/tfserving.js';
import { GenericClient } from './clients/generic.js';
import { fail } from '../errors.js';
import type { CloudClient, KServeClientOptions, TfServingClientOptions, GenericClientOptions, CreateCloudClientOptions } from './clients/types.js';
export { KSERVE_WIRES } from './clients/types.js';
export type { CloudProtocol, CloudHealth, CloudClient, ClassifyOptions, CommonClientOptions, KServeClientOptions, KServeWire, KServeWireOptions, TfServingClientOptions, GenericClientOptions, CreateCloudClientOptions } from './clients/types.js';
export { READY_TTL_MS } from './clients/base.js';

export type { ScrambledImage } from '../scrambler/scrambled.js';

/** A client for `protocol` (default 'kserve'). */
export function createCloudClient(opts: { protocol: 'tfserving' } & TfServingClientOptions): TfServingClient;
export function createCloudClient(opts: { protocol: 'generic' } & GenericClientOptions): GenericClient;
export function createCloudClient(opts: { protocol?: 'kserve' } & KServeClientOptions): KServeClient;
export function createCloudClient(opts: CreateCloudClientOptions): CloudClient;
export function createCloudClient(opts: CreateCloudClientOptions): CloudClient {
  const protocol = opts.protocol ?? 'kserve';
  const needModel = (o: { modelName?: unknown }): void => {
    if (typeof o.modelName !== 'string' || o.modelName === '') fail('OWSD_ERR_BAD_ARGUMENT', `cloud client (${protocol}): modelName is required`);
  };
  switch (protocol) {
    case 'kserve':
      needModel(opts as KServeClientOptions);
      return new KServeClient(opts as KServeClientOptions);
    case 'tfserving':
      needModel(opts as TfServingClientOptions);
      return new TfServingClient(opts as TfServingClientOptions);
    case 'generic':
      return new GenericClient(opts as GenericClientOptions);
    default:
      return fail('OWSD_ERR_BAD_ARGUMENT', `cloud protocol '${String(protocol)}' is not one of kserve, tfserving, generic`);
  }
}
