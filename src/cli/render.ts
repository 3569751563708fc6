/** Plain-text rendering of fit / eval / demo results (the same objects --json prints). */
import type { EvalReport, FitResult, TrafficBound } from '../index.js';
import type { DemoReport } from '../server/index.js';
import type { LeakAttackResult } from '../research.js';
import { boundSentences } from '../index.js';

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '   n/a' : `${(100 * x).toFixed(1).padStart(5)}%`);
const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} points`;

/** Plain words on what the cloud gain means for the user. */
export function cloudVerdict(gain: number, stdErr: number): string {
  const noise = `±${(100 * 2 * stdErr).toFixed(1)} at 2 standard errors`;
  if (gain <= 2 * stdErr) {
    return `The cloud adds nothing measurable here (gain ${pts(gain)}, ${noise}): a local classifier on the embedding does as well, with no traffic at all.`;
  }
  return `The cloud adds ${pts(gain)} over the embedding alone (${noise}).`;
}

/** The label-leak attack's figure and, when it labels more than twice chance, the plain-words warning. */
function attackLines(a: LeakAttackResult | null | undefined): string[] {
  if (!a) return [];
  const out = [`label leak: a 1-NN attacker on the scrambled pixels, given ${a.k} labelled images per class, labels ${pct(a.accuracy).trim()} of the other ${a.queries} (chance ${pct(a.chance).trim()})`];
  if (a.accuracy > 2 * a.chance) out.push('The traffic gives the labels away: anyone who sees the scrambled images and a few of their labels can classify the rest.');
  return out;
}

/** The any-inverter bound in plain words, and the warning when it exceeds the noise rule (src/pipeline/bound.ts, shared with the gateway). */
export const boundLines = (b: TrafficBound | null | undefined): string[] => (b ? boundSentences(b) : []);

export function renderFit(r: Omit<FitResult, 'bundle'>): string {
  const v = r.validation;
  return [
    `fitted on ${r.trainSamples} images; ${r.submissionsSent} submissions sent; ${r.seconds.toFixed(1)} s; bundle: ${r.out}`,
    `validation top-1: with cloud ${pct(v.both)} | embedding alone ${pct(v.embedding)} | cloud vector alone ${pct(v.cloud)} | cloud gain ${v.cloudGain === null ? 'n/a' : pts(v.cloudGain)}`,
    ...attackLines(r.attack),
    ...boundLines(r.bound),
    ...(v.cloudGain !== null && v.both !== null && v.embedding !== null && r.validationSamples > 0
      ? [`On the validation images: ${cloudVerdict(v.cloudGain, Math.sqrt((v.both * (1 - v.both) + v.embedding * (1 - v.embedding)) / r.validationSamples))}`]
      : []),
    ...skippedLines(r.skippedImages),
  ].join('\n');
}

/** The images left out as unreadable (--skip-bad-images), counted and the first few named. */
function skippedLines(skipped: Array<{ reason: string }> | undefined): string[] {
  if (!skipped || skipped.length === 0) return [];
  return [`skipped ${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'}:`, ...skipped.slice(0, 10).map((s) => `  ${s.reason}`), ...(skipped.length > 10 ? [`  ... and ${skipped.length - 10} more (--json lists all)`] : [])];
}

export function renderEval(r: EvalReport): string {
  const a = r.accuracy;
  const lines = [
    `evaluated ${r.samples} images (${r.data.split === 'test' ? 'held-out split' : 'all given'}, ${r.classes} labels)${r.skippedUnknownLabel ? `; ${r.skippedUnknownLabel} skipped: label unknown to the bundle` : ''}; ${r.submissionsSent} submissions sent`,
    '                                   top-1    top-5',
    `IIN: embedding + cloud vector     ${pct(a.both.top1)}   ${pct(a.both.top5)}`,
    `IIN: embedding alone (no cloud)   ${pct(a.embedding.top1)}   ${pct(a.embedding.top5)}`,
    `IIN: cloud vector alone           ${pct(a.cloud.top1)}   ${pct(a.cloud.top5)}`,
    `cloud gain (with - without)       ${pts(r.cloudGain)} (standard error ${(100 * r.cloudGainStdErr).toFixed(1)})`,
  ];
  lines.push(...skippedLines(r.skippedImages));
  if (r.plaintext) {
    lines.push(
      `cloud on plaintext (reference)    ${pct(r.plaintext.cloud.top1)}   ${pct(r.plaintext.cloud.top5)}   (${r.plaintext.mapped} images of labels it knows)`,
      `IIN vs cloud's plaintext top-1    ${pct(r.plaintext.agreement.top1)}   ${pct(r.plaintext.agreement.top5)}`,
    );
  }
  const attack = attackLines(r.attack);
  lines.push(...attack.slice(0, 1), ...boundLines(r.bound), cloudVerdict(r.cloudGain, r.cloudGainStdErr), ...attack.slice(1));
  return lines.join('\n');
}

export function renderDemo(d: DemoReport): string {
  const s = d.settings;
  return [
    `OWSD demo: Imagenette, ${s.labels} labels, ${s.perLabel} images per label, ${Math.round(100 * (1 - s.testFraction))}/${Math.round(100 * s.testFraction)} split, seed ${s.seed}`,
    `encoder ${s.encoders.join(' + ')}; cloud ${s.cloudModel} (embedded KServe V2 server at ${s.cloudUrl}); key ${s.keyId} (${s.imageSize}x${s.imageSize}, demo key derived from the seed)`,
    renderFit(d.fit),
    renderEval(d.eval),
    `paper (10-label subset, ResNet50 encoder): 95.5% top-1, 99.9% top-5. total ${d.seconds.toFixed(0)} s`,
  ].join('\n');
}
