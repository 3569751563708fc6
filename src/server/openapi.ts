/** The gateway's OpenAPI 3.1 description, served at GET /v1/openapi.json (hand-written: five operations). */
import { MAX_BUDGET } from '../key/keyfile.js';

const error = {
  description: 'A clear error naming the field or file and what was expected',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

const label = {
  type: 'object',
  required: ['label', 'name', 'index', 'score'],
  properties: { label: { type: 'string', description: 'label id (e.g. an ImageNet wnid)' }, name: { type: 'string' }, index: { type: 'integer' }, score: { type: 'number' } },
};

export function gatewayOpenApi(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'owsd gateway',
      version,
      description:
        'Classifies private images with a cloud classifier that never sees them: each image is encoded, scrambled with a secret key (which never leaves this service), sent to the cloud, and the cloud\'s answer is mapped to the true label by a local network. A gateway started with `owsd serve --local` (status `mode: "local"`) answers from the image\'s embedding alone and sends nothing to any cloud: its results have an empty `cloud`, no `keyId` and no `scrambled`, and `keyIds` is empty.',
    },
    paths: {
      '/v1/classify': {
        post: {
          summary: 'Top-k true labels of one or many images',
          parameters: [
            { name: 'top', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 5 }, description: 'labels per image (decimal digits only)' },
            { name: 'details', in: 'query', schema: { type: 'boolean', default: false }, description: 'also return each scrambled PNG exactly as sent (true, false, 1 or 0); in local mode nothing is scrambled or sent, so there is none' },
          ],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: {
                    image: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'one or more image files (JPEG, PNG, WebP, GIF, TIFF, PPM)' },
                    top: { type: 'integer' },
                    details: { type: 'boolean' },
                  },
                  required: ['image'],
                },
              },
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['images'],
                  properties: {
                    images: {
                      type: 'array',
                      minItems: 1,
                      items: {
                        oneOf: [
                          { type: 'string', description: 'base64 image bytes, or a data: URL' },
                          { type: 'object', required: ['data'], properties: { data: { type: 'string' }, name: { type: 'string' } } },
                        ],
                      },
                    },
                    top: { type: 'integer', minimum: 1 },
                    details: { type: 'boolean' },
                  },
                },
              },
            },
          },
          responses: {
            '200': { description: 'One result per image, in order: its labels, or its own error (then `failed` counts them)', content: { 'application/json': { schema: { $ref: '#/components/schemas/ClassifyResponse' } } } },
            '400': { description: 'A malformed request, or every image failed (then `results` has each image\'s error)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
            '403': error,
            '421': error,
            '413': error,
            '415': error,
            '429': error,
            '502': error,
          },
        },
      },
      '/v1/status': {
        get: {
          summary: 'Mode (local or cloud), key id(s), budget and use, the any-inverter bound fit measured, cloud health, model information, rotation state',
          responses: { '200': { description: 'Status (never the secret)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Status' } } } } },
        },
      },
      '/v1/keys/rotate': {
        post: {
          summary: 'Replace the key(s): new keys, the stored training set re-scrambled, the IIN refitted, the new bundle swapped in without dropping requests (only from this machine, only as Content-Type: application/json, never from another origin; refused with 403 OWSD_ERR_FORBIDDEN in local mode, which uses no key)',
          requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { budget: { type: 'integer', minimum: 1, maximum: MAX_BUDGET } } } } } },
          responses: { '200': { description: 'The new key ids and bundle', content: { 'application/json': { schema: { type: 'object' } } } }, '403': error, '409': error, '415': error, '421': error },
        },
      },
      '/v1/openapi.json': { get: { summary: 'This description', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/': { get: { summary: 'The web page: classify images and see what the cloud was sent and answered', responses: { '200': { description: 'HTML' } } } },
    },
    components: {
      schemas: {
        Error: { type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string' }, field: { type: 'string' } } },
        Label: label,
        Status: {
          type: 'object',
          required: ['mode', 'keys', 'bound', 'cloud'],
          properties: {
            mode: { type: 'string', enum: ['local', 'cloud'], description: '`local` (owsd serve --local): the embedding-alone IIN answers and nothing is sent to any cloud; `cloud`: images are scrambled with the key and sent' },
            keys: { type: 'array', items: { type: 'object' }, description: 'each key\'s budget and use; empty in local mode (no key is used, no submission is spent)' },
            cloud: {
              description: 'the cloud, its model and health; null in local mode (no cloud is contacted, not even for its health)',
              oneOf: [{ type: 'object', properties: { url: { type: 'string' }, model: { type: 'string' }, protocol: { type: 'string' }, health: { type: 'object' } } }, { type: 'null' }],
            },
            bound: {
              type: 'object',
              description: 'The any-inverter bound the serving bundle\'s fit measured on its own training set (docs/leak-bound.md, "On your own data"): what an observer who could invert the scrambler would learn about the labels.',
              required: ['measured', 'figures', 'text'],
              properties: {
                measured: { type: 'boolean', description: 'false for a bundle fitted before fit stored its bound (refit it), or when its data was too small' },
                figures: {
                  description: 'As `owsd fit --json` returns it (`bound`): noise, classes, chance, images, k (label accuracy with k = 1, 5, 20 labels per class), queries, publicMeans, rule; null when not measured',
                  oneOf: [
                    {
                      type: 'object',
                      required: ['noise', 'classes', 'chance', 'images', 'k', 'queries', 'publicMeans'],
                      properties: {
                        noise: { type: 'number' },
                        classes: { type: 'integer' },
                        chance: { type: 'number' },
                        images: { type: 'integer' },
                        k: { type: 'object', additionalProperties: { type: 'number' } },
                        queries: { type: 'object', additionalProperties: { type: 'integer' } },
                        publicMeans: { type: ['number', 'null'] },
                        rule: { type: 'object' },
                      },
                    },
                    { type: 'null' },
                  ],
                },
                text: { type: 'string', description: 'The bound in the plain words `owsd fit` prints, or "not measured (refit with this version)"' },
              },
            },
          },
        },
        ClassifyResponse: {
          type: 'object',
          required: ['results', 'keyIds'],
          properties: {
            keyIds: { type: 'array', items: { type: 'string' }, description: 'the keys that scrambled these images; empty in local mode' },
            failed: { type: 'integer', description: 'images that failed (each has its own error in results); absent when none did' },
            results: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name'],
                description: 'an image\'s result (predictions, cloud, keyId), or its own error (error, code, field)',
                properties: {
                  error: { type: 'string', description: 'why this image failed (the others are unaffected)' },
                  code: { type: 'string' },
                  field: { type: 'string', description: 'the image\'s field, e.g. image[1]' },
                  name: { type: 'string', description: 'the file name or field of the image' },
                  predictions: { type: 'array', items: { $ref: '#/components/schemas/Label' }, description: 'our true labels, best first' },
                  cloud: { type: 'array', items: { $ref: '#/components/schemas/Label' }, description: 'the cloud\'s own top-5 for the scrambled image (in its own label space); empty in local mode (nothing was sent)' },
                  keyId: { type: 'string', description: 'the key that scrambled the image sent; absent in local mode' },
                  scrambled: { type: 'string', description: 'with details: data:image/png;base64 of the image sent; absent in local mode (nothing was sent)' },
                },
              },
            },
          },
        },
      },
    },
  };
}
