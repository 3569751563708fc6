export { nearestNeighbourAttack, decodePixels, type LeakAttackResult, type AttackVector } from './label-leak.js';
export { mean, std, meanStd, pairedTTest, studentTCdf, type TTest } from './stats.js';
export {
  analyseCloudOutputs,
  entropyNats,
  confidence,
  dominantClass,
  pcaOfTwoLabels,
  generatorZeroFraction,
  type CloudOutputAnalysis,
  type PcaScatter,
  type GeneratorActivationStats,
} from './cloud-outputs.js';
export {
  leakSplit,
  featureAttack,
  pixelNearestNeighbour,
  cloudNearestNeighbour,
  cloudLogisticRegression,
  pooledPixelAttack,
  standardizeColumns,
  logProbabilities,
  scrambledFeatures,
  labelInferenceCurve,
  trainSoftmaxRegression,
  type LabelInferenceResult,
  type LeakSplit,
  type FeatureClassifier,
  type ScrambledFeatureOptions,
  type TrafficObservation,
  type SoftmaxRegression,
} from './label-inference.js';
export {
  exactLinkability,
  makeVariant,
  nearDuplicateLinkability,
  reidentifyByCloud,
  reidentifyByTypicality,
  rankReidentification,
  rocAuc,
  spearman,
  VARIANTS,
  type ExactLinkability,
  type NearDuplicateResult,
  type ReidentificationResult,
  type VariantName,
  type DistanceSummary,
} from './linkability.js';
export { fitRidge, predictRidge, DEFAULT_ALPHAS, type RidgeModel, type RidgeOptions, type RidgeBlock } from './ridge.js';
export { dense, rowSlice, colSlice, takeRows, concatCols, columnStats, columnMean, type Dense, type Dense64 } from './numerics/matrix.js';
export { matmul, matmul64 } from './numerics/products.js';
export { cholesky, invertLower, choleskySolve, choleskyInverseFactor, spdSolve } from './numerics/cholesky.js';
export { symmetricEigen, symmetricEigenQl, type SymmetricEigen, type SymmetricEigenQl } from './numerics/eigen.js';
export { fitPca, pcaProject, pcaReconstructionMse, pca, type Pca, type PrincipalComponents } from './numerics/pca.js';
export { createRandomFeatures, applyRandomFeatures, type RandomFeatureMap } from './numerics/random-features.js';
export {
  mse,
  psnr,
  psnrFromMse,
  ssim,
  imageSetMetrics,
  reidentify,
  meanRowCorrelation,
  budgetFromCurve,
  crossingFromCurve,
  type ImageSetMetrics,
  type SsimOptions,
  type ReidOptions,
  type ReidResult,
  type CurvePoint,
  type CurveThreshold,
  type CurveCrossing,
} from './inversion.js';
export { deriveBudget, BUDGET_RULE, deriveLeakBudgets, leakBudgetFor, leakBudgetSentences, LEAK_BUDGETS, type BudgetRule, type BudgetEvidence, type DerivedBudget, type BoundEvidenceRow, type LeakBudget, type LeakFigure, type KeyLeakBudget } from './budget.js';
export { addSubmissionNoise, noiseSource, trafficComponents, labelBound, publicSplit, publicMeansBound, reidentificationBound, pixelWhitenedMeanAttack, ledoitWolf, inverterSentence, boundPercent, preferLargerSamples, knnNeighbours, BOUND_CLASSIFIERS, BOUND_DEFAULTS, type BoundClassifier, type BoundOptions, type LabelBound, type TrafficComponents, type PublicMeansBound, type ReidentificationBound, type Shrunk } from './bound.js';
