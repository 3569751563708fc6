/**
 * Reading a classify request: images from multipart/form-data (file fields `image` or `images`) or JSON
 * (`{"images": ["<base64>" | {"data": "<base64>", "name": "..."}], "top": 5, "details": false}`), each
 * decoded once, here, already resized for the encoder (so the batch it joins does no expensive image work), so
 * that a bad image gets its own error naming its field and never spoils the batch it would have joined. Limits are
 * checked before anything is decoded; decodes are scheduled fairly across clients (./scheduler.ts), each with a
 * deadline, and skipped once the request is gone.
 */
import type { FastifyRequest } from 'fastify';
import { describe, OwsdError, withField } from '../errors.js';
import { decodeRgb, type DecodeOptions } from '../image/decode.js';
import type { PreprocessSpec } from '../models/spec.js';
import type { ImageInput } from '../types.js';
import type { FairQueue } from './scheduler.js';
import type { ClassifyJsonBody } from './schemas.js';

export interface RequestLimits {
  maxImages: number;
  maxPixels: number;
}

export interface ClassifyRequest {
  images: ImageInput[];
  top: number;
  details: boolean;
}

export interface RawImage {
  field: string;
  name: string;
  bytes: Uint8Array;
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

export { fieldOf, withField } from '../errors.js';

function fieldError(field: string, message: string): never {
  throw withField(new OwsdError('OWSD_ERR_REQUEST', `${field}: ${message}`), field);
}

/** A decimal integer 1..1000 (strings: digits only, so '0x5', '5.0', '1e1' and ' 5' are refused). */
export function parseTop(v: unknown, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'string' ? (/^[0-9]{1,4}$/.test(v) ? Number(v) : NaN) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1000) return fieldError(field, `expected an integer from 1 to 1000, got ${JSON.stringify(v)}`);
  return n;
}

export function parseBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === true || v === 'true' || v === '1') return true;
  if (v === false || v === 'false' || v === '0') return false;
  return fieldError(field, `expected true or false, got ${JSON.stringify(v)}`);
}

function decodeBase64(s: string, field: string): Uint8Array {
  const m = /^data:[\w.+-]+\/[\w.+-]+;base64,/.exec(s);
  const body = m ? s.slice(m[0].length) : s;
  if (body.length === 0) return fieldError(field, 'empty image');
  if (!BASE64.test(body)) return fieldError(field, 'expected base64 image bytes (or a data: URL)');
  return new Uint8Array(Buffer.from(body, 'base64'));
}

/**
 * The images of a JSON classify request, whose form fastify has already checked against its schema
 * (./schemas.ts `classifyJsonBody`: an object with 1 to maxImages images, known fields only); here each image's
 * base64 is decoded (its own error naming `images[i]` or `images[i].data`).
 */
export function jsonImages(body: ClassifyJsonBody): { raw: RawImage[]; top?: number; details?: boolean } {
  const raw = body.images.map((item, i): RawImage => {
    const field = `images[${i}]`;
    if (typeof item === 'string') return { field, name: field, bytes: decodeBase64(item, field) };
    return { field, name: item.name || field, bytes: decodeBase64(item.data, `${field}.data`) };
  });
  return { raw, top: parseTop(body.top, 'top'), details: parseBool(body.details, 'details') };
}

/** RFC 2046: a boundary is 1 to 70 characters from a small set, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/** The multipart boundary of a Content-Type, or a 400 naming the problem (busboy would otherwise throw a 500). */
export function checkMultipartBoundary(contentType: string | undefined): void {
  const m = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  const boundary = m ? (m[1] ?? m[2] ?? '') : undefined;
  if (boundary === undefined) fieldError('Content-Type', 'multipart/form-data without a boundary parameter (expected e.g. multipart/form-data; boundary=----x)');
  if (!BOUNDARY.test(boundary)) fieldError('Content-Type', `multipart boundary ${JSON.stringify(boundary.slice(0, 80))} is not valid (expected 1 to 70 characters: letters, digits and '()+_,-./:=? )`);
}

export async function multipartImages(req: FastifyRequest, limits: RequestLimits): Promise<{ raw: RawImage[]; top?: number; details?: boolean }> {
  checkMultipartBoundary(req.headers['content-type']);
  const raw: RawImage[] = [];
  let top: number | undefined;
  let details: boolean | undefined;
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'image' && part.fieldname !== 'images') {
        await part.toBuffer().catch(() => undefined);
        fieldError(part.fieldname, 'unknown file field (send images as "image")');
      }
      if (raw.length >= limits.maxImages) fieldError(part.fieldname, `at most ${limits.maxImages} images per request`);
      const bytes = await part.toBuffer();
      const field = `${part.fieldname}[${raw.length}]`;
      raw.push({ field, name: part.filename || field, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    } else if (part.fieldname === 'top') top = parseTop(part.value, 'top');
    else if (part.fieldname === 'details') details = parseBool(part.value, 'details');
    else fieldError(part.fieldname, 'unknown field (expected image, top, details)');
  }
  if (raw.length === 0) fieldError('image', 'expected at least one image file in the form field "image"');
  return { raw, top, details };
}

/** How arrival decoding is done for one request. */
export interface DecodeContext {
  /** The fair queue all requests' decodes go through. */
  queue: FairQueue;
  /** The client (connection) the request came from: the round-robin unit. */
  client: string;
  /** Aborted when the client is gone: waiting decodes are skipped, running ones told to stop. */
  signal: AbortSignal;
  /** The encoders' preprocessing: images are decoded straight to the size the encoder needs. */
  preprocess: PreprocessSpec[];
  /** Per image decode deadline (ms). */
  deadlineMs: number;
}

/** The resize of arrival decoding: exactly the encoder's when all encoders agree, else the largest size (short side). */
export function arrivalResize(specs: PreprocessSpec[]): NonNullable<DecodeOptions['resize']> | undefined {
  const each = specs.map((s) => ({ size: s.resize, fit: s.centerCrop ? ('outside' as const) : ('fill' as const), kernel: s.kernel }));
  if (each.length === 0) return undefined;
  const first = each[0]!;
  if (each.every((e) => e.size === first.size && e.fit === first.fit && e.kernel === first.kernel)) return first;
  return { size: Math.max(...each.map((e) => e.size)), fit: 'outside', kernel: 'lanczos3' };
}

/**
 * Decode every image into RGB pixels at the encoder's size, each on its own: the result has, per image, the image
 * or its own error (field and file named). The decodes go through the fair queue.
 */
export async function decodeImagesSettled(raw: RawImage[], limits: RequestLimits, ctx: DecodeContext): Promise<Array<ImageInput | OwsdError>> {
  const resize = arrivalResize(ctx.preprocess);
  return Promise.all(
    raw.map(async ({ field, name, bytes }): Promise<ImageInput | OwsdError> => {
      const label = name === field ? field : `${field} ('${name}')`;
      if (bytes.length === 0) return withField(new OwsdError('OWSD_ERR_IMAGE', `${field}: ${label === field ? '' : `'${name}' `}is empty (0 bytes)`), field);
      try {
        return await ctx.queue.run(ctx.client, ctx.signal, async (): Promise<ImageInput> => {
          // decodeRgb sniffs the format and checks the header (pixels, aspect ratio) before any decoder runs.
          const img = await decodeRgb({ kind: 'encoded', bytes, name: label }, { maxPixels: limits.maxPixels, resize, deadlineMs: ctx.deadlineMs, signal: ctx.signal });
          return { kind: 'raw', data: img.data, width: img.width, height: img.height, channels: 3, name: label };
        });
      } catch (e) {
        if (e instanceof OwsdError) return withField(e, field);
        return withField(new OwsdError('OWSD_ERR_IMAGE', `${label}: cannot decode image: ${describe(e)}`), field);
      }
    }),
  );
}
