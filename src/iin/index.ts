/** The Internal Inference Network: training (ONNX train-step graphs run by onnxruntime), inference, serialization. */
export { IIN_DEFAULTS, IIN_WEIGHT_NAMES, checkIinWeights, iinWeightDims, resolveIinConfig } from './config.js';
export type { IinConfig, IinWeightName, IinWeights } from './config.js';
export { trainIin, batchBounds, dropoutMasks, validationCount } from './train.js';
export type { DropoutMaskStream, IinEpochRecord, TrainIinOptions, TrainedIin } from './train.js';
export { Iin, topK } from './model.js';
export type { ClassScore } from './model.js';
export { IIN_JSON_FORMAT, exportIinOnnx, iinWeightsFromJson, iinWeightsToJson, readIinJson } from './serialize.js';
export type { IinTensorJson, IinWeightsJson } from './serialize.js';
