/** KServe V2 / Open Inference Protocol REST client (the default; owsd's embedded cloud speaks it). */
import { describe, fail, isOwsdError } from '../../errors.js';
import type { CloudHealth, KServeClientOptions } from './types.js';
import { buildImageInferenceRequest, parseProbabilitiesResponse, type ModelMetadataResponse } from '../protocol.js';
import { BatchingClient, isNotFound, notReady } from './base.js';
import { requestJson, type HttpOptions } from './http.js';

/** `{url}/v2/models/{model}[/versions/{v}]` */
export function kserveModelUrl(url: string, modelName: string, modelVersion?: string): string {
  const base = `${url.replace(/\/+$/, '')}/v2/models/${encodeURIComponent(modelName)}`;
  return modelVersion === undefined ? base : `${base}/versions/${encodeURIComponent(modelVersion)}`;
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

  constructor(private readonly opts: KServeClientOptions) {
    super(opts, 16);
    this.modelName = opts.modelName;
    this.modelUrl = kserveModelUrl(this.url, opts.modelName, opts.modelVersion);
  }

  protected endpoint(): string {
    return `POST ${this.modelUrl}/infer`;
  }

  protected sendBatch(base64Images: string[], http: HttpOptions): Promise<Float32Array[]> {
    return kserveInfer(this.modelUrl, base64Images, {
      http,
      inputName: this.opts.inputName,
      outputName: this.opts.outputName,
      numClasses: this.knownClasses,
    });
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
