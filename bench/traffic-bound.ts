/**
 * What the any-inverter bound costs `owsd fit` at its cap (src/pipeline/bound.ts, TRAFFIC_BOUND_MAX_IMAGES): 10
 * synthetic Gaussian classes of 300 embeddings of 1,280 values (MobileNetV2's size), capped to 1,000; once at 8x
 * (the rule met: one noise), once with no noise (the rule fails and fit tries the larger noises of the grid).
 * Not part of `npm run bench`; run alone: `node dist/bench/traffic-bound.js`.
 */
import { trafficBound } from '../src/index.js';
import { conditions, describeConditions, time } from './lib.js';

const C = 10;
const PER = 300;
const D = 1280;
let s = 1;
const r = () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5);
const means = Array.from({ length: C }, () => Float32Array.from({ length: D }, () => 2 * r()));
const e = new Float32Array(C * PER * D);
const y: number[] = [];
for (let i = 0; i < C * PER; i++) {
  y.push(i % C);
  for (let j = 0; j < D; j++) e[i * D + j] = means[i % C]![j]! + 3 * r();
}
for (const sigma of [8, 0]) {
  const { seconds, value: b } = await time(() => trafficBound(e, D, y, sigma, { seed: 0, checkRule: true }));
  const tried = b!.rule!.tried.map((t) => `${t.noise}x ${(100 * t.accuracy).toFixed(1)}%`).join(', ');
  console.log(`noise ${sigma}x: ${b!.images} embeddings, ${seconds.toFixed(1)} s; k=20 at ${tried}`);
}
console.log(describeConditions(conditions()));
