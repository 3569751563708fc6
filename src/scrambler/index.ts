export { Scrambler, type ScramblerOptions } from './scrambler.js';
export { buildGeneratorModel, deriveGeneratorWeights, generatorLayers, generatorFlops, generatorForm, countWeights, phaseKernel, type LayerShape, type GeneratorForm } from './generator.js';
export { encodePng, encodePngBatch } from './png.js';
export { scrambleStats, type ScrambleStats } from './stats.js';
export { markScrambled, isScrambled, assertScrambled, isPng, type ScrambledImage } from './scrambled.js';
export { chooseGeneratorByCost, CLOUD_API_MIN_SIDE, type GeneratorCandidate, type GeneratorChoice } from './choice.js';
