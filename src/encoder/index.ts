export { Encoder } from './encoder.js';
export { tapEmbedding, EMBEDDING_OUTPUT, type TapResult } from './tap.js';
