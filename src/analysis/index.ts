export { nearestNeighbourAttack, decodePixels, type LeakAttackResult, type AttackVector } from './label-leak.js';
export { mean, std, meanStd, pairedTTest, studentTCdf, type TTest } from './stats.js';
