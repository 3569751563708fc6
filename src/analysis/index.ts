export { nearestNeighbourAttack, decodePixels, type LeakAttackResult } from './label-leak.js';
