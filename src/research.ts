/**
 * The `owsd/research` entry: the security analysis (src/analysis), the experiments and studies that reproduce the
 * paper's tables (src/experiments), the report renderer (src/report), the homomorphic-encryption peer the paper
 * compares against (src/he), and the plaintext cloud accuracy probe (src/cloud/accuracy.ts), which sends plain
 * images and so is for measuring only. Product code (the flow, server, scale, CLI pipeline commands) does not
 * import it; see docs/architecture.md and .dependency-cruiser.cjs.
 */
export * from './analysis/index.js';
export * from './experiments/index.js';
export * from './report/index.js';
export * from './he/index.js';
export {
  PlaintextCloudProbe,
  createPlaintextCloudProbe,
  measurePlaintextCloudAccuracy,
  buildLabelMap,
  encodeForSending,
  rankOf,
  spreadSample,
  type PlaintextAccuracy,
  type PlaintextAccuracyOptions,
} from './cloud/accuracy.js';
