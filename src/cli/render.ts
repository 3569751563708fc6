/** Plain-text rendering of fit / eval / demo results (the same objects --json prints). */
import type { EvalReport, FitResult, ImageInput, ImageResult, PredictOutcome, TrafficBound } from '../index.js';
import type { DemoReport } from '../server/index.js';
import type { LeakAttackResult } from '../research.js';
import { boundSentences, imageResult } from '../index.js';

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '   n/a' : `${(100 * x).toFixed(1).padStart(5)}%`);
const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)} points`;

/** Plain words on what the cloud gain means for the user. */
export function cloudVerdict(gain: number, stdErr: number): string {
  const noise = `±${(100 * 2 * stdErr).toFixed(1)} at 2 standard errors`;
  if (gainWithinNoise(gain, stdErr)) {
    return `The cloud adds nothing measurable here (gain ${pts(gain)}, ${noise}): a local classifier on the embedding does as well, with no traffic at all.`;
  }
  return `The cloud adds ${pts(gain)} over the embedding alone (${noise}).`;
}

/** `owsd serve --local --bundle DIR`, the folder quoted for a POSIX shell when it needs it. */
export function localServeCommand(bundleDir: string): string {
  const dir = /^[\w@%+=:,./-]+$/.test(bundleDir) ? bundleDir : `'${bundleDir.replaceAll("'", "'\\''")}'`;
  return `owsd serve --local --bundle ${dir}`;
}

/** The line that offers local serving when the cloud gain is within noise (fit and eval print it under the verdict). */
export const localServeLine = (bundleDir: string): string =>
  `Serve it locally, sending nothing to any cloud (no key, no submissions, same API and web page): ${localServeCommand(bundleDir)}`;

/** Whether a cloud gain is within noise (2 standard errors): the condition of cloudVerdict's first sentence. */
const gainWithinNoise = (gain: number, stdErr: number): boolean => gain <= 2 * stdErr;

/** Standard error of fit's validation cloud gain (two accuracies on the same n validation images, unpaired). */
function fitGainStdErr(v: FitResult['validation'], n: number): number | null {
  if (v.cloudGain === null || v.both === null || v.embedding === null || n <= 0) return null;
  return Math.sqrt((v.both * (1 - v.both) + v.embedding * (1 - v.embedding)) / n);
}

/**
 * fit's advice on local serving, for `owsd fit --json` beside the result: `suggestLocal` true when the validation
 * cloud gain is within noise, the reason in the words the text output prints, and the command to run then.
 */
export function fitLocalAdvice(r: Pick<FitResult, 'validation' | 'validationSamples' | 'out'>): { suggestLocal: boolean; suggestLocalReason: string; localServeCommand: string | null } {
  const se = fitGainStdErr(r.validation, r.validationSamples);
  if (se === null || r.validation.cloudGain === null) {
    return { suggestLocal: false, suggestLocalReason: 'the cloud gain was not measured (no validation images)', localServeCommand: null };
  }
  const local = gainWithinNoise(r.validation.cloudGain, se);
  return { suggestLocal: local, suggestLocalReason: `On the validation images: ${cloudVerdict(r.validation.cloudGain, se)}`, localServeCommand: local ? localServeCommand(r.out) : null };
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

/** `offerLocal: false` leaves out the `owsd serve --local` line (the demo's bundle is a temporary folder, gone when it ends). */
export function renderFit(r: Omit<FitResult, 'bundle'>, opts: { offerLocal?: boolean } = {}): string {
  const v = r.validation;
  return [
    `fitted on ${r.trainSamples} images; ${r.submissionsSent} submissions sent; ${r.seconds.toFixed(1)} s; bundle: ${r.out}`,
    `validation top-1: with cloud ${pct(v.both)} | embedding alone ${pct(v.embedding)} | cloud vector alone ${pct(v.cloud)} | cloud gain ${v.cloudGain === null ? 'n/a' : pts(v.cloudGain)}`,
    ...attackLines(r.attack),
    ...boundLines(r.bound),
    ...fitVerdictLines(r, opts.offerLocal ?? true),
    ...skippedLines(r.skippedImages),
  ].join('\n');
}

/** fit's cloud-gain verdict and, when the gain is within noise, the offer to serve locally. */
function fitVerdictLines(r: Omit<FitResult, 'bundle'>, offerLocal: boolean): string[] {
  if (fitGainStdErr(r.validation, r.validationSamples) === null) return [];
  const a = fitLocalAdvice(r);
  return [a.suggestLocalReason, ...(a.suggestLocal && offerLocal ? [localServeLine(r.out)] : [])];
}

/** The images left out as unreadable (--skip-bad-images), counted and the first few named. */
function skippedLines(skipped: Array<{ reason: string }> | undefined): string[] {
  if (!skipped || skipped.length === 0) return [];
  return [`skipped ${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'}:`, ...skipped.slice(0, 10).map((s) => `  ${s.reason}`), ...(skipped.length > 10 ? [`  ... and ${skipped.length - 10} more (--json lists all)`] : [])];
}

/** `bundleDir`: the bundle evaluated, named in the offer to serve locally when the cloud gain is within noise. */
export function renderEval(r: EvalReport, bundleDir?: string): string {
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
  const local = bundleDir !== undefined && r.samples > 0 && gainWithinNoise(r.cloudGain, r.cloudGainStdErr) ? [localServeLine(bundleDir)] : [];
  lines.push(...attack.slice(0, 1), ...boundLines(r.bound), cloudVerdict(r.cloudGain, r.cloudGainStdErr), ...local, ...attack.slice(1));
  return lines.join('\n');
}

export function renderDemo(d: DemoReport): string {
  const s = d.settings;
  return [
    `OWSD demo: Imagenette, ${s.labels} labels, ${s.perLabel} images per label, ${Math.round(100 * (1 - s.testFraction))}/${Math.round(100 * s.testFraction)} split, seed ${s.seed}`,
    `encoder ${s.encoders.join(' + ')}; cloud ${s.cloudModel} (embedded KServe V2 server at ${s.cloudUrl}); key ${s.keyId} (${s.imageSize}x${s.imageSize}, demo key derived from the seed)`,
    renderFit(d.fit, { offerLocal: false }),
    renderEval(d.eval),
    `paper (10-label subset, ResNet50 encoder): 95.5% top-1, 99.9% top-5. total ${d.seconds.toFixed(0)} s`,
  ].join('\n');
}

/*
 * --json shapes (docs/json.md): the same names for the same things in every command. A key's id is `keyId`, a list
 * of them `keyIds`; an accuracy is `{top1, top5}` (top-1 only where only top-1 is measured: `{top1}`); an error is
 * `{error, code, field?}`, per image `{name, error, code, field?}`, as the gateway answers.
 */

/** A key's public description: `keyId` (not `id`), the rest as keyInfo gives it. */
export function keyJson<T extends { id: string }>(info: T): Omit<T, 'id'> & { keyId: string } {
  const { id, ...rest } = info;
  return { keyId: id, ...rest };
}

/** fit --json: validation accuracies as `{top1}` per IIN (fit measures top-1 only). */
export function fitJson(r: Omit<FitResult, 'bundle'>, keyIds?: string[]): Record<string, unknown> {
  const v = r.validation;
  const top1 = (x: number | null) => ({ top1: x });
  return { ...(keyIds ? { keyIds } : {}), ...r, validation: { both: top1(v.both), embedding: top1(v.embedding), cloud: top1(v.cloud), cloudGain: v.cloudGain } };
}

/** eval --json: `keyIds` (the bundle's keys). */
export function evalJson(r: EvalReport): Record<string, unknown> {
  const { bundleKeyIds, ...rest } = r;
  return { keyIds: bundleKeyIds, ...rest };
}

/** demo --json: its fit and eval parts as fit --json and eval --json print them. */
export function demoJson(d: DemoReport): Record<string, unknown> {
  return { ...d, fit: fitJson(d.fit, d.eval.bundleKeyIds), eval: evalJson(d.eval) };
}

/** One image predict classifies: its name (the path as given, or a dataset sample's id) and, from a dataset, its true label. */
export interface PredictInput {
  name: string;
  image: ImageInput;
  truth?: { label: string; name: string };
}

/**
 * predict --json: the gateway's classify answer (`keyIds`, `failed` when some failed, `results`), per image the one
 * result type (`ImageResult`: `{name, predictions}` or `{name, error, code, field?}`), from a dataset with `truth`.
 */
export function predictJson(inputs: PredictInput[], outcomes: PredictOutcome[], keyIds: string[]): { keyIds: string[]; failed?: number; results: Array<ImageResult & { truth?: PredictInput['truth'] }> } {
  const results = outcomes.map((r, i) => {
    const { name, truth } = inputs[i]!;
    const { name: _n, ...rest } = imageResult(name, r);
    return { name, ...(truth ? { truth } : {}), ...rest };
  });
  const failed = results.filter((r) => 'error' in r).length;
  return { keyIds, ...(failed ? { failed } : {}), results };
}
