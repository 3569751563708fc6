/**
 * The confidentiality report: reads `<out>/results/*.json` written by `owsd analyze` and renders `<out>/report.md`
 * and a self-contained `<out>/report.html`, with the paper's section 5 numbers beside ours, every attack's success
 * against the attacker's resources, and the defences' cost in accuracy.
 */
import { SECURITY_FORMAT, securityResultSeconds, type SecurityResult } from '../experiments/security.js';
import type { SettingResult, Summary } from '../experiments/setting.js';
import { barChart, lineChart } from '../analysis/charts.js';
import { deriveBudget, BUDGET_RULE } from '../analysis/budget.js';
import { DEFAULT_BUDGET } from '../key/keyfile.js';
import { markdownTable, readResultFolder, writeReport, type Figure } from './page.js';
import { BoundLookup, boundBeside } from './bound.js';
import { leakBudgetFor, leakBudgetSentences } from '../analysis/budget.js';
import { DEFAULT_EMBEDDING_NOISE } from '../key/keyfile.js';
import type { TrafficStudyResult } from '../experiments/security-traffic.js';
import fs from 'node:fs';
import path from 'node:path';

const pct = (v: number | null | undefined, digits = 1): string => (v === undefined || v === null || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 3): string => (v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const ms = (s: Summary | undefined): string => (s ? `${(s.mean * 100).toFixed(1)} (${(s.std * 100).toFixed(1)})` : '—');
const gain = (s: (Summary & { tTestP?: number }) | undefined): string =>
  s ? `${s.mean >= 0 ? '+' : '−'}${Math.abs(s.mean * 100).toFixed(1)}${s.tTestP !== undefined && Number.isFinite(s.tTestP) ? `, p${s.tTestP < 0.001 ? '<0.001' : `=${s.tTestP.toFixed(3)}`}` : ''}` : '—';

const table = markdownTable;

const NAMES: Record<string, string> = { 'cifar-10': 'CIFAR-10', 'imagenette-val': 'Imagenette' };

export function readSecurityResults(out: string): SecurityResult[] {
  return readResultFolder<SecurityResult>(out, SECURITY_FORMAT, 'owsd analyze');
}

function trafficSection(r: SecurityResult, figures: Figure[], bound: BoundLookup): string {
  const t = r.traffic;
  if (!t) return '';
  const short = r.dataset.replace(/-val$/, '');
  const o = t.cloudOutputs;
  const parts: string[] = [];
  parts.push(`### 5.1 What leaves: originals (top) and their scrambled images (bottom)\n\n![originals and scrambled images](figures/${short}-side-by-side.png)`);
  parts.push(
    `### 5.2 What the cloud answers (${o.n} images, ${t.cloud}, key ${t.key} at ${t.imageSize} px)\n\n` +
      table(
        ['Measure', 'Paper', 'Ours'],
        [
          ['true label in the cloud\'s top-1 / top-5 on scrambled images', '0.07% / 0.52%', o.mapped > 0 ? `${pct(o.trueInScrambledTop1, 2)} / ${pct(o.trueInScrambledTop5, 2)}` : 'labels unknown to the cloud'],
          ['the same on plaintext images', '—', o.mapped > 0 ? `${pct(o.trueInPlaintextTop1)} / ${pct(o.trueInPlaintextTop5)}` : '—'],
          ['plaintext top-1 within the scrambled top-1 / top-5', '—', `${pct(o.plaintextTop1InScrambledTop1, 2)} / ${pct(o.plaintextTop1InScrambledTop5, 2)}`],
          ['mean confidence (max probability), plaintext → scrambled', '—', `${num(o.confidence.plaintext)} → ${num(o.confidence.scrambled)} (−${pct(o.confidence.relativeReduction, 0)})`],
          ['mean output entropy (nats), scrambled vs plaintext', '4.3 vs 1.97 (base not stated)', `${num(o.entropy.scrambled, 2)} vs ${num(o.entropy.plaintext, 2)} (max ${num(o.entropy.max, 2)})`],
          ['share of scrambled images in the single most common cloud class', '—', pct(o.dominant.scrambled.share)],
          ['distinct cloud top-1 classes, scrambled vs plaintext', '—', `${o.distinctTop1.scrambled} vs ${o.distinctTop1.plaintext}`],
          ['zero activations in the generator', '59%', pct(t.generator.zeroFraction)],
        ],
      ) +
      `\n\n![PCA of the cloud's answers for two labels](figures/${short}-pca.svg)`,
  );
  const ks = t.labelInference.ks;
  const attackers = [...new Set(t.labelInference.results.map((x) => x.attacker))];
  const cell = (a: string, k: number) => pct(t.labelInference.results.find((x) => x.attacker === a && x.k === k)?.accuracy, 0);
  const chance = t.labelInference.results[0]?.chance;
  figures.push({
    file: `${short}-label-inference.svg`,
    alt: 'label inference against leaked labels per class',
    svg: lineChart({
      title: `${NAMES[r.dataset]}: label inference by an observer of the traffic`,
      xLabel: 'labelled leaks per class (k)',
      yLabel: 'accuracy on the other images',
      xLog: true,
      xTicks: ks,
      series: [
        ...attackers.map((a) => ({ name: a, points: ks.map((k) => ({ x: k, y: t.labelInference.results.find((x) => x.attacker === a && x.k === k)?.accuracy ?? NaN })) })),
      ],
      references: [
        { label: `IIN (key holder) ${pct(t.labelInference.iin.top1.both, 0)}`, y: t.labelInference.iin.top1.both },
        ...(chance ? [{ label: `chance ${pct(chance, 0)}`, y: chance }] : []),
      ],
      yRange: [0, 1],
      yFormat: (v) => `${(v * 100).toFixed(0)}%`,
    }),
  });
  parts.push(
    `### Label inference: what the cloud (or anyone on the wire) learns from k labelled leaks per class\n\n` +
      `The observer sees every scrambled image and the cloud's answer, and knows the labels of k images per class. Chance: ${pct(chance, 0)}. ` +
      `For comparison, the key holder's IIN on the same images (${t.labelInference.iin.train} training, ${t.labelInference.iin.test} test): ${pct(t.labelInference.iin.top1.both)} with the cloud, ${pct(t.labelInference.iin.top1.embedding)} on the embedding alone.\n\n` +
      table(['Attacker', ...ks.map((k) => `k = ${k}`)], [
        ...attackers.map((a) => [a, ...ks.map((k) => cell(a, k))]),
        ...(bound.available ? [[`any-inverter bound (${t.encoder}, noise ${(t.embeddingNoise ?? 0)}x)`, ...ks.map((k) => bound.cell(r.dataset, t.encoder, (t.embeddingNoise ?? 0), k))]] : []),
      ]) +
      boundParagraph(bound, r.dataset, t.encoder, (t.embeddingNoise ?? 0), ks) +
      `\n\n![label inference](figures/${short}-label-inference.svg)`,
  );
  const l = t.linkability;
  parts.push(
    `### Linkability and re-identification\n\n` +
      `Exact: the same image submitted twice gives byte-identical scrambled images in ${pct(l.exact.rate)} of ${l.exact.pairs} pairs${l.exact.rate === 1 ? ': the paper\'s scrambling is deterministic, so repeated submissions are linkable (the default key\'s noise is measured below)' : ''}.\n\n` +
      `Near duplicates (the same photo re-encoded or slightly changed, against other photos): ROC AUC of telling "same source" by distance, and how often the nearest scrambled original is the true source.\n\n` +
      table(
        ['Variant', 'Scrambled pixels: AUC / rank-1', 'Cloud answers: AUC / rank-1', 'Embeddings (reference): AUC / rank-1', 'Chance rank-1'],
        l.nearDuplicate.map((v) => [v.variant, `${num(v.pixels.auc)} / ${pct(v.pixels.rank1, 0)}`, `${num(v.cloud.auc)} / ${pct(v.cloud.rank1, 0)}`, `${num(v.embeddingReference.auc)} / ${pct(v.embeddingReference.rank1, 0)}`, pct(v.pixels.chance, 1)]),
      ) +
      (l.reidentification.length
        ? `\n\nRe-identification without key or pairs (candidates = submissions):\n\n` +
          table(['Method', 'Pool', 'Top-1', 'Top-5', 'Mean rank (chance)'], l.reidentification.map((x) => [x.method, String(x.pool), `${pct(x.top1)} (chance ${pct(x.chanceTop1)})`, pct(x.top5), `${num(x.meanRank, 1)} (${num(x.chanceMeanRank, 1)})`]))
        : ''),
  );
  return parts.join('\n\n');
}

/** The traffic attacks on the paper's deterministic design beside the same attacks on the default key (fresh noise per submission). */
function noiseComparisonSection(r: SecurityResult, bound: BoundLookup, extra?: TrafficStudyResult): string {
  const [a, b] = [r.traffic, r.trafficNoisy];
  if (!a || !b) return '';
  const cols = extra ? [a, b, extra] : [a, b];
  const ks = a.labelInference.ks.filter((k) => b.labelInference.ks.includes(k));
  const best = (t: typeof a, k: number) => {
    const rs = t.labelInference.results.filter((x) => x.k === k);
    return rs.length ? rs.reduce((m, x) => (x.accuracy > m.accuracy ? x : m)) : undefined;
  };
  const bestCell = (t: typeof a, k: number) => {
    const x = best(t, k);
    return x ? `${pct(x.accuracy, 0)} (${x.attacker})` : '—';
  };
  const iin = (t: typeof a) => `${pct(t.labelInference.iin.top1.both)} / ${pct(t.labelInference.iin.top1.embedding)} / ${pct(t.labelInference.iin.top1.cloud)}`;
  const nd = (t: typeof a, variant: string, what: 'pixels' | 'cloud') => {
    const v = t.linkability.nearDuplicate.find((x) => x.variant === variant)?.[what];
    return v ? `${num(v.auc, 2)} / ${pct(v.rank1, 0)}` : '—';
  };
  const reid = (t: typeof a, method: string) => pct(t.linkability.reidentification.find((x) => x.method === method)?.top1);
  const chance = a.labelInference.results[0]?.chance;
  const rows: string[][] = [
    ['true label in the cloud\'s top-1 / top-5', ...cols.map((t) => `${pct(t.cloudOutputs.trueInScrambledTop1, 1)} / ${pct(t.cloudOutputs.trueInScrambledTop5, 1)}`)],
    ['mean output entropy of the cloud (nats)', ...cols.map((t) => num(t.cloudOutputs.entropy.scrambled, 2))],
    ...ks.map((k) => [`label inference, best attacker, k = ${k} leaks per class (chance ${pct(chance, 0)})`, ...cols.map((t) => bestCell(t, k))]),
    ...(bound.available ? ks.map((k) => [`**any-inverter bound**, k = ${k} (best of our attackers on the generator's input, ${a.encoder})`, ...cols.map((t) => bound.cell(r.dataset, t.encoder, (t.embeddingNoise ?? 0), k))]) : []),
    ['the key holder\'s IIN: with the cloud / embedding alone / cloud alone', ...cols.map(iin)],
    ['the same image sent twice: byte-identical', ...cols.map((t) => `${pct(t.linkability.exact.rate, 0)} of ${t.linkability.exact.pairs}`)],
    ...a.linkability.nearDuplicate.map((v) => [`near duplicate (${v.variant}): pixels AUC / rank-1`, ...cols.map((t) => nd(t, v.variant, 'pixels'))]),
    ...a.linkability.nearDuplicate.map((v) => [`near duplicate (${v.variant}): cloud answers AUC / rank-1`, ...cols.map((t) => nd(t, v.variant, 'cloud'))]),
    ...a.linkability.reidentification.map((x) => [`re-identification without key (${x.method}), top-1 in ${x.pool} (chance ${pct(x.chanceTop1)})`, ...cols.map((t) => reid(t, x.method))]),
    ...(bound.available ? [[`**any-inverter bound**: which of 100 candidate images was sent, from the generator's input (chance 1.0%)`, ...cols.map((t) => {
      const row = bound.row(r.dataset, t.encoder, (t.embeddingNoise ?? 0));
      return row ? pct(row.reidentification.top1) : 'not measured';
    })]] : []),
  ];
  return (
    `### The same traffic attacks on the default key: fresh noise at ${b.embeddingNoise}x per submission\n\n` +
    `Everything above is the paper's deterministic design. \`owsd key new\` adds fresh noise to each embedding before the generator (issue 7's design study; ${DEFAULT_EMBEDDING_NOISE}x since issue 17). Here the same images, attacks and seeds run again on that design. Each scrambling is a new draw, including a resubmission of the same image. Rank-1 chance for the near duplicates is ${pct(a.linkability.nearDuplicate[0]?.pixels.chance, 1)}. ` +
    (extra ? `The last column is the same study at ${extra.embeddingNoise}x, the default of \`owsd key new\` since issue 17 (\`reports/security/noise-8\`, written by \`owsd analyze traffic --noise ${extra.embeddingNoise}\`). ` : '') +
    (bound.available ? `The **any-inverter bound** rows are not attacks we ran on this traffic: they are what an observer who could invert the scrambler perfectly would reach on the generator's input, from the bound study (\`owsd analyze bound\`, same data set, encoder and noise, on more images: ${bound.row(r.dataset, a.encoder, 0)?.images ?? '—'}). No attacker on the traffic can in principle beat the best attacker on the generator's input; these figures are the best of the classifiers we ran on it (an estimate of that limit, not a proof) on the study's own images and leak draws, so where a measured attacker here exceeds one (the paper's design, at a few points), that is the estimate's slack, not a breach.` : '') +
    `\n\n` +
    table(['Measure', 'Paper design (noise 0)', ...cols.slice(1).map((t) => `Noise ${t.embeddingNoise ?? 0}x${t.embeddingNoise === DEFAULT_EMBEDDING_NOISE ? ' (the default key)' : ''}`)], rows) +
    boundParagraph(bound, r.dataset, a.encoder, DEFAULT_EMBEDDING_NOISE, ks)
  );
}

type Inv = NonNullable<SecurityResult['inversion']>;

/** The known-plaintext attacks on the paper's design beside the same attacks on the default key (fresh noise per submission). */
function inversionNoiseSection(r: SecurityResult, bound: BoundLookup): string {
  const [a, b] = [r.inversion, r.inversionNoisy];
  if (!a || !b) return '';
  const ns = a.nValues.filter((n) => b.nValues.includes(n));
  const at = (v: Inv, n: number) => v.points.find((p) => p.n === n)!;
  const both = (f: (v: Inv, n: number) => number | undefined, n: number, fmt: (x: number | undefined) => string) => `${fmt(f(a, n))} → ${fmt(f(b, n))}`;
  const psnr = (v: Inv, n: number) => at(v, n).plaintext.variants[at(v, n).plaintext.best]?.psnr;
  const reid = (v: Inv, n: number) => at(v, n).plaintext.variants[at(v, n).plaintext.best]?.reid100.top1;
  const emb = (v: Inv, n: number) => at(v, n).embedding.variants[at(v, n).embedding.best]?.reid100.top1;
  const link = (v: Inv, n: number) => at(v, n).keyRecovery.variants[at(v, n).keyRecovery.best]?.link100.top1;
  const db = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(1)} dB`);
  const p0 = (x: number | undefined) => pct(x, 0);
  return (
    `### The same known-plaintext attacks on the default key: fresh noise at ${b.embeddingNoise}x per submission\n\n` +
    `The attacks above, on the same images, pairs and test set, with the scrambled images of the default design: each pair's scrambled image, and each test image's, is one fresh draw. Each cell reads paper design → default key. Re-identification and linking are top-1 in pools of 100 (chance 1%); the mean training image scores ${db(at(a, ns[0]!).plaintext.baseline.psnr)}.\n\n` +
    table(
      ['Leaked pairs N', 'Reconstruction PSNR', 'Original re-identified from the reconstruction', 'Embedding recovered: its source re-identified', 'Surrogate generator (key recovery): scrambled image linked to its embedding'],
      ns.map((n) => [String(n), both(psnr, n, db), both(reid, n, p0), both(emb, n, p0), both(link, n, p0)]),
    ) +
    reidBoundParagraph(bound, r.dataset, b.encoder, [0, b.embeddingNoise ?? 0, DEFAULT_EMBEDDING_NOISE])
  );
}

/** Linear autoencoder test MSE of originals and scrambled images, each with the share of its variance left unexplained. */
function aeCell(ae: { original: Array<number | null>; scrambled: Array<number | null>; originalVariance?: number; scrambledVariance?: number }, k: number): string {
  const one = (mse: number | null | undefined, variance: number | undefined) =>
    mse === null || mse === undefined ? '—' : `${num(mse, 4)}${variance ? ` (${pct(mse / variance, 0)} of variance)` : ''}`;
  return `${one(ae.original[k], ae.originalVariance)} / ${one(ae.scrambled[k], ae.scrambledVariance)}`;
}

function inversionSection(r: SecurityResult, figures: Figure[]): string {
  const v = r.inversion;
  if (!v) return '';
  const short = r.dataset.replace(/-val$/, '');
  const rows = v.points.map((p) => {
    const k = p.autoencoder.ks.length - 1;
    const bp = p.plaintext.variants[p.plaintext.best];
    const be = p.embedding.variants[p.embedding.best];
    const bs = p.keyRecovery.variants[p.keyRecovery.best];
    return [
      String(p.n),
      aeCell(p.autoencoder, k),
      bp ? `${num(bp.psnr, 2)} dB / ${num(bp.ssim, 3)} (mean image ${num(p.plaintext.baseline.psnr, 2)} dB)` : '—',
      bp ? `${pct(bp.reid100.top1)} (chance ${pct(bp.reid100.chance1)})` : '—',
      be ? `${pct(be.reid100.top1)}` : '—',
      bs ? `r=${num(bs.centredCorrelation)}, link ${pct(bs.link100.top1)}` : '—',
    ];
  });
  const chart = (name: string, title: string, yLabel: string, series: typeof v.curves.psnr, percent: boolean) => {
    figures.push({ file: `${short}-${name}.svg`, alt: title, svg: lineChart({ title, xLabel: 'leaked pairs N', yLabel, xLog: true, series, yFormat: percent ? (x) => `${(x * 100).toFixed(0)}%` : undefined }) });
    return `![${title}](figures/${short}-${name}.svg)`;
  };
  const budgets = Object.entries(v.budgets.thresholds).map(([name, b]) => [
    name,
    b.description,
    b.n === null ? `not crossed up to N=${v.nValues[v.nValues.length - 1]}` : b.crossedAtSmallest ? `already at N=${b.n} (the smallest measured)` : `N=${b.n}${b.estimate ? ` (≈${Math.round(b.estimate)})` : ''}`,
  ]);
  return [
    `### Known-plaintext attacks against the number of leaked pairs N\n\n` +
      `An attacker holds N (original, scrambled) pairs made with the key (and, for key recovery, the embeddings: the encoder is public) and attacks ${v.images.test} unseen images. ` +
      `Images at ${v.scales.original}x${v.scales.original}, inverter input average-pooled to ${v.scales.inverterInput}x${v.scales.inverterInput}; ridge regression, and ridge on random ReLU features, whichever is better on a holdout. ` +
      `The paper's autoencoder (5.3/5.4) is reproduced as a linear autoencoder (PCA, k=${v.points[0]?.autoencoder.ks.at(-1) ?? '—'} components): paper test MSE 0.021 (originals) vs 0.061 (scrambled) at 13,500 pairs.\n\n` +
      table(['N', 'Linear AE test MSE: originals / scrambled (share of each one\'s variance left)', 'Inversion to the image: PSNR / SSIM', 'Re-identification of the original among 100 candidates', 'Via the recovered embedding, among 100', 'Key recovery (surrogate generator): centred r, link among 100'], rows),
    `![reconstructions](figures/${short}-reconstructions.png)`,
    chart('inversion-psnr', `${NAMES[r.dataset]}: inversion PSNR against N`, 'PSNR (dB)', v.curves.psnr, false),
    chart('inversion-reid', `${NAMES[r.dataset]}: re-identification against N`, 'top-1 among candidates', v.curves.reid, true),
    `Where each attack crosses its threshold:\n\n` + table(['Attack', 'Threshold', 'Crossed at'], budgets) + (v.notes.length ? `\n\n${v.notes.map((n) => `- ${n}`).join('\n')}` : ''),
  ].join('\n\n');
}

function defencesSection(r: SecurityResult, figures: Figure[], bound: BoundLookup): string {
  const d = r.defences;
  if (!d) return '';
  const short = r.dataset.replace(/-val$/, '');
  const boundCell = (s: SettingResult) =>
    s.features.keyPool > 1 ? 'not measured (key pool)' : s.attack ? bound.cell(s.features.dataset ?? r.dataset, s.features.encoders, s.features.embeddingNoise, s.attack.k) : '—';
  const rows = d.settings.map((s: SettingResult) => [
    s.label,
    ms(s.summary.top1.both),
    ms(s.summary.top1.embedding),
    gain(s.summary.cloudGain),
    s.attack ? `${pct(s.attack.accuracy, 0)} (chance ${pct(s.attack.chance, 0)})` : '—',
    ...(bound.available ? [boundCell(s)] : []),
  ]);
  figures.push({
    file: `${short}-defences.svg`,
    alt: 'defences: accuracy and attack success',
    svg: barChart({
      title: `${NAMES[r.dataset]}: defences, accuracy and label-leak attack (k=5)`,
      yLabel: 'share',
      categories: d.settings.map((s) => s.id),
      series: [
        { name: 'IIN top-1 (key holder)', values: d.settings.map((s) => s.summary.top1.both?.mean ?? NaN) },
        { name: 'embedding alone', values: d.settings.map((s) => s.summary.top1.embedding?.mean ?? NaN) },
        { name: 'attack success, k=5', values: d.settings.map((s) => s.attack?.accuracy ?? NaN) },
      ],
      yRange: [0, 1],
      yFormat: (x) => `${(x * 100).toFixed(0)}%`,
    }),
  });
  return (
    `### Defences, measured for accuracy and attack success\n\n` +
    `Noise: fresh Gaussian noise on the embedding before each submission (σ as a multiple of the embedding's RMS; the IIN keeps the clean embedding). Key pool: each image scrambled with one of P keys chosen by a hash of the image. ${d.settings[0]?.repetitions.length ?? 0} repetitions; mean (std) in %.\n\n` +
    (bound.available ? `The last column is the any-inverter bound at the same k, encoder and noise (bound study, docs/leak-bound.md): what an observer who could invert the scrambler would reach; the study measured 0, 4, 6, 8, 12 and 16x, the ImageNet and CIFAR encoders (not the weak tfjs one) and one key at a time.\n\n` : '') +
    table(['Setting', 'IIN top-1', 'Embedding alone', 'Cloud gain', 'Label-leak attack, k=5', ...(bound.available ? ['Any-inverter bound, k=5'] : [])], rows) +
    `\n\n![defences](figures/${short}-defences.svg)\n\nKey rotation: an observer's labelled leaks from the old key against images scrambled with the new key.\n\n` +
    table(['Setting', 'Leaks and queries under the same key', 'After rotation'], d.rotation.map((x) => [x.config, pct(x.sameKey?.accuracy, 0), `${pct(x.afterRotation?.accuracy, 0)} (chance ${pct(x.afterRotation?.chance, 0)})`]))
  );
}

/** The per-key submission budget that these curves imply (src/analysis/budget.ts), beside the default in use. */
function budgetSection(results: SecurityResult[]): string {
  const evidence = results.filter((r) => r.inversion).map((r) => ({ dataset: r.dataset, thresholds: r.inversion!.budgets.thresholds }));
  if (evidence.length === 0) return '';
  let d;
  try {
    d = deriveBudget(evidence);
  } catch {
    return `## The key budget\n\nNo image-reconstruction attack crossed its threshold over the measured range: these curves set no budget.`;
  }
  const rows = d.considered.map((c) => [NAMES[c.dataset] ?? c.dataset, c.attack, c.safePairs === null ? 'not crossed' : `N=${c.safePairs}`]);
  return (
    `## The key budget\n\n` +
    `Rule (src/analysis/budget.ts): for the attacks on the image itself (${BUDGET_RULE.attacks.join(', ')}), the largest number of leaked pairs measured still below threshold; the least over datasets, divided by the share of submissions whose plaintext the attacker is assumed to know (${d.rule.leakFraction}), rounded down to one significant figure. ` +
    `The linking attacks (recovered embedding, surrogate generator) cross at the smallest N and set no useful budget.\n\n` +
    table(['Dataset', 'Attack', 'Largest N measured safe'], rows) +
    `\n\n**Budget implied: ${d.budget} submissions per key** (binding: ${NAMES[d.binding.dataset] ?? d.binding.dataset}, ${d.binding.attack}, N=${d.binding.safePairs}). \`owsd key new\` defaults to ${DEFAULT_BUDGET}.\n\n` +
    `**Leak budget** (src/analysis/budget.ts, from the any-inverter bound study; \`owsd key show\` prints it): the labelled submissions per class a key tolerates. For the default key: ${leakBudgetSentences(leakBudgetFor(DEFAULT_EMBEDDING_NOISE)).join('. ')}.`
  );
}

/** The bound for one data set, encoder and noise as a paragraph under a table ('' when the study has no such row). */
function boundParagraph(bound: BoundLookup, dataset: string, encoder: string, noise: number, ks: readonly number[]): string {
  if (!bound.available) return '';
  const s = bound.sentence(dataset, encoder, noise, ks);
  return `\n\n**Against any inverter, ${noise > 0 ? `noise ${noise}x` : 'no noise'}${noise === DEFAULT_EMBEDDING_NOISE ? ' (the default key)' : ''}:** ${s ?? `not measured for ${encoder} at ${noise}x (\`owsd analyze bound --dataset ${dataset} --encoder ${encoder} --noise ${noise}\`)`}.`;
}

/** Re-identification by an inverter: which of 100 candidates was sent, from the generator's input, at each noise. */
function reidBoundParagraph(bound: BoundLookup, dataset: string, encoder: string, noises: number[]): string {
  if (!bound.available) return '';
  const cells = [...new Set(noises)].map((n) => {
    const row = bound.row(dataset, encoder, n);
    return `${n}x ${row ? pct(row.reidentification.top1) : 'not measured'}`;
  });
  return `\n\n**Against any inverter:** an observer who could invert the scrambler and holds candidate images tells which of 100 was sent (chance 1%): ${cells.join(', ')} (bound study, ${encoder}; docs/leak-bound.md). The noise does not protect re-identification against an inverter: the rows above hold only against the inverters we ran.`;
}

/** The default key's bound in plain words, for the report's opening. */
function boundSummary(bound: BoundLookup, results: SecurityResult[]): string {
  if (!bound.available) return '';
  const lines = results
    .map((r) => {
      const enc = r.traffic?.encoder ?? r.trafficNoisy?.encoder;
      const s = enc ? bound.sentence(r.dataset, enc, DEFAULT_EMBEDDING_NOISE, [1, 5, 20, 100]) : null;
      return s ? `- ${NAMES[r.dataset] ?? r.dataset}: ${s}.` : '';
    })
    .filter(Boolean);
  return (
    `**The any-inverter bound.** The attacks below are the ones we ran. What holds against ANY attacker on the traffic, including one who inverts the scrambler perfectly, is bounded by what can be learnt from the generator's input (embedding plus that submission's noise); the bound study (\`owsd analyze bound\`, docs/leak-bound.md) estimates it with the best of several classifiers on that input, and it stands beside each attack below. With the default key (noise ${DEFAULT_EMBEDDING_NOISE}x):\n\n` +
    `${lines.join('\n')}\n`
  );
}

export function renderSecurityMarkdown(results: SecurityResult[], bound: BoundLookup = new BoundLookup(null), noise8: Map<string, TrafficStudyResult> = new Map()): { markdown: string; figures: Figure[] } {
  const figures: Figure[] = [];
  const m = results[0]!.machine;
  const quick = results.some((r) => r.quick);
  // Results written before the parts' own times were summed recorded a double count when only some parts were re-run.
  const total = results.reduce((a, r) => a + securityResultSeconds(r), 0);
  const parts = [
    `# OWSD confidentiality: measured attacks\n`,
    quick ? `> **Quick mode**: every attack on a handful of images, to check that the study runs. These numbers mean nothing.\n` : '',
    `Made by \`owsd analyze${quick ? ' --quick' : ''}\` on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, no GPU; Node ${m.node}. ${(total / 60).toFixed(1)} minutes in all. Every setting and number is in \`results/*.json\`. ` +
      `Re-run: \`OWSD_MODELS=../shared/models OWSD_DATA=../shared/data npx owsd analyze\`.\n`,
    boundSummary(bound, results),
    `**Who sees what.** The cloud (and anyone on the wire) sees every scrambled image and the cloud's own answer. It does not see the key, the embeddings or the labels, unless some leak: the attacks below give the attacker labelled leaks (k per class) or known (original, scrambled) pairs (N of them), and report success against those resources. Experiment keys are derived from fixed names so the run is reproducible.\n`,
  ];
  for (const r of results) {
    parts.push(`## ${NAMES[r.dataset] ?? r.dataset}\n`);
    for (const s of [trafficSection(r, figures, bound), noiseComparisonSection(r, bound, noise8.get(r.dataset)), inversionSection(r, figures), inversionNoiseSection(r, bound), defencesSection(r, figures, bound)]) if (s) parts.push(s + '\n');
  }
  const budget = budgetSection(results);
  if (budget) parts.push(budget + '\n');
  return { markdown: parts.filter(Boolean).join('\n'), figures };
}

export async function renderSecurityReport(out: string): Promise<{ markdown: string; html: string; figures: string[] }> {
  const { markdown, figures } = renderSecurityMarkdown(readSecurityResults(out), boundBeside(out), readNoise8(out));
  return writeReport(out, markdown, figures, 'OWSD confidentiality: measured attacks');
}

/** The traffic study at 8x beside the report (`<out>/noise-8/traffic-<dataset>.json`), when it was run. */
function readNoise8(out: string): Map<string, TrafficStudyResult> {
  const dir = path.join(out, 'noise-8');
  const m = new Map<string, TrafficStudyResult>();
  if (!fs.existsSync(dir)) return m;
  for (const f of fs.readdirSync(dir).filter((x) => /^traffic-.+\.json$/.test(x)).sort()) {
    const t = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as TrafficStudyResult;
    if (t.labelInference && t.dataset) m.set(t.dataset, t);
  }
  return m;
}
