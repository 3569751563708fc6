/**
 * Which scrambler design `owsd key new` makes by default, chosen from the design study's results by a stated rule
 * (test/design-choice.test.ts checks the defaults against the committed reports/paper/results/design.json):
 * among the designs of the weak-encoder Imagenette setting that one key file can express (one key, the DCGAN
 * generator: no key pool, no block scrambling), at most twice the paper's generator cost, and within one point of
 * the best IIN top-1 among them, the one whose best attacker at the largest k measured does worst.
 */
import { fail } from '../errors.js';
import type { ExperimentResult } from './run.js';
import { bestAttack, type SettingResult } from './setting.js';

export const DESIGN_CHOICE_SETTING = 'imagenette-weak';

export interface DesignChoice {
  id: string;
  top1: number;
  attack: { k: number; accuracy: number; attacker: string };
  imageSize: number;
  baseChannels: number;
  embeddingNoise: number;
}

export function chooseDesign(r: ExperimentResult, setting = DESIGN_CHOICE_SETTING): DesignChoice {
  const all = r.settings.filter((s) => s.id.startsWith(`${setting}/`));
  const paper = all.find((s) => s.id === `${setting}/paper`) ?? fail('OWSD_ERR_BAD_ARGUMENT', `design results have no ${setting}/paper row`);
  const keyable = (s: SettingResult) => s.features.keys.length === 1 && s.features.keyPool <= 1 && !s.features.blocks;
  const cheap = (s: SettingResult) => (s.generatorGflops ?? Infinity) <= 2 * (paper.generatorGflops ?? 0);
  const candidates = all.filter((s) => keyable(s) && cheap(s) && s.summary.top1.both && s.attacks?.length);
  if (candidates.length === 0) return fail('OWSD_ERR_BAD_ARGUMENT', `no design of ${setting} qualifies`);
  const kMax = Math.max(...candidates.flatMap((s) => s.attacks!.map((a) => a.k)));
  const bestTop1 = Math.max(...candidates.map((s) => s.summary.top1.both!.mean));
  const near = candidates.filter((s) => s.summary.top1.both!.mean >= bestTop1 - 0.01);
  const scored = near.map((s) => ({ s, a: bestAttack(s.attacks!, kMax)! })).sort((x, y) => x.a.accuracy - y.a.accuracy);
  const { s, a } = scored[0]!;
  return {
    id: s.id,
    top1: s.summary.top1.both!.mean,
    attack: { k: kMax, accuracy: a.accuracy, attacker: a.attacker },
    imageSize: s.features.imageSize,
    baseChannels: s.features.baseChannels,
    embeddingNoise: s.features.embeddingNoise,
  };
}
