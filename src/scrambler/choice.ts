/**
 * The default generator by cost (issue 17): the any-inverter bound is measured on the generator's input
 * (embedding + noise), so every generator design has the same bound; among the designs the study measured as
 * accurate as the best, the default is the cheapest one whose images every major cloud vision API accepts.
 *
 * The rule, applied to the design study's rows (reports/paper/results/design.json, one key, no pool, no blocks,
 * no noise: the rows that differ only in the generator):
 *  1. accurate: top-1 (IIN on both inputs) at least the best row's minus `tolerance` (one point);
 *  2. accepted: the image side is at least `minSide`, the largest documented hard minimum of the APIs in
 *     CLOUD_API_MIN_SIDE (docs/generator-choice.md cites each);
 *  3. cheapest: the fewest generator FLOPs per image (ties: the smaller image, then fewer channels).
 * test/generator-choice.test.ts applies it to the committed study and checks that it gives the key defaults.
 */
import { fail } from '../errors.js';

/** Documented hard minimum image side of cloud vision APIs, in pixels (sources in docs/generator-choice.md). */
export const CLOUD_API_MIN_SIDE: Readonly<Record<string, number>> = {
  /** Amazon Rekognition Image: "The minimum image dimensions is 80 pixels for both height and width." */
  'aws-rekognition': 80,
  /** Azure AI Vision Image Analysis: "greater than 50 x 50 pixels" (4.0: InvalidImageSize below 50). */
  'azure-ai-vision': 50,
  /** Google Cloud Vision documents no hard minimum, only a 640x480 recommendation for accuracy on photographs. */
  'google-cloud-vision': 0,
};

export interface GeneratorCandidate {
  id: string;
  imageSize: number;
  baseChannels: number;
  /** Mean top-1 of the IIN on both inputs. */
  top1: number;
  /** Generator GFLOP per image. */
  gflopPerImage: number;
}

export interface GeneratorChoice extends GeneratorCandidate {
  /** Why each other candidate lost. */
  rejected: Array<{ id: string; why: string }>;
}

export function chooseGeneratorByCost(rows: readonly GeneratorCandidate[], minSide = Math.max(...Object.values(CLOUD_API_MIN_SIDE)), tolerance = 0.01): GeneratorChoice {
  if (rows.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', 'generator choice: no candidate designs');
  const best = Math.max(...rows.map((r) => r.top1));
  const rejected: GeneratorChoice['rejected'] = [];
  const ok = rows.filter((r) => {
    if (r.top1 < best - tolerance) rejected.push({ id: r.id, why: `top-1 ${r.top1.toFixed(4)} below the best ${best.toFixed(4)} minus ${tolerance}` });
    else if (r.imageSize < minSide) rejected.push({ id: r.id, why: `${r.imageSize} px is below the APIs' minimum side ${minSide} px` });
    else return true;
    return false;
  });
  if (ok.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', `generator choice: no design is both accurate and at least ${minSide} px`);
  ok.sort((a, b) => a.gflopPerImage - b.gflopPerImage || a.imageSize - b.imageSize || a.baseChannels - b.baseChannels);
  const [pick, ...rest] = ok;
  for (const r of rest) rejected.push({ id: r.id, why: `${r.gflopPerImage.toFixed(3)} GFLOP/image, more than ${pick!.gflopPerImage.toFixed(3)}` });
  return { ...pick!, rejected };
}
