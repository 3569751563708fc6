/**
 * `owsd analyze --quick` end to end (what CI runs): the confidentiality study on real CIFAR-10 and Imagenette
 * images through the real scrambler and the embedded clouds, and the report rendered from its JSON; the
 * committed report with the any-inverter bound beside every attack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { dataDir, modelsDir, repoRoot, runOwsd, tempDir } from './helpers.js';
import type { SecurityResult } from '../src/experiments/index.js';
import { DEFAULT_EMBEDDING_NOISE } from '../src/index.js';
import { leakBudgetFor, leakBudgetSentences } from '../src/research.js';
import { BoundLookup, boundBeside, readResults, readSecurityResults, renderMarkdown, renderReport, renderSecurityMarkdown, renderSecurityReport } from '../src/report/index.js';

const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_DATA: dataDir };

const owsd = (args: string[]) => runOwsd(args, env);

test('owsd analyze --quick: every part on both datasets, measured attacks behave as they must, report self-contained', { timeout: 15 * 60_000 }, async () => {
  const out = tempDir('owsd-analyze-');
  const r = await owsd(['analyze', '--quick', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  for (const dataset of ['cifar-10', 'imagenette-val']) {
    const res = JSON.parse(fs.readFileSync(path.join(out, 'results', `${dataset}.json`), 'utf8')) as SecurityResult;
    assert.ok(res.traffic && res.trafficNoisy && res.inversion && res.inversionNoisy && res.defences, `${dataset}: a part is missing`);
    const t = res.traffic;
    // Scrambling is deterministic: the same image always gives the same bytes, so resubmissions are linkable.
    assert.equal(t.linkability.exact.rate, 1);
    // About half the generator's activations are zero (paper: 59%).
    assert.ok(t.generator.zeroFraction > 0.3 && t.generator.zeroFraction < 0.7, `zero fraction ${t.generator.zeroFraction}`);
    // The cloud is far less confident on scrambled images than on plaintext.
    assert.ok(t.cloudOutputs.confidence.scrambled < t.cloudOutputs.confidence.plaintext);
    // The pixel attacker labels scrambled images far above chance from 5 leaks per class.
    const px = t.labelInference.results.find((x) => x.attacker === 'pixel-1nn' && x.k === 5)!;
    assert.ok(px.accuracy > 2.5 * px.chance, `${dataset} pixel-1nn k=5 ${px.accuracy}`);
    // The default key's fresh noise per submission: the same image sent twice is never the same bytes.
    const tn = res.trafficNoisy!;
    assert.equal(tn.embeddingNoise, DEFAULT_EMBEDDING_NOISE);
    assert.equal(tn.linkability.exact.rate, 0);
    assert.equal(tn.linkability.exact.pairs, t.linkability.exact.pairs);
    // Rotation: leaks under the old key say little about images under the new one.
    for (const rot of res.defences.rotation) assert.ok(rot.afterRotation!.accuracy < rot.sameKey!.accuracy, JSON.stringify(rot));
    // The same known-plaintext attacks on the default key: the same N, on noisy draws.
    assert.equal(res.inversionNoisy!.embeddingNoise, DEFAULT_EMBEDDING_NOISE);
    assert.deepEqual(res.inversionNoisy!.nValues, res.inversion.nValues);
    // Inversion curves exist for every N, with the trivial baseline beside them.
    assert.deepEqual(res.inversion.points.map((p) => p.n), res.inversion.nValues);
    for (const p of res.inversion.points) assert.ok(Number.isFinite(p.plaintext.baseline.psnr) && p.plaintext.variants[p.plaintext.best]);
  }
  const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  for (const heading of ['## CIFAR-10', '## Imagenette', '5.2 What the cloud answers', 'Label inference', 'The same traffic attacks on the default key', 'Known-plaintext attacks', 'The same known-plaintext attacks on the default key', 'Defences']) assert.ok(md.includes(heading), heading);
  assert.ok(md.includes('0.07% / 0.52%') && md.includes('4.3 vs 1.97'), "the paper's numbers beside ours");
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.ok(!/<img[^>]+src="(?!data:)/.test(html) && !/<script|<link|src="http/.test(html), 'the HTML page fetches something');
  assert.ok((html.match(/src="data:image\/png;base64,/g) ?? []).length >= 4, 'PNG figures embedded');
  const grid = await sharp(path.join(out, 'figures', 'imagenette-side-by-side.png')).metadata();
  assert.ok((grid.width ?? 0) > (grid.height ?? 0), 'side-by-side figure: a row of originals above a row of scrambled images');
  const again = await owsd(['analyze', 'report', '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), md);
});

test('owsd analyze: bad names are clear errors', async () => {
  const bad = await owsd(['analyze', '--dataset', 'mnist', '--quick', '--out', tempDir()]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown dataset "mnist": expected one of cifar-10, imagenette-val/);
  const part = await owsd(['analyze', '--part', 'everything', '--quick', '--out', tempDir()]);
  assert.match(part.stderr, /unknown part "everything": expected one of traffic, inversion, inversion-noisy, defences/);
  const none = await owsd(['analyze', 'report', '--out', tempDir()]);
  assert.match(none.stderr, /results does not exist: run owsd analyze first/);
});

test('the security report puts the any-inverter bound beside every attack success, from the committed bound study; the committed report.md is that rendering', async () => {
  const out = path.join(repoRoot, 'reports/security');
  const bound = boundBeside(out);
  assert.ok(bound.available, 'reports/security/bound/results.json holds the bound study');
  const { markdown } = renderSecurityMarkdown(readSecurityResults(out), bound, new Map());
  // The opening: the default key's bound in the bound's own words, for both data sets.
  const imagenetteDefault = bound.sentence('imagenette-val', 'mobilenetv2-12-int8', DEFAULT_EMBEDDING_NOISE, [1, 5, 20, 100])!;
  assert.match(imagenetteDefault, /^an observer who could invert the scrambler and knew 1 \/ 5 \/ 20 \/ 100 labels per class would label 10\.8% \/ 11\.0% \/ 11\.8% \/ 14\.9% of the traffic \(chance 10\.0%\); knowing no label, only public images of the same classes, 38\.0%; which of 100 candidate images was sent, 55\.4%/);
  assert.ok(markdown.includes(`- Imagenette: ${imagenetteDefault}.`));
  // Beside the label-inference table of the paper's design (0x), a row and the sentence.
  assert.ok(markdown.includes('| any-inverter bound (mobilenetv2-12-int8, noise 0x) | 92.7% | 94.7% | 94.9% |'));
  assert.ok(markdown.includes('**Against any inverter, no noise:** an observer who could invert the scrambler and knew 1 / 5 / 20 labels per class would label 92.7% / 94.7% / 94.9% of the traffic'));
  // Beside the noisy design's attacks: bound rows at 0x and 4x; re-identification by an inverter is not protected by noise.
  assert.ok(markdown.includes('| **any-inverter bound**, k = 20 (best of our attackers on the generator\'s input, mobilenetv2-12-int8) | 94.9% | 70.1% |'));
  assert.ok(markdown.includes('0x 100.0%, 4x 100.0%, 12x 55.4% (bound study, mobilenetv2-12-int8'));
  // The defences table: the bound at k = 5 where the study measured the setting, "not measured" where it did not.
  assert.match(markdown, /\| MobileNetV2 encoder, ShuffleNetV2 cloud; embedding noise 4x RMS \|[^\n]*\| 13% \(chance 10%\) \| 69\.1% \|/);
  assert.match(markdown, /embedding noise 1x RMS \|[^\n]*\| not measured \|/);
  assert.match(markdown, /pool of 2 keys \|[^\n]*\| not measured \(key pool\) \|/);
  assert.match(markdown, /weak encoder MobileNet v1 0\.25[^\n]*noise 4x RMS \|[^\n]*\| not measured \|/);
  // The leak budget beside the submission budget.
  assert.ok(markdown.includes(`**Leak budget**`) && markdown.includes(leakBudgetSentences(leakBudgetFor(DEFAULT_EMBEDDING_NOISE))[0]!));
  // Without the study the report says nothing about a bound rather than inventing one.
  const without = renderSecurityMarkdown(readSecurityResults(out)).markdown;
  assert.ok(!without.includes('| any-inverter bound') && !without.includes('**any-inverter bound**') && !without.includes('Against any inverter'));
  // The committed report is the rendering of the committed results (with the 8x traffic study beside them).
  const committed = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  const dir = tempDir('owsd-report-');
  fs.cpSync(out, dir, { recursive: true });
  await renderSecurityReport(dir);
  assert.equal(fs.readFileSync(path.join(dir, 'report.md'), 'utf8'), committed, 're-render: owsd analyze report');
});

test('the paper report puts the any-inverter bound beside its label-leak attack where the bound study measured the setting, with the bound\'s own chance when the attack used fewer classes', async () => {
  const out = path.join(repoRoot, 'reports/paper');
  const bound = BoundLookup.read(path.join(repoRoot, 'reports/security/bound/results.json'));
  const { markdown } = renderMarkdown(readResults(out), bound);
  // CIFAR-10 with MobileNetV2, paper design (0x), k = 5: 51.6% on the generator's input, beside the 1-NN pixel attack.
  assert.match(markdown, /\| CIFAR-10 \| 86\.5 \|[^\n]*\| 50% \(chance 10%\); any-inverter bound 51\.6% \|/);
  // CIFAR-100: the attack ran on 20 classes (chance 5%), the bound on all 100 (chance 1%): both chances are said.
  assert.match(markdown, /51% \(chance 5%\); any-inverter bound 33\.0% on all 100 classes, chance 1\.0%/);
  // The design study's noisy row (4x) beside its best attackers at each k.
  assert.match(markdown, /fresh embedding noise per submission, 4x RMS[^\n]*14 \(pooled pixels\); any-inverter bound 30\.7%/);
  // The weak tfjs encoder was not in the bound study: no figure is borrowed for it.
  for (const line of markdown.split('\n').filter((l) => l.includes('weak encoder') && l.startsWith('|'))) assert.ok(!line.includes('any-inverter'), line);
  // Without the study (a report folder elsewhere), no bound at all; the committed report is the rendering with it.
  assert.ok(!renderMarkdown(readResults(out)).markdown.includes('; any-inverter bound'));
  const dir = path.join(tempDir('owsd-paper-'), 'paper');
  fs.cpSync(out, dir, { recursive: true });
  fs.mkdirSync(path.join(dir, '..', 'security', 'bound'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'reports/security/bound/results.json'), path.join(dir, '..', 'security', 'bound', 'results.json'));
  await renderReport(dir);
  assert.equal(fs.readFileSync(path.join(dir, 'report.md'), 'utf8'), fs.readFileSync(path.join(out, 'report.md'), 'utf8'), 're-render: owsd experiment report');
});
