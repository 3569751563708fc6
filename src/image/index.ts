export { decodeRgb, MAX_INPUT_PIXELS, type RgbImage, type DecodeOptions } from './decode.js';
export { preprocessBatch, preprocessBatchSettled, normalizeInto, loadForModel, outputSize, type Layout } from './preprocess.js';
