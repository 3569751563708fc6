export { scrambleImages, type ScrambledBatch } from './scramble.js';
