/**
 * The experiment suite end to end, in quick mode (what CI runs): `owsd experiment all --quick` through the CLI,
 * with real models, real data and the embedded clouds on loopback; then the report's content is checked against
 * the JSON results it was rendered from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { dataDir, modelsDir, repoRoot, tempDir, runOwsd } from './helpers.js';
import { mergeResults } from '../src/experiments/run.js';
import { EXPERIMENTS, type ExperimentResult } from '../src/experiments/index.js';
import { renderMarkdown } from '../src/report/render.js';

const env = { ...process.env, OWSD_MODELS: modelsDir, OWSD_DATA: dataDir };

const owsd = (args: string[]) => runOwsd(args, env);

const pct1 = (v: number) => (v * 100).toFixed(1);

test('owsd experiment all --quick: every experiment runs on real data and the report shows what the JSON holds', { timeout: 15 * 60_000 }, async () => {
  const out = tempDir('owsd-experiment-');
  const r = await owsd(['experiment', 'all', '--quick', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const results = EXPERIMENTS.map((e) => JSON.parse(fs.readFileSync(path.join(out, 'results', `${e.name}.json`), 'utf8')) as ExperimentResult);
  for (const res of results) {
    assert.equal(res.quick, true);
    assert.deepEqual(res.seeds, [0, 1]);
    const expected = EXPERIMENTS.find((e) => e.name === res.name)!.settings(true);
    assert.deepEqual(res.settings.map((s) => s.id), expected.map((s) => s.id), res.name);
    for (const s of res.settings) {
      assert.equal(s.repetitions.length, 2, `${res.name}/${s.id}`);
      for (const rep of s.repetitions) {
        assert.ok(rep.train > 0 && rep.test > 0, `${res.name}/${s.id}: empty split`);
        for (const acc of Object.values(rep.accuracy)) assert.ok(acc!.top1 >= 0 && acc!.top1 <= acc!.top5 && acc!.top5 <= 1);
      }
    }
  }
  const byName = new Map(results.map((x) => [x.name, x]));

  // Real behaviour, robust even on a handful of images: the cloud classifies plaintext Imagenette well, and the
  // scrambled pixels give the labels away to a 1-NN observer far above chance.
  const gain = byName.get('cloud-gain')!.settings.find((s) => s.id === 'imagenette-shufflenet-v2-12-qdq')!;
  assert.ok(gain.summary.cloudPlaintextTop1!.mean > 0.5, `MobileNetV2 on plaintext Imagenette: ${gain.summary.cloudPlaintextTop1!.mean}`);
  const subset = byName.get('label-subsets')!.settings.find((s) => s.id === 'imagenette-10')!;
  assert.ok(subset.attack && subset.attack.accuracy > 3 * subset.attack.chance, `attack ${JSON.stringify(subset.attack)}`);
  // Ensembles really concatenate: the 3-encoder setting has a wider embedding than the 1-encoder one.
  const enc = byName.get('encoders')!;
  assert.equal(enc.comparisons.length, 3);
  assert.deepEqual(enc.settings.map((s) => s.features.encoders.length), [1, 2, 3]);
  // Several keys: one submission per key and image.
  const perKey = JSON.parse(r.stderr.match(/per key: (\{.*\})/)?.[1] ?? '{}') as Record<string, number>;
  assert.ok(perKey['k1@256']! > 0 && perKey['k1@256'] === perKey['k2@256'], r.stderr.slice(-500));

  // The report: every section, the paper's numbers beside ours, numbers as in the JSON.
  const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  for (const res of results) assert.ok(md.includes(res.title), `section ${res.title}`);
  for (const paper of ['95.5', '86.5', '67.9', '93.3', '77.7']) assert.ok(md.includes(paper), `paper figure ${paper}`);
  assert.match(md, /Quick mode/);
  assert.ok(md.includes(`| Imagenette, 10 labels (paper: ImageNet 10-label subset) | 95.5 | ${pct1(subset.summary.top1.both!.mean)} (${pct1(subset.summary.top1.both!.std)})`), 'headline row');
  // The HTML page is self-contained: figures inlined, nothing fetched.
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.ok((html.match(/<svg/g) ?? []).length >= 3, 'figures inlined');
  assert.ok(!/<img|src="http|href="http|<script|<link/.test(html), 'external resource in the HTML');
  for (const f of ['train-size', 'image-size', 'cloud-gain']) {
    const meta = await sharp(path.join(out, 'figures', `${f}.png`)).metadata();
    assert.ok((meta.width ?? 0) > 500 && (meta.height ?? 0) > 300, `${f}.png ${meta.width}x${meta.height}`);
    assert.match(fs.readFileSync(path.join(out, 'figures', `${f}.svg`), 'utf8'), /^(<\?xml[^>]*>\s*)?<svg /);
  }
  // Re-rendering from the same results gives the same Markdown.
  const again = await owsd(['experiment', 'report', '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'report.md'), 'utf8'), md);
  assert.equal(renderMarkdown(results).markdown, md);
});

test('owsd experiment: unknown names and missing results are clear errors', async () => {
  const bad = await owsd(['experiment', 'no-such-experiment', '--out', tempDir()]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown experiment "no-such-experiment": expected all or one of same-labels, /);
  assert.ok(!bad.stderr.includes('    at '), 'stack trace');
  const empty = tempDir();
  const none = await owsd(['experiment', 'report', '--out', empty]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /results does not exist: run owsd experiment first/);
  fs.mkdirSync(path.join(empty, 'results'));
  fs.writeFileSync(path.join(empty, 'results', 'x.json'), '{"format": "something-else"}');
  const wrong = await owsd(['experiment', 'report', '--out', empty]);
  assert.match(wrong.stderr, /x\.json: expected format owsd-experiment\/1/);
  const noEnv = await runOwsd(['experiment', 'all', '--quick', '--out', empty], { ...process.env, OWSD_MODELS: '', OWSD_DATA: '' });
  assert.notEqual(noEnv.code, 0);
  assert.match(noEnv.stderr, /experiments need the models: set OWSD_MODELS/);
});

test('owsd experiment run --only: some settings merged into the committed results, in the catalog\'s order', async () => {
  const design = EXPERIMENTS.find((e) => e.name === 'design')!;
  const full = JSON.parse(fs.readFileSync(path.join(repoRoot, 'reports/paper/results/design.json'), 'utf8')) as ExperimentResult;
  // Take two rows out of the committed study and merge them back as if --only had just run them.
  const ids = ['imagenette-weak/width-256', 'cifar10/paper'];
  const old = { ...full, settings: full.settings.filter((s) => !ids.includes(s.id)), merged: undefined };
  const fresh: ExperimentResult = { ...full, settings: full.settings.filter((s) => ids.includes(s.id)).reverse(), started: '2026-01-01T00:00:00.000Z', seconds: 10, comparisons: [] };
  const merged = mergeResults(old, fresh, design);
  assert.deepEqual(merged.settings.map((s) => s.id), full.settings.map((s) => s.id));
  assert.deepEqual(merged.settings, full.settings);
  assert.equal(merged.started, full.started);
  assert.equal(merged.seconds, full.seconds + 10);
  assert.deepEqual(merged.merged, [{ settings: [...ids].reverse(), started: fresh.started, seconds: 10, machine: full.machine }]);
  // A fresh row replaces the old one of the same id; the others stay.
  const changed = { ...fresh.settings[0]!, label: 'rerun' };
  const again = mergeResults(merged, { ...fresh, settings: [changed] }, design);
  assert.equal(again.settings.length, full.settings.length);
  assert.equal(again.settings.find((s) => s.id === changed.id)!.label, 'rerun');
  assert.equal(again.merged!.length, 2);
  // Rows that cannot be compared are refused, naming the file.
  assert.throws(() => mergeResults(old, { ...fresh, seeds: [0, 1] }, design, 'r/design.json'), { code: 'OWSD_ERR_BAD_ARGUMENT', message: /r\/design\.json used seeds 0,1,2; --only ran seeds 0,1: pass --repetitions 3/ });
  assert.throws(() => mergeResults(old, { ...fresh, quick: true }, design, 'r/design.json'), { message: /r\/design\.json holds a full run; --only ran quick/ });
  assert.throws(() => mergeResults({ ...old, name: 'ablations' }, fresh, design, 'r/design.json'), { message: /r\/design\.json: not a owsd-experiment\/1 result of experiment design/ });
});

test('owsd experiment run --only: unknown setting ids and a missing results file are clear errors', async () => {
  const out = tempDir();
  const unknown = await owsd(['experiment', 'run', 'design', '--only', 'imagenette-weak/no-such', '--out', out]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /--only: no setting "imagenette-weak\/no-such" in design; its settings: imagenette-weak\/paper, /);
  assert.ok(!unknown.stderr.includes('    at '), 'stack trace');
  const missing = await owsd(['experiment', 'run', 'design', '--only', 'imagenette-weak/size-96-width-256', '--out', out]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /--only merges into .*design\.json, which does not exist: run the whole experiment design first/);
});
