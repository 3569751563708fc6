export { ExperimentContext, experimentSecret, type FeatureConfig, type Selection, type ContextOptions } from './context.js';
export { EXPERIMENTS, findExperiment, type Experiment } from './catalog.js';
export { runSetting, type Setting, type SettingResult, type InputSet, type RepetitionResult, type Summary } from './setting.js';
export { pixelAttack, ATTACK_DEFAULTS, type AttackSettings } from './attack.js';
export {
  runExperiments,
  runExperiment,
  resolveExperiments,
  experimentNames,
  machineInfo,
  resultPath,
  RESULT_FORMAT,
  type ExperimentResult,
  type Comparison,
  type Machine,
  type RunOptions,
} from './run.js';
export { writeSideBySide } from './traffic-figures.js';
export { runTrafficStudy, TRAFFIC_CLOUDS, TRAFFIC_ENCODER, type TrafficStudyOptions, type TrafficStudyResult, type TrafficDataset } from './security-traffic.js';
export {
  runInversionStudy,
  INVERSION_FORMAT,
  type InversionStudyResult,
  type InversionPoint,
  type PixelScore,
  type EmbeddingScore,
  type SurrogateScore,
  type StudyBudget,
} from './security-inversion.js';
export { collectInversionPairs, type InversionStudyOptions, type InversionPairs } from './inversion-pairs.js';
export { type Variant } from './inversion-figures.js';
export { runSecurityStudy, writeTrafficStudy, type TrafficRunOptions, securityResultPath, securityResultSeconds, SECURITY_DATASETS, SECURITY_PARTS, SECURITY_FORMAT, type SecurityResult, type AnalyzeOptions, type SecurityPart } from './security.js';
export { runDefenceStudy, defenceSettings, type DefenceResult, type RotationResult, type SecurityDataset } from './security-defences.js';
export { chooseDesign, DESIGN_CHOICE_SETTING, type DesignChoice } from './design-choice.js';
export { bestAttack } from './setting.js';
export { DESIGNS } from './catalog.js';
export { runBoundStudy, renderBoundTable, boundRow, boundResultPath, BOUND_FORMAT, BOUND_NOISES, BOUND_KS, BOUND_COMPONENTS, BOUND_DATASETS, BOUND_ENCODERS, BOUND_CAPS, BOUND_PIXEL, type BoundStudyOptions, type BoundStudyResult, type BoundRow, type BoundLabelPoint, type PixelRow, type Embedded } from './bound.js';
export { chooseNoise, withLargerSamples, noiseRuleLimit, NOISE_RULES, DEFAULT_NOISE_RULE, NOISE_RULE_K, NOISE_RULE_KAPPA, type NoiseRule, type NoiseChoice, type NoiseCheck } from './noise-choice.js';
