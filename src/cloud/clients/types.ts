/**
 * The cloud client interfaces and options (see ../client.ts for the protocols and createCloudClient). They live
 * apart from the factory so that the clients in this folder import them without importing the factory back.
 */
import type { ScrambledImage } from '../../scrambler/scrambled.js';
import type { HttpOptions } from './http.js';

export type CloudProtocol = 'kserve' | 'tfserving' | 'generic';

export interface CloudHealth {
  /** True when the cloud says it is ready to classify (for the configured model). */
  ok: boolean;
  url: string;
  /** What was checked and what it answered, in words. */
  detail: string;
  model?: string;
  numClasses?: number;
}

export interface CloudClient {
  /** The base URL the client talks to. */
  readonly url: string;
  readonly protocol: CloudProtocol;
  /** One probability (or score) vector per image, in order. Throws OWSD_ERR_LEAK for anything not scrambled. */
  classify(images: readonly ScrambledImage[], opts?: ClassifyOptions): Promise<Float32Array[]>;
  /** The length of the vectors, when the client knows it (configured, from metadata, or seen in an answer). */
  numClasses?(): Promise<number | undefined>;
  /** Label ids of the classes (class i is labels[i]), when the cloud says. */
  labels?(): Promise<string[] | undefined>;
  health(): Promise<CloudHealth>;
  /**
   * Throws a clear OwsdError when the cloud cannot take requests (not reachable, not ready, the model unknown),
   * without sending any image: called before a budget is reserved, so a cloud that is down or a misspelt model
   * name costs nothing. A success is remembered for a short while (READY_TTL_MS).
   */
  ready?(): Promise<void>;
}

export interface ClassifyOptions {
  /**
   * Called before a request is sent again after a failed attempt (timeout, reset, 429, 5xx), with the number of
   * images it carries: the cloud may have received the first attempt, so a budget must count the resend. Throwing
   * (e.g. OWSD_ERR_BUDGET) stops the request and nothing more is sent.
   */
  beforeResend?: (images: number) => void | Promise<void>;
  /**
   * Called for an attempt that provably never left this machine (connection refused, name not found), with the
   * number of images it carried: a budget gives them back. Never for one that may have arrived.
   */
  notSent?: (images: number) => void | Promise<void>;
}

export interface CommonClientOptions extends HttpOptions {
  /** Base URL of the service. */
  url: string;
  /** Most images per request (default 16 for kserve/tfserving, 1 for generic without an item template). */
  maxBatch?: number;
  /** Most requests in flight at once, over all classify calls of this client (default 4). */
  concurrency?: number;
  /** Expected vector length: answers of another length are OWSD_ERR_CLOUD_RESPONSE. */
  numClasses?: number;
}

/** The KServe wires (KServeWireOptions.wire), for checking a value given as text. */
export const KSERVE_WIRES = ['json', 'binary', 'auto'] as const;
export type KServeWire = (typeof KSERVE_WIRES)[number];

export interface KServeWireOptions {
  /**
   * 'json' (the default): base64 PNGs in JSON. 'binary': the binary tensor data extension (raw PNGs after the
   * JSON header). 'auto': binary when the server lists `binary_tensor_data` in its metadata (GET /v2, asked once),
   * JSON otherwise. With 'binary' or 'auto', a binary request the server refuses (HTTP 415 or 501, or 400 saying
   * the body is not JSON) is sent again as JSON (a resend: counted through beforeResend) and the client stays on
   * JSON from then on.
   */
  wire?: KServeWire;
  /** With the binary wire, ask for the probabilities in binary too (default true). */
  binaryOutput?: boolean;
}

export interface KServeClientOptions extends CommonClientOptions, KServeWireOptions {
  modelName: string;
  modelVersion?: string;
  /** Input tensor name (default "image"). */
  inputName?: string;
  /** Output to read (default "probabilities", or the only output). */
  outputName?: string;
}

export interface TfServingClientOptions extends CommonClientOptions {
  modelName: string;
  modelVersion?: string;
  /** When set, each instance is {[inputName]: {"b64": ...}}; otherwise the instance is {"b64": ...} itself. */
  inputName?: string;
  /** When predictions are objects (several outputs), the key of the probability vector. */
  outputName?: string;
  signatureName?: string;
}

export interface GenericClientOptions extends CommonClientOptions {
  /** HTTP method (default POST). */
  method?: string;
  /**
   * The request body. Every string equal to or containing `{{image_b64}}` gets the base64 PNG (one image per
   * request). With `itemTemplate`, the string `"{{items}}"` is replaced by an array of itemTemplate, one per image
   * (batched requests), and `responsePath` must contain `[*]` where the per-image answers are.
   */
  requestTemplate: unknown;
  itemTemplate?: unknown;
  /** Path to the answer: `$.predictions[0]`, `responses[*].labelAnnotations`, ... (dots, [index], [*]). */
  responsePath: string;
  /** 'vector' (default): the path gives the probability vector; 'topk': a list of {label, score} entries. */
  responseKind?: 'vector' | 'topk';
  /** For 'topk': the labels the vector is over (class i is labels[i]); entries of other labels are dropped. */
  labels?: string[];
  /** For 'topk': field of the label in each entry (default "label"; e.g. "description", "Name"). */
  labelField?: string;
  /** For 'topk': field of the score in each entry (default "score"; e.g. "Confidence"). */
  scoreField?: string;
  /** For 'topk': multiply scores by this (e.g. 0.01 for percentages; default 1). */
  scoreScale?: number;
  /** A URL whose 2xx answer means healthy (GET); without it health() reports ok without asking. */
  healthUrl?: string;
}

export type CreateCloudClientOptions =
  | ({ protocol?: 'kserve' } & KServeClientOptions)
  | ({ protocol: 'tfserving' } & TfServingClientOptions)
  | ({ protocol: 'generic' } & GenericClientOptions);
