/**
 * Reading a classify request: images from multipart/form-data (file fields `image` or `images`) or JSON
 * (`{"images": ["<base64>" | {"data": "<base64>", "name": "..."}], "top": 5, "details": false}`), each
 * decoded once, here, so that a bad image is answered with its own 400 naming its field, and never spoils the
 * batch it would have joined. Limits are checked before anything is decoded.
 */
import type { FastifyRequest } from 'fastify';
import { fail, OwsdError } from '../errors.js';
import { decodeRgb } from '../image/decode.js';
import type { ImageInput } from '../types.js';

export interface RequestLimits {
  maxImages: number;
  maxPixels: number;
}

export interface ClassifyRequest {
  images: ImageInput[];
  top: number;
  details: boolean;
}

interface RawImage {
  field: string;
  name: string;
  bytes: Uint8Array;
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function fieldError(field: string, message: string): never {
  const e = new OwsdError('OWSD_ERR_REQUEST', `${field}: ${message}`);
  (e as OwsdError & { field?: string }).field = field;
  throw e;
}

function parseTop(v: unknown, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1000) return fieldError(field, `expected an integer from 1 to 1000, got ${JSON.stringify(v)}`);
  return n;
}

function parseBool(v: unknown, field: string): boolean | undefined {
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

export function jsonImages(body: unknown, limits: RequestLimits): { raw: RawImage[]; top?: number; details?: boolean } {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    return fieldError('body', 'expected a JSON object {"images": [...]} (or multipart/form-data with image files)');
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!['images', 'top', 'details'].includes(k)) fieldError(k, 'unknown field (expected images, top, details)');
  if (!Array.isArray(b.images)) return fieldError('images', `expected an array of base64 images, got ${b.images === undefined ? 'nothing' : typeof b.images}`);
  if (b.images.length === 0) return fieldError('images', 'expected at least one image');
  if (b.images.length > limits.maxImages) return fieldError('images', `at most ${limits.maxImages} images per request, got ${b.images.length}`);
  const raw = b.images.map((item: unknown, i): RawImage => {
    const field = `images[${i}]`;
    if (typeof item === 'string') return { field, name: field, bytes: decodeBase64(item, field) };
    if (item && typeof item === 'object' && typeof (item as { data?: unknown }).data === 'string') {
      const { data, name } = item as { data: string; name?: unknown };
      return { field, name: typeof name === 'string' && name ? name : field, bytes: decodeBase64(data, `${field}.data`) };
    }
    return fieldError(field, 'expected a base64 string or {"data": "<base64>", "name": "..."}');
  });
  return { raw, top: parseTop(b.top, 'top'), details: parseBool(b.details, 'details') };
}

export async function multipartImages(req: FastifyRequest, limits: RequestLimits): Promise<{ raw: RawImage[]; top?: number; details?: boolean }> {
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

/** Decode every image (in parallel) into RGB pixels; the first failure names its field and file. */
export async function decodeImages(raw: RawImage[], limits: RequestLimits): Promise<ImageInput[]> {
  return Promise.all(
    raw.map(async ({ field, name, bytes }): Promise<ImageInput> => {
      const label = name === field ? field : `${field} ('${name}')`;
      if (bytes.length === 0) fieldError(field, `${label === field ? '' : `'${name}' `}is empty (0 bytes)`);
      const img = await decodeRgb({ kind: 'encoded', bytes, name: label }, { maxPixels: limits.maxPixels }).catch((e: unknown) => {
        if (e instanceof OwsdError) {
          (e as OwsdError & { field?: string }).field = field;
          throw e;
        }
        return fail('OWSD_ERR_IMAGE', `${label}: cannot decode image`);
      });
      return { kind: 'raw', data: img.data, width: img.width, height: img.height, channels: 3, name: label };
    }),
  );
}
