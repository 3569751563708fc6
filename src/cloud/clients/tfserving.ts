/**
 * TensorFlow Serving REST client: `POST {url}/v1/models/{model}[/versions/{v}]:predict` with the row format
 * `{"instances": [{"b64": "<png>"}, ...]}` (or `[{"<inputName>": {"b64": ...}}, ...]`), answered by
 * `{"predictions": [[p0, p1, ...], ...]}` (or `[{"<outputName>": [...]}, ...]` for several outputs).
 * Health: `GET {url}/v1/models/{model}` → `model_version_status[].state == "AVAILABLE"`.
 */
import { describe, fail, isOwsdError } from '../../errors.js';
import type { CloudHealth, TfServingClientOptions } from './types.js';
import { splitVectors } from '../protocol.js';
import { BatchingClient, isNotFound, notReady } from './base.js';
import { requestJson, type HttpOptions } from './http.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class TfServingClient extends BatchingClient {
  readonly protocol = 'tfserving' as const;
  readonly modelUrl: string;

  constructor(private readonly opts: TfServingClientOptions) {
    super(opts, 16);
    const v = opts.modelVersion === undefined ? '' : `/versions/${encodeURIComponent(opts.modelVersion)}`;
    this.modelUrl = `${this.url}/v1/models/${encodeURIComponent(opts.modelName)}${v}`;
  }

  protected endpoint(): string {
    return `POST ${this.modelUrl}:predict`;
  }

  protected async sendBatch(base64Images: string[], http: HttpOptions): Promise<Float32Array[]> {
    const where = this.endpoint();
    const instances = base64Images.map((b64) => (this.opts.inputName ? { [this.opts.inputName]: { b64 } } : { b64 }));
    const body: Record<string, unknown> = { instances };
    if (this.opts.signatureName) body.signature_name = this.opts.signatureName;
    const res = await requestJson(`${this.modelUrl}:predict`, { method: 'POST', body }, http);
    const answer = res.body;
    if (!isObject(answer) || !Array.isArray(answer.predictions)) {
      return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: expected {"predictions": [...]}, got ${JSON.stringify(answer)?.slice(0, 80)}`);
    }
    const preds = answer.predictions as unknown[];
    if (preds.length !== base64Images.length) {
      return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${preds.length} predictions for ${base64Images.length} images`);
    }
    return preds.map((p, i) => {
      let vector: unknown = p;
      if (isObject(p)) {
        const key = this.opts.outputName ?? (Object.keys(p).length === 1 ? Object.keys(p)[0] : undefined);
        if (key === undefined || !(key in p)) {
          return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: prediction ${i} has outputs ${Object.keys(p).join(', ')}; set outputName to pick the probabilities`);
        }
        vector = p[key];
      }
      if (!Array.isArray(vector)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: prediction ${i} is not an array of numbers`);
      const flat = vector.flat(Infinity) as unknown[];
      return splitVectors(flat, 1, flat.length, this.knownClasses, `${where}: prediction ${i}`)[0]!;
    });
  }

  /** TF Serving's model status, `GET /v1/models/{name}[/versions/{v}]`: a 404 is no such model; a version AVAILABLE is ready. */
  protected async checkReady(): Promise<void> {
    let body: unknown;
    try {
      body = (await requestJson(this.modelUrl, { method: 'GET' }, this.probeHttp())).body;
    } catch (e) {
      if (isNotFound(e)) fail('OWSD_ERR_MODEL_NOT_FOUND', `the cloud at ${this.url} has no model '${this.opts.modelName}' (GET ${this.modelUrl}: HTTP 404): check --model-name; nothing was sent and no budget was spent`);
      notReady(e, `the cloud at ${this.url} cannot give the status of model '${this.opts.modelName}'`);
    }
    const status = isObject(body) && Array.isArray(body.model_version_status) ? (body.model_version_status as unknown[]) : [];
    if (!status.some((s) => isObject(s) && s.state === 'AVAILABLE')) {
      const states = status.map((s) => (isObject(s) ? `${String(s.version)}:${String(s.state)}` : '?'));
      fail('OWSD_ERR_CLOUD_HTTP', `the cloud at ${this.url}: model '${this.opts.modelName}' is not available (versions: ${states.join(', ') || 'none'}); nothing was sent and no budget was spent`);
    }
  }

  async health(): Promise<CloudHealth> {
    try {
      const res = await requestJson(this.modelUrl, { method: 'GET' }, { ...this.http, retries: 0 });
      const status = isObject(res.body) && Array.isArray(res.body.model_version_status) ? (res.body.model_version_status as unknown[]) : [];
      const states = status.map((s) => (isObject(s) ? `${String(s.version)}:${String(s.state)}` : '?'));
      const ok = status.some((s) => isObject(s) && s.state === 'AVAILABLE');
      return { ok, url: this.url, model: this.opts.modelName, detail: ok ? `model '${this.opts.modelName}' available (${states.join(', ')})` : `model '${this.opts.modelName}' not available (versions: ${states.join(', ') || 'none'})` };
    } catch (e) {
      if (!isOwsdError(e)) throw e;
      return { ok: false, url: this.url, model: this.opts.modelName, detail: describe(e) };
    }
  }
}
