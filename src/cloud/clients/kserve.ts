/**
 * KServe V2 / Open Inference Protocol REST client (the default; owsd's embedded cloud speaks it).
 *
 * Two wires: JSON (a BYTES tensor of base64 PNGs; every V2 server reads it) and binary_tensor_data (the same
 * BYTES tensor, its PNG files raw after the JSON header, each behind a 4-byte little-endian length; the answer's
 * probabilities raw FP32 too). Triton lists `binary_tensor_data` in GET /v2 and takes it; KServe's Python server
 * reads it too. A BYTES tensor of PNG files is what a server that decodes images takes (owsd's cloud, Triton with
 * a DALI or Python preprocessing step, OpenVINO Model Server's binary inputs); a bare ONNX model behind Triton
 * wants pixels instead, which owsd does not send (the scrambled image leaves as the PNG it was made as).
 */
import { describe, fail, isOwsdError, OwsdError } from '../../errors.js';
import { KSERVE_WIRES, type CloudHealth, type KServeClientOptions, type KServeWire } from './types.js';
export type { KServeWire, KServeWireOptions } from './types.js';
import {
  BINARY_EXTENSION,
  buildBinaryImageRequest,
  buildImageInferenceRequest,
  HEADER_LENGTH_HEADER,
  parseBinaryProbabilitiesResponse,
  parseProbabilitiesResponse,
  type ModelMetadataResponse,
  type ServerMetadataResponse,
} from '../protocol.js';
import { BatchingClient, isNotFound, notReady } from './base.js';
import { requestBytes, requestJson, type HttpOptions } from './http.js';

/** How a KServe client sends images (see the module doc). */

/** `{url}/v2/models/{model}[/versions/{v}]` */
export function kserveModelUrl(url: string, modelName: string, modelVersion?: string): string {
  const base = `${url.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(modelName)}`;
  return modelVersion === undefined ? base : `${base}/versions/${encodeURIComponent(modelVersion)}`;
}

/** One KServe V2 binary_tensor_data inference request for N encoded images (raw bytes); N vectors back. */
export async function kserveInferBinary(
  modelUrl: string,
  images: Uint8Array[],
  opts: { http?: HttpOptions; inputName?: string; outputName?: string; numClasses?: number; binaryOutput?: boolean } = {},
): Promise<Float32Array[]> {
  const url = `${modelUrl}/infer`;
  const { body, headerLength } = buildBinaryImageRequest(images, { inputName: opts.inputName, outputName: opts.outputName, binaryOutput: opts.binaryOutput ?? true });
  const headers = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream, application/json', [HEADER_LENGTH_HEADER]: String(headerLength) };
  const res = await requestBytes(url, { method: 'POST', body, headers }, opts.http);
  return parseBinaryProbabilitiesResponse(res.bytes, res.headers.get(HEADER_LENGTH_HEADER), images.length, { where: `POST ${url}`, outputName: opts.outputName, numClasses: opts.numClasses });
}

/** Whether an error is a server refusing the binary wire (it does not know the extension), not a bad image. */
export function refusesBinary(e: unknown): boolean {
  if (!isOwsdError(e) || e.code !== 'OWSD_ERR_CLOUD_HTTP') return false;
  if (/: HTTP (415|501)\b/.test(e.message)) return true;
  return /: HTTP 400\b/.test(e.message) && /json|expecting value|unrecognized request format/i.test(e.message) && !/Inference-Header-Content-Length|binary_data_size/i.test(e.message);
}

/** One KServe V2 inference request for N base64-encoded images; N vectors back. */
export async function kserveInfer(
  modelUrl: string,
  base64Images: string[],
  opts: { http?: HttpOptions; inputName?: string; outputName?: string; numClasses?: number } = {},
): Promise<Float32Array[]> {
  const url = `${modelUrl}/infer`;
  const req = buildImageInferenceRequest(base64Images, { inputName: opts.inputName, outputName: opts.outputName });
  const res = await requestJson(url, { method: 'POST', body: req }, opts.http);
  return parseProbabilitiesResponse(res.body, base64Images.length, { where: `POST ${url}`, outputName: opts.outputName, numClasses: opts.numClasses });
}

export class KServeClient extends BatchingClient {
  readonly protocol = 'kserve' as const;
  readonly modelName: string;
  readonly modelUrl: string;
  private metadataCache: Promise<ModelMetadataResponse> | undefined;

  /** The wire the next request uses: 'auto' until the server metadata was read. */
  private wireNow: KServeWire;
  private serverMetadataCache: Promise<KServeWire> | undefined;

  constructor(private readonly opts: KServeClientOptions) {
    super(opts, 16);
    this.modelName = opts.modelName;
    this.modelUrl = kserveModelUrl(this.url, opts.modelName, opts.modelVersion);
    const wire = opts.wire ?? 'json';
    if (!KSERVE_WIRES.includes(wire)) fail('OWSD_ERR_BAD_ARGUMENT', `wire: expected 'json', 'binary' or 'auto', got '${String(wire)}'`);
    this.wireNow = wire;
  }

  /** The wire requests use now ('auto' until the first request asked the server). */
  get wire(): KServeWire {
    return this.wireNow;
  }

  /** For 'auto': binary when GET /v2 lists binary_tensor_data; JSON when it does not or cannot be read. */
  private async resolveWire(): Promise<'json' | 'binary'> {
    if (this.wireNow !== 'auto') return this.wireNow;
    this.serverMetadataCache ??= requestJson(`${this.url}/v2`, { method: 'GET' }, this.probeHttp()).then(
      (r) => ((r.body as Partial<ServerMetadataResponse> | undefined)?.extensions?.includes(BINARY_EXTENSION) ? 'binary' : 'json'),
      () => 'json',
    );
    const w = await this.serverMetadataCache;
    if (this.wireNow === 'auto') this.wireNow = w;
    return this.wireNow === 'binary' ? 'binary' : 'json';
  }

  protected endpoint(): string {
    return `POST ${this.modelUrl}/infer`;
  }

  protected async sendBatch(base64Images: string[], http: HttpOptions, pngs: Uint8Array[]): Promise<Float32Array[]> {
    const common = { http, inputName: this.opts.inputName, outputName: this.opts.outputName, numClasses: this.knownClasses };
    if ((await this.resolveWire()) === 'binary') {
      try {
        return await kserveInferBinary(this.modelUrl, pngs, { ...common, binaryOutput: this.opts.binaryOutput });
      } catch (e) {
        if (!refusesBinary(e)) throw e;
        this.wireNow = 'json';
        // The refused request may have reached the cloud: the JSON resend counts as a resend.
        try {
          await http.beforeRetry?.(1);
        } catch (stop) {
          throw isOwsdError(stop) ? new OwsdError(stop.code, `${stop.message} (the cloud refused the binary wire, ${describe(e)}; not resent as JSON)`) : stop;
        }
      }
    }
    return kserveInfer(this.modelUrl, base64Images, common);
  }

  /** The model's metadata (`GET {url}/v2/models/{model}`), fetched once. */
  metadata(): Promise<ModelMetadataResponse> {
    this.metadataCache ??= requestJson(this.modelUrl, { method: 'GET' }, this.http).then((r) => r.body as ModelMetadataResponse);
    this.metadataCache.catch(() => {
      this.metadataCache = undefined;
    });
    return this.metadataCache;
  }

  /** From the configuration, an earlier answer, or the metadata (parameters.num_classes or the output shape). */
  override async numClasses(): Promise<number | undefined> {
    if (this.knownClasses !== undefined) return this.knownClasses;
    const meta = await this.metadata();
    const fromParams = meta.parameters?.num_classes;
    const out = meta.outputs?.find((o) => o.name === (this.opts.outputName ?? 'probabilities')) ?? meta.outputs?.[0];
    const fromShape = out?.shape?.[out.shape.length - 1];
    const c = typeof fromParams === 'number' ? fromParams : typeof fromShape === 'number' && fromShape > 0 ? fromShape : undefined;
    if (c !== undefined) this.knownClasses = c;
    return c;
  }

  /** Label ids from the owsd_labels metadata extension, when the server has it. */
  async labels(): Promise<string[] | undefined> {
    const meta = await this.metadata();
    return Array.isArray(meta.labels?.ids) ? meta.labels.ids : undefined;
  }

  /** `GET /v2/health/ready`, then the model's metadata `GET /v2/models/{name}` (a 404: no such model). */
  protected async checkReady(): Promise<void> {
    const http = this.probeHttp();
    try {
      await requestJson(`${this.url}/v2/health/ready`, { method: 'GET' }, http);
    } catch (e) {
      notReady(e, `the cloud at ${this.url} is not ready`);
    }
    try {
      const meta = await requestJson(this.modelUrl, { method: 'GET' }, http);
      this.metadataCache ??= Promise.resolve(meta.body as ModelMetadataResponse);
    } catch (e) {
      if (isNotFound(e)) {
        fail('OWSD_ERR_MODEL_NOT_FOUND', `the cloud at ${this.url} has no model '${this.modelName}'${this.opts.modelVersion === undefined ? '' : ` version '${this.opts.modelVersion}'`} (GET ${this.modelUrl}: HTTP 404): check --model-name; nothing was sent and no budget was spent`);
      }
      notReady(e, `the cloud at ${this.url} cannot describe model '${this.modelName}'`);
    }
  }

  async health(): Promise<CloudHealth> {
    const quick = { ...this.http, retries: 0, timeoutMs: Math.min(this.http.timeoutMs ?? 10_000, 10_000) };
    try {
      await requestJson(`${this.url}/v2/health/ready`, { method: 'GET' }, quick);
      await requestJson(`${this.modelUrl}/ready`, { method: 'GET' }, quick);
      const numClasses = await this.numClasses().catch(() => undefined);
      return { ok: true, url: this.url, model: this.modelName, numClasses, detail: `server ready and model '${this.modelName}' ready${numClasses ? ` (${numClasses} classes)` : ''}` };
    } catch (e) {
      if (!isOwsdError(e)) throw e;
      return { ok: false, url: this.url, model: this.modelName, detail: describe(e) };
    }
  }
}
