export { Scrambler, type ScramblerOptions } from './scrambler.js';
export { buildGeneratorModel, deriveGeneratorWeights, generatorLayers, generatorFlops, countWeights, type LayerShape } from './generator.js';
export { encodePng, encodePngBatch } from './png.js';
export { scrambleStats, type ScrambleStats } from './stats.js';
export { markScrambled, isScrambled, assertScrambled, isPng, type ScrambledImage } from './scrambled.js';
