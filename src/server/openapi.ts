/**
 * The gateway's OpenAPI 3.1 description, served at GET /v1/openapi.json: made from the routes' own schemas
 * (./schemas.ts), the same objects fastify validates each request with, so the document cannot drift from what
 * the server accepts (test/openapi.test.ts).
 */
import type { TSchema } from 'typebox';
import { gatewayRoutes, NAMED_SCHEMAS, type GatewayRoute } from './schemas.js';

const DESCRIPTION =
  'Classifies private images with a cloud classifier that never sees them: each image is encoded, scrambled with a secret key (which never leaves this service), sent to the cloud, and the cloud\'s answer is mapped to the true label by a local network. A gateway started with `owsd serve --local` (status `mode: "local"`) answers from the image\'s embedding alone and sends nothing to any cloud: its results have an empty `cloud`, no `keyId` and no `scrambled`, and `keyIds` is empty. Errors are `{error, code, field?}`, per image in `results` too.';

const names = new Map<unknown, string>(NAMED_SCHEMAS.map(([name, schema]) => [schema, name]));

/**
 * A schema as plain JSON (TypeBox's own markers are not enumerable and are left out), each named schema inside it
 * (`NAMED_SCHEMAS`) as a `$ref` to its entry under components/schemas.
 */
function plain(s: unknown, self?: unknown): Record<string, unknown> {
  const walk = (v: unknown): unknown => {
    if (v !== self && names.has(v)) return { $ref: `#/components/schemas/${names.get(v)}` };
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(s) as Record<string, unknown>;
}

/** One operation of the document from a registered route's schema. */
function operation(route: GatewayRoute): Record<string, unknown> {
  const s = route.schema;
  const op: Record<string, unknown> = { summary: s.summary, ...(s.description ? { description: s.description } : {}) };
  const query = s.querystring as (TSchema & { properties?: Record<string, TSchema & { description?: string }>; required?: string[] }) | undefined;
  if (query?.properties) {
    op.parameters = Object.entries(query.properties).map(([name, p]) => ({
      name,
      in: 'query',
      required: (query.required ?? []).includes(name),
      schema: plain(p),
      ...(p.description ? { description: p.description } : {}),
    }));
  }
  const body = s.body as { content?: Record<string, { schema: TSchema }> } | TSchema | undefined;
  const content: Record<string, unknown> = {};
  if (s.multipart) content['multipart/form-data'] = { schema: plain(s.multipart) };
  if (body && 'content' in body && body.content) for (const [type, c] of Object.entries(body.content)) content[type] = { schema: plain(c.schema) };
  else if (body) content['application/json'] = { schema: plain(body) };
  if (Object.keys(content).length > 0) op.requestBody = { required: !(body && 'properties' in body && !(body as { required?: unknown }).required), content };
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries((s.response ?? {}) as Record<string, TSchema & { description?: string; type?: string }>)) {
    const type = r.type === 'string' ? 'text/html' : 'application/json';
    const description = r.description ?? (Number(status) >= 400 ? 'A clear error naming the field or file and what was expected' : 'OK');
    responses[status] = { description, content: { [type]: { schema: plain(r) } } };
  }
  op.responses = responses;
  return op;
}

/** The document for these routes (default: every API route of a gateway with its default limit of 64 images). */
export function gatewayOpenApi(version: string, routes: readonly GatewayRoute[] = Object.values(gatewayRoutes(64))): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) (paths[r.url] ??= {})[r.method.toLowerCase()] = operation(r);
  const schemas = Object.fromEntries(NAMED_SCHEMAS.map(([name, schema]) => [name, plain(schema, schema)]));
  return { openapi: '3.1.0', info: { title: 'owsd gateway', version, description: DESCRIPTION }, paths, components: { schemas } };
}
