/**
 * A configurable client for any JSON image-classification endpoint (the big vision APIs, in-house services).
 *
 * Request: `requestTemplate` is the JSON body, with `{{image_b64}}` where the base64 PNG goes (one image per
 * request). For batched endpoints give `itemTemplate` (holding `{{image_b64}}`) and put the string `"{{items}}"`
 * in `requestTemplate` where the array of items goes.
 *
 * Answer: `responsePath` selects the answer: dots, `[n]`, `["key"]`, and `[*]` for "each image" in batched
 * answers, e.g. `predictions[0]`, `$.responses[*].labelAnnotations`. With `responseKind: 'vector'` it must be the
 * probability vector; with `'topk'` it is a list of `{label, score}` entries (field names configurable) turned
 * into a fixed-length sparse vector over `labels`: class i gets the score of the entry whose label is labels[i]
 * (exact match, else case-insensitive; a numeric label is taken as the class index), 0 when absent; entries of
 * labels not in the list are dropped.
 *
 * Example (a Google-Vision-like API):
 * ```json
 * { "url": "https://vision.example.com/v1/images:annotate", "protocol": "generic",
 *   "requestTemplate": {"requests": "{{items}}"},
 *   "itemTemplate": {"image": {"content": "{{image_b64}}"}, "features": [{"type": "LABEL_DETECTION", "maxResults": 50}]},
 *   "responsePath": "responses[*].labelAnnotations", "responseKind": "topk",
 *   "labelField": "description", "scoreField": "score", "labels": ["cat", "dog", ...] }
 * ```
 */
import { describe, fail, isOwsdError } from '../../errors.js';
import type { CloudHealth, GenericClientOptions } from './types.js';
import { BatchingClient, notReady } from './base.js';
import { requestJson, type HttpOptions } from './http.js';

export type PathSegment = { key: string } | { index: number } | { each: true };

/** Parse `$.a.b[0]["c d"][*].e` into segments. */
export function parseJsonPath(path: string): PathSegment[] {
  const segs: PathSegment[] = [];
  let s = path.trim();
  if (s.startsWith('$')) s = s.slice(1);
  const re = /^(?:\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[\*\]|\.\*|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'((?:[^'\\]|\\.)*)'\s*\])/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) return fail('OWSD_ERR_BAD_ARGUMENT', `responsePath '${path}': cannot read '${s}' (expected .key, [n], [*] or ["key"])`);
    if (m[1] !== undefined) segs.push({ key: m[1] });
    else if (m[2] !== undefined) segs.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) segs.push({ key: JSON.parse(`"${m[3]}"`) as string });
    else if (m[4] !== undefined) segs.push({ key: m[4].replace(/\\'/g, "'") });
    else segs.push({ each: true });
    s = s.slice(m[0].length);
  }
  return segs;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(segs: PathSegment[]): string {
  return `$${segs.map((g) => ('key' in g ? `.${g.key}` : 'index' in g ? `[${g.index}]` : '[*]')).join('')}`;
}

/** Follow a parsed path; `[*]` maps the rest of the path over an array. Throws `where: ... missing` naming the prefix. */
export function evalJsonPath(value: unknown, segs: PathSegment[], where: string, done: PathSegment[] = []): unknown {
  let cur = value;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const prefix = [...done, ...segs.slice(0, i + 1)];
    if ('each' in seg) {
      if (!Array.isArray(cur)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${show(prefix.slice(0, -1))} is not an array`);
      return cur.map((x, k) => evalJsonPath(x, segs.slice(i + 1), where, [...prefix.slice(0, -1), { index: k }]));
    }
    if ('index' in seg) {
      if (!Array.isArray(cur) || seg.index >= cur.length) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: answer has no ${show(prefix)}`);
      cur = cur[seg.index];
    } else {
      if (!isObject(cur) || !(seg.key in cur)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: answer has no ${show(prefix)}`);
      cur = cur[seg.key];
    }
  }
  return cur;
}

export const IMAGE_PLACEHOLDER = '{{image_b64}}';
export const ITEMS_PLACEHOLDER = '{{items}}';

/** Deep copy of a template with placeholders filled. */
export function fillTemplate(template: unknown, fill: { image?: string; items?: unknown[] }): unknown {
  if (typeof template === 'string') {
    if (template === ITEMS_PLACEHOLDER && fill.items) return fill.items;
    if (fill.image !== undefined && template.includes(IMAGE_PLACEHOLDER)) return template.split(IMAGE_PLACEHOLDER).join(fill.image);
    return template;
  }
  if (Array.isArray(template)) {
    // ["{{items}}"] also means "the items here".
    if (fill.items && template.length === 1 && template[0] === ITEMS_PLACEHOLDER) return fill.items;
    return template.map((x) => fillTemplate(x, fill));
  }
  if (isObject(template)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template)) out[k] = fillTemplate(v, fill);
    return out;
  }
  return template;
}

function contains(template: unknown, needle: string): boolean {
  if (typeof template === 'string') return template.includes(needle);
  if (Array.isArray(template)) return template.some((x) => contains(x, needle));
  if (isObject(template)) return Object.values(template).some((x) => contains(x, needle));
  return false;
}

/** Top-k entries → a fixed-length vector over `labels` (see module doc). */
export function topkToVector(entries: unknown, labels: string[], opts: { labelField: string; scoreField: string; scoreScale: number; where: string }): Float32Array {
  if (!Array.isArray(entries)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${opts.where}: expected a list of {${opts.labelField}, ${opts.scoreField}} entries, got ${JSON.stringify(entries)?.slice(0, 60)}`);
  const exact = new Map(labels.map((l, i) => [l, i]));
  const folded = new Map(labels.map((l, i) => [l.toLowerCase(), i]));
  const v = new Float32Array(labels.length);
  entries.forEach((e, k) => {
    if (!isObject(e)) return fail('OWSD_ERR_CLOUD_RESPONSE', `${opts.where}[${k}]: expected an object with "${opts.labelField}" and "${opts.scoreField}"`);
    const label = e[opts.labelField];
    const score = e[opts.scoreField];
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      return fail('OWSD_ERR_CLOUD_RESPONSE', `${opts.where}[${k}].${opts.scoreField}: expected a finite number, got ${JSON.stringify(score) ?? 'nothing'}`);
    }
    let index: number | undefined;
    if (typeof label === 'string') index = exact.get(label) ?? folded.get(label.toLowerCase());
    else if (typeof label === 'number' && Number.isInteger(label) && label >= 0 && label < labels.length) index = label;
    else return fail('OWSD_ERR_CLOUD_RESPONSE', `${opts.where}[${k}].${opts.labelField}: expected a label string, got ${JSON.stringify(label) ?? 'nothing'}`);
    if (index !== undefined) v[index] = Math.max(v[index]!, score * opts.scoreScale);
  });
  return v;
}

export class GenericClient extends BatchingClient {
  readonly protocol = 'generic' as const;
  private readonly path: PathSegment[];
  private readonly batched: boolean;

  constructor(private readonly opts: GenericClientOptions) {
    super(opts, opts.itemTemplate === undefined ? 1 : 16);
    this.batched = opts.itemTemplate !== undefined;
    this.path = parseJsonPath(opts.responsePath);
    const hasEach = this.path.some((s) => 'each' in s);
    if (this.batched) {
      if (!contains(opts.itemTemplate, IMAGE_PLACEHOLDER)) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: itemTemplate has no ${IMAGE_PLACEHOLDER}`);
      if (!contains(opts.requestTemplate, ITEMS_PLACEHOLDER)) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: with an itemTemplate, requestTemplate needs "${ITEMS_PLACEHOLDER}" where the items go`);
      if (!hasEach) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: responsePath '${opts.responsePath}' needs [*] where the per-image answers are, for batched requests`);
    } else {
      if (!contains(opts.requestTemplate, IMAGE_PLACEHOLDER)) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: requestTemplate has no ${IMAGE_PLACEHOLDER}`);
      if (this.maxBatch !== 1) fail('OWSD_ERR_BAD_ARGUMENT', 'generic client: maxBatch > 1 needs an itemTemplate (one image per request otherwise)');
      if (hasEach) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: responsePath '${opts.responsePath}' has [*], which is for batched requests (give an itemTemplate)`);
    }
    if ((opts.responseKind ?? 'vector') === 'topk') {
      if (!opts.labels || opts.labels.length === 0) fail('OWSD_ERR_BAD_ARGUMENT', 'generic client: responseKind "topk" needs the list of labels the vector is over');
      this.knownClasses ??= opts.labels.length;
      if (this.knownClasses !== opts.labels.length) fail('OWSD_ERR_BAD_ARGUMENT', `generic client: numClasses ${this.knownClasses} differs from the ${opts.labels.length} labels`);
    }
  }

  protected endpoint(): string {
    return `${this.opts.method ?? 'POST'} ${this.url}`;
  }

  protected async sendBatch(base64Images: string[], http: HttpOptions): Promise<Float32Array[]> {
    const where = this.endpoint();
    const body = this.batched
      ? fillTemplate(this.opts.requestTemplate, { items: base64Images.map((image) => fillTemplate(this.opts.itemTemplate, { image })) })
      : fillTemplate(this.opts.requestTemplate, { image: base64Images[0] });
    const res = await requestJson(this.url, { method: this.opts.method ?? 'POST', body }, http);
    const selected = evalJsonPath(res.body, this.path, where);
    const perImage = this.batched ? selected : [selected];
    if (!Array.isArray(perImage) || perImage.length !== base64Images.length) {
      return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: ${this.opts.responsePath} gave ${Array.isArray(perImage) ? perImage.length : 0} answers for ${base64Images.length} images`);
    }
    return perImage.map((answer, i) => this.toVector(answer, `${where}: ${this.opts.responsePath}${this.batched ? ` (image ${i})` : ''}`));
  }

  private toVector(answer: unknown, where: string): Float32Array {
    if ((this.opts.responseKind ?? 'vector') === 'topk') {
      return topkToVector(answer, this.opts.labels!, {
        labelField: this.opts.labelField ?? 'label',
        scoreField: this.opts.scoreField ?? 'score',
        scoreScale: this.opts.scoreScale ?? 1,
        where,
      });
    }
    if (!Array.isArray(answer) || answer.length === 0) return fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: expected a non-empty array of numbers, got ${JSON.stringify(answer)?.slice(0, 60)}`);
    const v = new Float32Array(answer.length);
    answer.forEach((x, j) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) fail('OWSD_ERR_CLOUD_RESPONSE', `${where}[${j}]: expected a finite number, got ${x === null ? 'null (NaN or Infinity?)' : JSON.stringify(x)}`);
      v[j] = x as number;
    });
    if (this.knownClasses !== undefined && v.length !== this.knownClasses) {
      fail('OWSD_ERR_CLOUD_RESPONSE', `${where}: vector has ${v.length} values, expected ${this.knownClasses} classes`);
    }
    return v;
  }

  async labels(): Promise<string[] | undefined> {
    return this.opts.labels;
  }

  /** `healthUrl` when configured (a generic endpoint has no standard readiness or model check). */
  protected async checkReady(): Promise<void> {
    if (!this.opts.healthUrl) return;
    try {
      await requestJson(this.opts.healthUrl, { method: 'GET' }, this.probeHttp());
    } catch (e) {
      notReady(e, `the cloud's health endpoint ${this.opts.healthUrl} does not answer 2xx`);
    }
  }

  async health(): Promise<CloudHealth> {
    if (!this.opts.healthUrl) return { ok: true, url: this.url, detail: 'no health endpoint configured (healthUrl); not checked' };
    try {
      await requestJson(this.opts.healthUrl, { method: 'GET' }, { ...this.http, retries: 0 });
      return { ok: true, url: this.url, detail: `GET ${this.opts.healthUrl} answered 2xx` };
    } catch (e) {
      if (!isOwsdError(e)) throw e;
      return { ok: false, url: this.url, detail: describe(e) };
    }
  }
}
