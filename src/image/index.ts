export {
  decodeRgb,
  sniffImageFormat,
  checkDimensions,
  MAX_INPUT_PIXELS,
  MAX_ASPECT_RATIO,
  DEFAULT_DECODE_DEADLINE_MS,
  SUPPORTED_FORMATS,
  SUPPORTED_FORMATS_TEXT,
  type RgbImage,
  type DecodeOptions,
  type ImageFormat,
  type SniffResult,
} from './decode.js';
export { preprocessBatch, preprocessBatchSettled, normalizeInto, loadForModel, outputSize, type Layout, type PreprocessSpec } from './preprocess.js';
