/** owsd: the public API. The CLI and servers import only from here. */
export * from './errors.js';
export * from './settings.js';
export * from './types.js';
export * from './models/index.js';
export * from './image/index.js';
export * from './key/index.js';
export * from './encoder/index.js';
export * from './scrambler/index.js';
export * from './pipeline/index.js';
export * from './data/index.js';
export * from './cloud/index.js';
export * from './iin/index.js';
export * from './analysis/index.js';
export * from './experiments/index.js';
export * from './report/index.js';
export * from './server/index.js';
export * from './he/index.js';
