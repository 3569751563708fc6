/**
 * The gateway's routes, each described once (TypeBox): fastify validates requests with these schemas
 * (./app.ts registers every route from `gatewayRoutes`), the handlers' TypeScript types are derived from them
 * (`Static<>`), and GET /v1/openapi.json is made from the same registered schemas (./openapi.ts). Multipart uploads
 * are read by @fastify/multipart and checked by hand (./request.ts); their form is described here too
 * (`multipart`), for the OpenAPI document only.
 *
 * Validation errors keep the gateway's own words (`requestError`): `{error, code: OWSD_ERR_REQUEST, field}` with the
 * messages the hand checks gave (test/gateway.test.ts, test/gateway-hardening.test.ts).
 */
import type { FastifySchema, FastifySchemaValidationError } from 'fastify';
import { Type, type Static, type TSchema } from 'typebox';
import { ERRORS, OwsdError, type ErrorCode } from '../errors.js';
import { MAX_BUDGET, validateBudget } from '../key/keyfile.js';
import type { ImageFailure, ImagePredictions, LabelScore } from '../types.js';
import type { GatewayStatus } from './gateway.js';

/** One of a few strings, as a JSON Schema `enum` (reads better in OpenAPI than TypeBox's anyOf of constants). */
function oneOf<const T extends string>(values: readonly T[], options: { description?: string } = {}) {
  return Type.Unsafe<T>(Type.String({ enum: [...values], ...options }));
}

/** The gateway's error body, and every per-image error (`ImageFailure` of src/types.ts). */
const Code = Type.Unsafe<ErrorCode>(Type.String({ enum: Object.keys(ERRORS), description: 'an OWSD_ERR_* code (docs/errors.md)' }));

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'what went wrong, naming the field or file and what was expected' }),
    code: Code,
    field: Type.Optional(Type.String({ description: 'the request field it is about (top, images[1], image[0], Host, ...)' })),
  },
  { description: 'A clear error naming the field or file and what was expected' },
);

export const Label = Type.Object({
  label: Type.String({ description: 'label id (e.g. an ImageNet wnid)' }),
  name: Type.String(),
  index: Type.Integer(),
  score: Type.Number(),
});

/** One image's error in its place (the others are unaffected): `ImageFailure`. */
export const ImageFailureSchema = Type.Object(
  {
    name: Type.String({ description: 'the file name or field of the image' }),
    error: Type.String({ description: 'why this image failed (the others are unaffected)' }),
    code: Code,
    field: Type.Optional(Type.String({ description: 'the image\'s field, e.g. image[1]' })),
  },
  { description: 'an image\'s own error' },
);

/** One image's labels as the gateway gives them: `ImagePredictions` and the cloud's answer. */
export const ClassifiedImage = Type.Object(
  {
    name: Type.String({ description: 'the file name or field of the image' }),
    predictions: Type.Array(Label, { description: 'our true labels, best first' }),
    cloud: Type.Array(Label, { description: 'the cloud\'s own top-5 for the scrambled image (in its own label space); empty in local mode (nothing was sent)' }),
    keyId: Type.Optional(Type.String({ description: 'the key that scrambled the image sent; absent in local mode' })),
    scrambled: Type.Optional(Type.String({ description: 'with details: data:image/png;base64 of the image sent; absent in local mode (nothing was sent)' })),
  },
  { description: 'an image\'s labels (the per-image result of predict --json, with the cloud\'s answer)' },
);

export const ClassifyImageResult = Type.Union([ClassifiedImage, ImageFailureSchema], { description: 'an image\'s result, or its own error' });

export const ClassifyResponse = Type.Object(
  {
    keyIds: Type.Array(Type.String(), { description: 'the keys that scrambled these images; empty in local mode' }),
    failed: Type.Optional(Type.Integer({ description: 'images that failed (each has its own error in results); absent when none did' })),
    results: Type.Array(ClassifyImageResult, { description: 'one per image, in input order' }),
  },
  { description: 'One result per image, in order: its labels, or its own error (then `failed` counts them)' },
);

/** Every image failed: the first image's error at the top level, every image's own error in `results`. */
export const ClassifyAllFailed = Type.Object(
  { ...ErrorBody.properties, results: Type.Optional(Type.Array(ClassifyImageResult)) },
  { description: 'A malformed request, or every image failed (then `results` has each image\'s error)' },
);

/** A decimal integer 1..1000 as a query value: digits only, at most four ('0x5', '5.0', '1e1', ' 5' are refused). */
const TopText = Type.String({ pattern: '^(0{0,3}[1-9]|0{0,2}[1-9][0-9]|0?[1-9][0-9]{2}|1000)?$', description: 'labels per image, 1 to 1000 (decimal digits only)' });
const DetailsText = oneOf(['true', 'false', '1', '0', ''], {
  description: 'also return each scrambled PNG exactly as sent (true, false, 1 or 0); in local mode nothing is scrambled or sent, so there is none',
});

export const ClassifyQuery = Type.Object({ top: Type.Optional(TopText), details: Type.Optional(DetailsText) }, { additionalProperties: false });

/** The JSON form of a classify request; `maxImages` is the gateway's limit per request. */
export function classifyJsonBody(maxImages: number) {
  return Type.Object(
    {
      images: Type.Array(
        Type.Union([
          Type.String({ description: 'base64 image bytes, or a data: URL' }),
          Type.Object({ data: Type.String({ description: 'base64 image bytes, or a data: URL' }), name: Type.Optional(Type.String()) }),
        ]),
        { minItems: 1, maxItems: maxImages, description: `1 to ${maxImages} images` },
      ),
      top: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1000 }), TopText], { description: 'labels per image, 1 to 1000 (default 5)' })),
      details: Type.Optional(Type.Union([Type.Boolean(), DetailsText], { description: 'also return each scrambled PNG exactly as sent' })),
    },
    { additionalProperties: false },
  );
}
export type ClassifyJsonBody = Static<ReturnType<typeof classifyJsonBody>>;
export type ClassifyQueryValues = Static<typeof ClassifyQuery>;

/** The multipart form of a classify request (read and checked by ./request.ts; described here for OpenAPI). */
export const ClassifyMultipart = Type.Object({
  image: Type.Array(Type.String({ format: 'binary' }), { description: 'one or more image files (JPEG, PNG, WebP, GIF, TIFF, PPM), field image (or images)' }),
  top: Type.Optional(TopText),
  details: Type.Optional(DetailsText),
});

export const RotateBody = Type.Object(
  { budget: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BUDGET, description: 'submissions each new key may make (default: the old key\'s)' })) },
  { additionalProperties: false, description: 'an empty body is {}' },
);
export type RotateBodyValues = Static<typeof RotateBody>;

const Accuracy = Type.Object({ top1: Type.Union([Type.Number(), Type.Null()]) }, { description: 'a share, 0 to 1; null when not measured' });

const Bound = Type.Object({
  measured: Type.Boolean({ description: 'false for a bundle fitted before fit stored its bound (refit it), or when its data was too small' }),
  figures: Type.Union(
    [
      Type.Object(
        {
          noise: Type.Number(),
          classes: Type.Integer(),
          chance: Type.Number(),
          images: Type.Integer(),
          k: Type.Record(Type.String(), Type.Number()),
          queries: Type.Record(Type.String(), Type.Integer()),
          publicMeans: Type.Union([Type.Number(), Type.Null()]),
        },
        { additionalProperties: true },
      ),
      Type.Null(),
    ],
    { description: 'As `owsd fit --json` returns it (`bound`): noise, classes, chance, images, k (label accuracy with k = 1, 5, 20 labels per class), queries, publicMeans, rule; null when not measured' },
  ),
  text: Type.String({ description: 'The bound in the plain words `owsd fit` prints, or "not measured (refit with this version)"' }),
}, { description: 'The any-inverter bound the serving bundle\'s fit measured on its own training set (docs/leak-bound.md, "On your own data"): what an observer who could invert the scrambler would learn about the labels.' });

const Health = Type.Object({ ok: Type.Boolean(), url: Type.String(), detail: Type.String(), model: Type.Optional(Type.String()), numClasses: Type.Optional(Type.Integer()) });

export const StatusBody = Type.Object(
  {
    service: Type.Literal('owsd-gateway'),
    mode: oneOf(['local', 'cloud'], { description: '`local` (owsd serve --local): the embedding-alone IIN answers and nothing is sent to any cloud; `cloud`: images are scrambled with the key and sent' }),
    started: Type.String(),
    keys: Type.Array(
      Type.Object({ keyId: Type.String(), budget: Type.Integer(), used: Type.Integer(), remaining: Type.Integer(), fraction: Type.Number(), warning: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: true }),
      { description: 'each key\'s budget and use; empty in local mode (no key is used, no submission is spent)' },
    ),
    warning: Type.Union([Type.String(), Type.Null()]),
    warnAt: Type.Number(),
    bound: Bound,
    bundle: Type.Object({
      created: Type.String(),
      classes: Type.Array(Type.Object({ label: Type.String(), name: Type.String() })),
      encoders: Type.Array(Type.String()),
      imageSize: Type.Integer(),
      trainImages: Type.Integer(),
      validation: Type.Object(
        { both: Accuracy, embedding: Accuracy, cloud: Accuracy, cloudGain: Type.Union([Type.Number(), Type.Null()]) },
        { description: 'validation top-1 as owsd fit --json gives it: {top1} per IIN, and the cloud gain (both - embedding)' },
      ),
      rotatable: Type.Boolean(),
    }),
    cloud: Type.Union([Type.Object({ url: Type.String(), model: Type.String(), protocol: Type.String(), health: Health }), Type.Null()], {
      description: 'the cloud, its model and health; null in local mode (no cloud is contacted, not even for its health)',
    }),
    rotation: Type.Object({
      state: oneOf(['idle', 'running', 'failed']),
      last: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()]),
    }),
    served: Type.Object({ images: Type.Integer(), batches: Type.Integer(), skipped: Type.Integer() }),
    decode: Type.Object({ concurrency: Type.Integer(), waiting: Type.Integer(), started: Type.Integer(), skipped: Type.Integer() }, { description: 'arrival decoding: how many run at once, wait, were started and skipped (client gone)' }),
  },
  { description: 'Status (never the secret, never a file path)' },
);

/** A route as registered: fastify's schema with a summary (and, for OpenAPI only, the multipart form). */
export interface GatewayRoute {
  method: 'GET' | 'POST';
  url: string;
  schema: FastifySchema & { summary: string; description?: string; multipart?: TSchema };
}

/** The schemas the OpenAPI document names (under components/schemas), by name. */
export const NAMED_SCHEMAS: ReadonlyArray<readonly [string, TSchema]> = [
  ['Error', ErrorBody],
  ['Label', Label],
  ['ImageFailure', ImageFailureSchema],
  ['ClassifiedImage', ClassifiedImage],
  ['ImageResult', ClassifyImageResult],
  ['ClassifyResponse', ClassifyResponse],
  ['ClassifyFailed', ClassifyAllFailed],
  ['Status', StatusBody],
];

/** Every API route of the gateway with its schema; ./app.ts registers each (and nothing else is documented). */
export function gatewayRoutes(maxImages: number) {
  return {
    classify: {
      method: 'POST',
      url: '/v1/classify',
      schema: {
        summary: 'Top-k true labels of one or many images',
        querystring: ClassifyQuery,
        body: { content: { 'application/json': { schema: classifyJsonBody(maxImages) } } },
        multipart: ClassifyMultipart,
        response: {
          200: ClassifyResponse,
          400: ClassifyAllFailed,
          403: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          421: ErrorBody,
          429: ErrorBody,
          502: ErrorBody,
        },
      },
    },
    status: {
      method: 'GET',
      url: '/v1/status',
      schema: {
        summary: 'Mode (local or cloud), key id(s), budget and use, the any-inverter bound fit measured, cloud health, model information, rotation state',
        response: { 200: StatusBody },
      },
    },
    rotate: {
      method: 'POST',
      url: '/v1/keys/rotate',
      schema: {
        summary:
          'Replace the key(s): new keys, the stored training set re-scrambled, the IIN refitted, the new bundle swapped in without dropping requests (only from this machine, only as Content-Type: application/json, never from another origin; refused with 403 OWSD_ERR_FORBIDDEN in local mode, which uses no key)',
        body: RotateBody,
        response: {
          200: Type.Object(
            { replaced: Type.Array(Type.String()), keyIds: Type.Array(Type.String()), keyFiles: Type.Array(Type.String()), bundle: Type.String(), trainImages: Type.Integer(), submissionsSent: Type.Integer(), seconds: Type.Number(), finished: Type.String() },
            { description: 'The new key ids and bundle' },
          ),
          400: ErrorBody,
          403: ErrorBody,
          409: ErrorBody,
          415: ErrorBody,
          421: ErrorBody,
        },
      },
    },
    openapi: { method: 'GET', url: '/v1/openapi.json', schema: { summary: 'This description', response: { 200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3.1' }) } } },
    page: { method: 'GET', url: '/', schema: { summary: 'The web page: classify images and see what the cloud was sent and answered', response: { 200: Type.String({ description: 'HTML' }) } } },
  } as const satisfies Record<string, GatewayRoute>;
}

// The TypeScript types and the schemas agree (a compile error otherwise): the per-image result type of
// src/types.ts is the one the gateway's schemas describe, and the status the gateway makes fits its schema.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameLabel: Same<Static<typeof Label>, LabelScore> = true;
const sameFailure: Same<Static<typeof ImageFailureSchema>, ImageFailure> = true;
const samePredictions: Same<Pick<Static<typeof ClassifiedImage>, 'name' | 'predictions'>, ImagePredictions> = true;
const statusFits: GatewayStatus extends Omit<Static<typeof StatusBody>, 'decode'> ? true : false = true;
void [sameLabel, sameFailure, samePredictions, statusFits];

type Part = 'body' | 'querystring' | 'params' | 'headers';

/** A field's value as the client sent it (for the message), or undefined. */
function valueAt(data: unknown, pointer: string): unknown {
  let v = data;
  for (const k of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return v;
}

/** The error about `field`, its message starting with `label` (the field, or `top (query)` for a query value). */
function fieldError(field: string, message: string, label = field): OwsdError {
  const e = new OwsdError('OWSD_ERR_REQUEST', `${label}: ${message}`);
  (e as OwsdError & { field?: string }).field = field;
  return e;
}

const got = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v)?.slice(0, 80) ?? typeof v);

/**
 * A fastify validation error as the gateway's `{error, code, field}`: the field named, in the words of the hand
 * checks these schemas replaced. `route` is the route's URL, `part` what was validated, `data` the request part.
 */
export function requestError(route: string, part: Part | string, errors: FastifySchemaValidationError[], data: unknown): OwsdError {
  const e = errors[0]!;
  const path = e.instancePath;
  const top = path.split('/')[1];
  const extra = e.keyword === 'additionalProperties' ? String((e.params as { additionalProperty?: unknown }).additionalProperty) : undefined;
  const missing = e.keyword === 'required' ? String((e.params as { missingProperty?: unknown }).missingProperty) : undefined;
  if (part === 'querystring') {
    if (extra !== undefined) return fieldError(extra, 'unknown parameter (expected top, details)', `${extra} (query)`);
    const name = top ?? 'query';
    const v = valueAt(data, `/${name}`);
    if (Array.isArray(v)) return fieldError(name, 'given more than once', `${name} (query)`);
    if (name === 'top') return fieldError('top', `expected an integer from 1 to 1000, got ${got(v)}`, 'top (query)');
    if (name === 'details') return fieldError('details', `expected true or false, got ${got(v)}`, 'details (query)');
    return fieldError(name, e.message ?? 'not valid', `${name} (query)`);
  }
  if (part !== 'body') return fieldError(part, e.message ?? 'not valid');
  if (route === '/v1/keys/rotate') {
    if (path === '' && extra === undefined) return fieldError('body', 'expected a JSON object, e.g. {} or {"budget": 9000}');
    if (extra !== undefined) return fieldError(extra, 'unknown field (expected budget)');
    try {
      validateBudget(valueAt(data, '/budget'), 'budget', 'OWSD_ERR_REQUEST');
    } catch (b) {
      if (b instanceof OwsdError) return fieldError('budget', b.message.replace(/^budget: /, ''));
    }
    return fieldError(top ?? 'body', e.message ?? 'not valid');
  }
  // POST /v1/classify, JSON
  if (path === '' && extra === undefined && missing === undefined) return fieldError('body', 'expected a JSON object {"images": [...]} (or multipart/form-data with image files)');
  if (extra !== undefined) return fieldError(extra, 'unknown field (expected images, top, details)');
  const images = valueAt(data, '/images');
  if (missing === 'images' || (path === '/images' && e.keyword === 'type')) return fieldError('images', `expected an array of base64 images, got ${images === undefined ? 'nothing' : typeof images}`);
  if (path === '/images' && e.keyword === 'minItems') return fieldError('images', 'expected at least one image');
  if (path === '/images' && e.keyword === 'maxItems') return fieldError('images', `at most ${String((e.params as { limit?: unknown }).limit)} images per request, got ${(images as unknown[]).length}`);
  const item = /^\/images\/(\d+)/.exec(path);
  if (item) return fieldError(`images[${item[1]}]`, 'expected a base64 string or {"data": "<base64>", "name": "..."}');
  if (top === 'top') return fieldError('top', `expected an integer from 1 to 1000, got ${got(valueAt(data, '/top'))}`);
  if (top === 'details') return fieldError('details', `expected true or false, got ${got(valueAt(data, '/details'))}`);
  return fieldError(top ?? 'body', e.message ?? 'not valid');
}
