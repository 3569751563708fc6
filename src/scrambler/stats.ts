/** Signal statistics of scrambled images and generator activations (paper: about 59% zero activations). */
export interface ScrambleStats {
  /** Fraction of ReLU activations that are exactly zero, over all hidden layers. */
  zeroFraction: number;
  /** Per hidden layer. */
  zeroFractionByLayer: number[];
  /** Standard deviation of the PNG's pixel values (0-255). */
  pixelStd: number;
  /** Distinct levels used per channel (R, G, B), averaged over images. */
  distinctLevels: [number, number, number];
  /** Smallest number of distinct levels in any channel of any image. */
  minDistinctLevels: number;
}

export function scrambleStats(pixels: Uint8Array, n: number, activations: Float32Array[]): ScrambleStats {
  const byLayer = activations.map((a) => {
    let zeros = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === 0) zeros++;
    return { zeros, total: a.length };
  });
  const zeros = byLayer.reduce((s, l) => s + l.zeros, 0);
  const total = byLayer.reduce((s, l) => s + l.total, 0);
  const per = pixels.length / n;
  let sum = 0;
  let sq = 0;
  const levels: [number, number, number] = [0, 0, 0];
  let minLevels = 256;
  for (let k = 0; k < n; k++) {
    const seen = [new Uint8Array(256), new Uint8Array(256), new Uint8Array(256)];
    for (let i = 0; i < per; i++) {
      const v = pixels[k * per + i]!;
      seen[i % 3]![v] = 1;
      sum += v;
      sq += v * v;
    }
    seen.forEach((s, c) => {
      const count = s.reduce((a, b) => a + b, 0);
      levels[c] += count / n;
      minLevels = Math.min(minLevels, count);
    });
  }
  const mean = sum / pixels.length;
  return {
    zeroFraction: total ? zeros / total : 0,
    zeroFractionByLayer: byLayer.map((l) => l.zeros / l.total),
    pixelStd: Math.sqrt(sq / pixels.length - mean * mean),
    distinctLevels: levels,
    minDistinctLevels: minLevels,
  };
}
