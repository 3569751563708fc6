export * from './ckks-head.js';
export * from './linear-head.js';
