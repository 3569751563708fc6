/**
 * The any-inverter bound beside the measured attacks in the reports (issue 17): the committed bound study
 * (`owsd analyze bound`, reports/security/bound/results.json) looked up by data set, encoder and noise, and put in
 * the bound's own words (`inverterSentence`, src/analysis/bound.ts, the sentence fit, the gateway and
 * `owsd key show` use). A setting the study did not measure (another encoder, a noise off its grid, a key pool)
 * says so rather than borrowing a neighbour's figure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { boundPercent, inverterSentence } from '../analysis/bound.js';
import { BOUND_FORMAT, type BoundRow, type BoundStudyResult } from '../experiments/bound.js';

export const BOUND_NOT_MEASURED_CELL = 'not measured';

export class BoundLookup {
  constructor(readonly study: BoundStudyResult | null) {}

  /** The committed study beside a report folder: `<dir>/bound/results.json` (a full run, not a quick one), else none. */
  static read(file: string): BoundLookup {
    if (!fs.existsSync(file)) return new BoundLookup(null);
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as BoundStudyResult;
    return new BoundLookup(r.format === BOUND_FORMAT ? r : null);
  }

  get available(): boolean {
    return this.study !== null && this.study.rows.length > 0;
  }

  /** The row of one data set, encoder and noise; a list of encoders (concatenated embeddings) has none. */
  row(dataset: string, encoders: string | readonly string[], noise: number): BoundRow | undefined {
    const list = typeof encoders === 'string' ? [encoders] : encoders;
    if (list.length !== 1) return undefined;
    return this.study?.rows.find((r) => r.dataset === dataset && r.encoder === list[0] && r.noise === noise);
  }

  /** The best any-inverter label accuracy at k, or undefined. */
  at(dataset: string, encoders: string | readonly string[], noise: number, k: number): number | undefined {
    return this.row(dataset, encoders, noise)?.label.find((l) => l.k === k)?.accuracy;
  }

  /** A table cell: "12.3%" or "not measured". */
  cell(dataset: string, encoders: string | readonly string[], noise: number, k: number): string {
    const a = this.at(dataset, encoders, noise, k);
    return a === undefined ? BOUND_NOT_MEASURED_CELL : boundPercent(a);
  }

  /**
   * The bound in plain words for one data set, encoder and noise at the given k (those the study measured), with
   * the public-means figure and re-identification; null when the study has no such row.
   */
  sentence(dataset: string, encoder: string, noise: number, ks?: readonly number[]): string | null {
    const r = this.row(dataset, encoder, noise);
    if (!r) return null;
    const points = r.label.filter((l) => !ks || ks.includes(l.k)).map((l) => ({ k: l.k, accuracy: l.accuracy }));
    return (
      `${inverterSentence(points, r.chance, 'the traffic')}; knowing no label, only public images of the same classes, ${boundPercent(r.publicMeans.accuracy)}; ` +
      `which of 100 candidate images was sent, ${boundPercent(r.reidentification.top1)} (chance ${boundPercent(r.reidentification.chance)}) ` +
      `(bound study: ${r.images} images of ${r.dataset}, ${r.encoder}, ${noise > 0 ? `noise ${noise}x` : 'no noise'}; docs/leak-bound.md)`
    );
  }
}

/** The study beside a security report folder (`<out>/bound/results.json`). */
export function boundBeside(out: string): BoundLookup {
  return BoundLookup.read(path.join(out, 'bound', 'results.json'));
}
