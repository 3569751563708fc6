/**
 * The import-boundary lint (`npm run lint:imports`, run by `npm test`): dependency-cruiser over src/ with the
 * rules below. docs/architecture.md explains them; test/import-rules.test.ts shows that each kind of rule fails
 * on a forbidden import.
 *
 * The flow, in order: image -> models -> encoder -> key/scrambler -> cloud -> iin -> pipeline. A stage imports only
 * itself, the stages listed as allowed for it below (all earlier ones) and the base (errors.ts, settings.ts,
 * types.ts, internal/). data (dataset readers) sits beside image: it imports only the base and image.
 * Outer rings: server and scale import the flow, never research or each other; the CLI imports only the four entry
 * points (src/index.ts, src/server/index.ts, src/scale/index.ts, src/research.ts). Research (analysis, experiments,
 * report, he) imports the flow and earlier research (analysis -> he/experiments -> report), never server, scale, CLI.
 */

// What each product folder may import besides itself. Every folder is a regex over paths under src/.
const BASE = ['^src/(errors|settings|types)\\.ts$', '^src/internal/'];
const IMAGE = ['^src/image/'];
const MODELS = ['^src/models/'];
const DATA = ['^src/data/'];
const ENCODER = ['^src/encoder/'];
const KEY = ['^src/key/'];
const SCRAMBLER = ['^src/scrambler/'];
const CLOUD = ['^src/cloud/(?!server/)'];
const CLOUD_SERVER = ['^src/cloud/server/'];
const IIN = ['^src/iin/'];
const PIPELINE = ['^src/pipeline/'];
const FLOW = [...BASE, ...IMAGE, ...MODELS, ...DATA, ...ENCODER, ...KEY, ...SCRAMBLER, ...CLOUD, ...IIN, ...PIPELINE];
const RESEARCH = '^src/(analysis|experiments|report|he)/|^src/research\\.ts$';

/** [name, the files the rule is about, what they may import under src/ besides themselves] */
const LAYERS = [
  ['base', '^src/(errors|settings|types)\\.ts$|^src/internal/', BASE],
  ['image', IMAGE[0], BASE],
  ['models', MODELS[0], [...BASE, ...IMAGE]],
  ['data', DATA[0], [...BASE, ...IMAGE]],
  ['encoder', ENCODER[0], [...BASE, ...IMAGE, ...MODELS]],
  ['key', KEY[0], BASE],
  ['scrambler', SCRAMBLER[0], [...BASE, ...IMAGE, ...MODELS, ...ENCODER, ...KEY]],
  ['cloud', CLOUD[0], [...BASE, ...IMAGE, ...MODELS, ...ENCODER, ...KEY, ...SCRAMBLER]],
  ['cloud-server', CLOUD_SERVER[0], [...BASE, ...IMAGE, ...MODELS, ...CLOUD]],
  ['iin', IIN[0], [...BASE, ...IMAGE, ...MODELS, ...ENCODER, ...KEY, ...SCRAMBLER, ...CLOUD]],
  ['pipeline', PIPELINE[0], [...BASE, ...IMAGE, ...MODELS, ...DATA, ...ENCODER, ...KEY, ...SCRAMBLER, ...CLOUD, ...IIN]],
  ['server', '^src/server/', [...FLOW, ...CLOUD_SERVER]],
  ['scale', '^src/scale/', FLOW],
  ['cli', '^src/cli/', ['^src/index\\.ts$', '^src/server/index\\.ts$', '^src/scale/index\\.ts$', '^src/research\\.ts$']],
  ['entry-owsd', '^src/index\\.ts$', FLOW],
  ['analysis', '^src/analysis/', [...FLOW, ...CLOUD_SERVER]],
  ['he', '^src/he/', [...FLOW, '^src/analysis/']],
  ['experiments', '^src/experiments/', [...FLOW, ...CLOUD_SERVER, '^src/analysis/', '^src/he/']],
  ['report', '^src/report/', [...FLOW, '^src/analysis/', '^src/experiments/']],
  ['entry-research', '^src/research\\.ts$', [...FLOW, '^src/(analysis|experiments|report|he)/', '^src/cloud/accuracy\\.ts$']],
];

/**
 * The few product -> research and flow -> cloud-server imports that are unavoidable, each listed: the pipeline's
 * label-leak check and any-inverter bound use the analysis' nearest-neighbour attack, bound code and matrix views, and the
 * demo starts the embedded cloud server (pipeline/demo.ts is exported by owsd/server, not owsd).
 */
const EXCEPTIONS = [
  { layer: 'pipeline', from: '^src/pipeline/(bound|evaluate|fit|leak)\\.ts$', to: '^src/analysis/(bound|label-leak|numerics/matrix)\\.ts$' },
  { layer: 'pipeline', from: '^src/pipeline/demo\\.ts$', to: '^src/cloud/server/start\\.ts$' },
];

const layerRules = LAYERS.flatMap(([name, from, allowed]) => {
  const exceptions = EXCEPTIONS.filter((e) => e.layer === name);
  const rule = (suffix, fromPath, fromNot, extra) => ({
    name: `layer-${name}${suffix}`,
    comment: `${name} (${fromPath}) imports under src/ only itself and: ${[...allowed, ...extra].join(' ')}`,
    severity: 'error',
    from: fromNot.length ? { path: fromPath, pathNot: fromNot } : { path: fromPath },
    to: { path: '^src/', pathNot: [from, ...allowed, ...extra] },
  });
  return [rule('', from, exceptions.map((e) => e.from), []), ...exceptions.map((e, i) => rule(`-listed-${i + 1}`, e.from, [], [e.to]))];
});

/** Product code (flow, server, scale; not the CLI, which may import owsd/research) never imports research, but for EXCEPTIONS. */
const productRules = [
  {
    name: 'product-not-research',
    comment: 'Product code (the flow, server, scale) never imports research (analysis, experiments, report, he), except the listed pipeline -> analysis imports.',
    severity: 'error',
    from: { path: '^src/', pathNot: [RESEARCH, '^src/cli/', ...EXCEPTIONS.map((e) => e.from)] },
    to: { path: RESEARCH },
  },
  ...EXCEPTIONS.map((e, i) => ({
    name: `product-not-research-listed-${i + 1}`,
    comment: `${e.from} may import research only as ${e.to}`,
    severity: 'error',
    from: { path: e.from },
    to: { path: RESEARCH, pathNot: e.to },
  })),
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle between files (and so none between folders: every folder import goes one way by the layer rules).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    ...productRules,
    {
      name: 'only-ort-imports-onnxruntime',
      comment: 'Only src/internal/ort.ts imports onnxruntime-node.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/internal/ort\\.ts$' },
      to: { path: '(^|/)node_modules/onnxruntime-(node|common)/', pathNot: '/package\\.json$' },
    },
    {
      name: 'owsd-entry-loads-no-outer-ring',
      comment:
        "Nothing that `import 'owsd'` (src/index.ts) loads reaches fastify, bullmq, ioredis, node-seal, marked, or the server, scale, CLI, HE, experiments or report code.",
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: {
        path: '(^|/)node_modules/(fastify|@fastify/[^/]+|bullmq|ioredis|node-seal|marked)/|^src/(server|scale|cli|he|experiments|report|cloud/server)/|^src/research\\.ts$',
        reachable: true,
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|node_modules)/',
    exclude: { path: '^src/server/web/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    // follow node_modules as it is linked (a worktree or a test copy may link it): its paths stay node_modules/...
    preserveSymlinks: true,
  },
};
