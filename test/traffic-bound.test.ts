/**
 * The any-inverter bound in `owsd fit` and `owsd eval` (src/pipeline/bound.ts, rendered by src/cli/render.ts, which
 * `owsd demo` prints through the same functions): the real commands' text and --json on a small Imagenette run,
 * and the library function on synthetic embeddings (which k are reported, the noise rule and the noise it names).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DEFAULT_EMBEDDING_NOISE, trafficBound, type TrafficBound } from '../src/index.js';
import { startCloudServer, type RunningCloud } from '../src/server/index.js';
import { BOUND_NOISES, NOISE_RULE_K, noiseRuleLimit } from '../src/research.js';
import { dataDir, modelsDir, runOwsd, tempDir } from './helpers.js';

const env = { ...process.env, OWSD_MODELS: modelsDir };
const owsd = (args: string[]) => runOwsd(args, env);

/** 10 Gaussian classes of `per` rows in d dimensions, seeded. */
function synthetic(per: number, d = 64, classes = 10, spread = 3): { e: Float32Array; y: number[] } {
  let s = 12345;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648 - 0.5);
  const means = Array.from({ length: classes }, () => Float32Array.from({ length: d }, () => 2 * r()));
  const e = new Float32Array(classes * per * d);
  const y: number[] = [];
  for (let i = 0; i < classes * per; i++) {
    const c = i % classes;
    y.push(c);
    for (let j = 0; j < d; j++) e[i * d + j] = means[c]![j]! + spread * r();
  }
  return { e, y };
}

test('trafficBound: k = 1, 5, 20 where every class has k + 5 images; public means; seeded', async () => {
  const { e, y } = synthetic(30);
  const b = (await trafficBound(e, 64, y, 4, { seed: 3 }))!;
  assert.deepEqual(Object.keys(b.k), ['1', '5', '20']);
  assert.equal(b.images, 300);
  assert.equal(b.chance, 0.1);
  assert.equal(b.publicImages + b.trafficImages, 300);
  assert.equal(b.queries['20'], 100);
  for (const v of [...Object.values(b.k), b.publicMeans!]) assert.ok(v >= 0 && v <= 1);
  assert.equal(b.rule, undefined, 'the rule is checked only when asked (fit)');
  assert.deepEqual({ ...(await trafficBound(e, 64, y, 4, { seed: 3 }))!, seconds: 0 }, { ...b, seconds: 0 });
  // 20 per class: k = 20 would leave no query: only 1 and 5.
  const few = (await trafficBound(synthetic(20).e, 64, synthetic(20).y, 4, { seed: 3 }))!;
  assert.deepEqual(Object.keys(few.k), ['1', '5']);
  // The cap: balanced per class.
  const capped = (await trafficBound(e, 64, y, 4, { seed: 3, maxImages: 100 }))!;
  assert.equal(capped.images, 100);
  assert.deepEqual(Object.keys(capped.k), ['1', '5']);
  assert.equal(await trafficBound(e.subarray(0, 64), 64, [0], 4, { seed: 3 }), null);
  // Too few images for public means, or identical images with no noise (a singular scatter): no figure, no failure.
  const tiny = (await trafficBound(e.subarray(0, 30 * 64), 64, y.slice(0, 30), 0, { seed: 3 }))!;
  assert.equal(tiny.publicMeans, null);
  assert.match(tiny.publicMeansNote!, /a class has 3 images; public means need 4/);
  assert.deepEqual(Object.keys(tiny.k), []);
  const same = new Float32Array(40 * 64);
  for (let i = 0; i < 40; i++) same.fill(i % 2, i * 64, (i + 1) * 64);
  const flat = (await trafficBound(same, 64, Array.from({ length: 40 }, (_, i) => i % 2), 0, { seed: 3 }))!;
  assert.equal(flat.publicMeans, null);
  assert.match(flat.publicMeansNote!, /not positive definite/);
});

test('trafficBound with the rule: more noise labels less; a failing figure names the smallest grid noise that passes', async () => {
  const { e, y } = synthetic(40);
  const clean = (await trafficBound(e, 64, y, 0, { seed: 1, checkRule: true }))!;
  const r = clean.rule!;
  assert.equal(r.k, NOISE_RULE_K);
  assert.equal(r.limit, noiseRuleLimit('kappa', 0.1));
  assert.equal(r.ok, false, `no noise: ${clean.k['20']}`);
  assert.equal(r.tried[0]!.noise, 0);
  assert.equal(r.tried[0]!.accuracy, clean.k['20']);
  // Every noise tried before the suggestion fails; the suggestion passes.
  assert.ok(r.suggestedNoise !== null, JSON.stringify(r.tried));
  assert.deepEqual(r.tried.map((t) => t.noise), BOUND_NOISES.filter((n) => n <= r.suggestedNoise!));
  for (const t of r.tried.slice(0, -1)) assert.ok(t.accuracy >= r.limit, JSON.stringify(t));
  assert.ok(r.tried.at(-1)!.accuracy < r.limit);
  const atSuggested = (await trafficBound(e, 64, y, r.suggestedNoise!, { seed: 1, checkRule: true }))!;
  assert.equal(atSuggested.rule!.ok, true);
  assert.deepEqual(atSuggested.rule!.tried, [{ noise: r.suggestedNoise!, accuracy: r.tried.at(-1)!.accuracy }]);
  assert.ok(atSuggested.k['20']! < clean.k['20']!);
});

test('owsd fit and eval print the bound (text and --json); fit warns with no noise and names the noise that meets the rule', async () => {
  const dir = tempDir('owsd-bound-');
  const keyFile = path.join(dir, 'k.key');
  const cloud: RunningCloud = await startCloudServer({ model: 'cifar10-resnet20', modelsDir, logger: false });
  try {
    // A deterministic key (no noise): the observer who inverts it sees the clean embeddings.
    assert.equal((await owsd(['key', 'new', '--out', keyFile, '--image-size', '32', '--noise', '0', '--budget', '1000'])).code, 0);
    const bundle = path.join(dir, 'b');
    const common = ['--key', keyFile, '--models', modelsDir];
    const fitArgs = ['fit', ...common, '--encoder', 'mobilenetv2-12-int8', '--cloud', cloud.url, '--model-name', 'cifar10-resnet20', '--data', path.join(dataDir, 'imagenette-val'), '--labels', '2', '--per-label', '40', '--test-fraction', '0.3', '--epochs', '5', '--hidden', '16', '--out', bundle];
    const fj = await owsd([...fitArgs, '--json']);
    assert.equal(fj.code, 0, fj.stderr);
    const b = JSON.parse(fj.stdout).bound as TrafficBound;
    // 28 training images per label: k = 1, 5 and 20.
    assert.equal(b.noise, 0);
    assert.equal(b.chance, 0.5);
    assert.equal(b.images, 56);
    assert.deepEqual(Object.keys(b.k), ['1', '5', '20']);
    assert.equal(b.publicImages + b.trafficImages, 56);
    // Two Imagenette labels, clean MobileNetV2 embeddings: the observer labels nearly everything.
    assert.ok(b.k['20']! > 0.9, JSON.stringify(b));
    assert.equal(b.rule!.ok, false);
    assert.equal(b.rule!.limit, noiseRuleLimit('twice-chance', 0.5)); // on two classes, the κ limit (55.6%)
    assert.equal(b.rule!.limit, noiseRuleLimit('kappa', 0.5));
    // The resumed run sends nothing again and prints the same figures in words.
    const ft = await owsd(fitArgs);
    assert.equal(ft.code, 0, ft.stderr);
    const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
    assert.ok(ft.stdout.includes(`any-inverter bound (key no noise; 56 of these images, seeded): an observer who could invert the scrambler and knew 1 / 5 / 20 labels per class would label ${pc(b.k['1']!)} / ${pc(b.k['5']!)} / ${pc(b.k['20']!)} of your traffic (chance 50.0%); knowing no label, only public images of your classes (here: ${b.publicImages} other images of this run), ${pc(b.publicMeans!)}`), ft.stdout);
    const fix = b.rule!.suggestedNoise === null ? /no noise up to 16x meets it here/ : new RegExp(`owsd key new --noise ${b.rule!.suggestedNoise}\` would meet it here`);
    assert.match(ft.stdout, /Warning: with 20 labels per class that is above the default noise rule's limit of 55\.6% on this data/);
    assert.match(ft.stdout, fix);

    // eval on the held-out 12 per label: k = 1 and 5 only, same object.
    const ej = await owsd(['eval', '--bundle', bundle, ...common, '--json']);
    assert.equal(ej.code, 0, ej.stderr);
    const eb = JSON.parse(ej.stdout).bound as TrafficBound;
    assert.equal(eb.images, 24);
    assert.deepEqual(Object.keys(eb.k), ['1', '5']);
    assert.equal(eb.rule, undefined);
    const et = await owsd(['eval', '--bundle', bundle, ...common]);
    assert.equal(et.code, 0, et.stderr);
    assert.ok(et.stdout.includes(`and knew 1 / 5 labels per class would label ${pc(eb.k['1']!)} / ${pc(eb.k['5']!)} of your traffic (chance 50.0%)`), et.stdout);
    assert.doesNotMatch(et.stdout, /Warning/);
  } finally {
    await cloud.close();
  }
});

test('owsd demo carries the same bound object in fit and eval (--json) and prints it (text); the demo key\'s default noise', async () => {
  const args = ['demo', '--models', modelsDir, '--data-dir', dataDir, '--labels', '2', '--per-label', '40', '--image-size', '32', '--cloud-model', 'cifar10-resnet20'];
  const dj = await owsd([...args, '--work', tempDir('owsd-bound-demo-'), '--json']);
  assert.equal(dj.code, 0, dj.stderr);
  const d = JSON.parse(dj.stdout) as { fit: { bound: TrafficBound }; eval: { bound: TrafficBound } };
  for (const b of [d.fit.bound, d.eval.bound]) {
    assert.equal(b.noise, DEFAULT_EMBEDDING_NOISE);
    assert.equal(b.chance, 0.5);
    assert.ok(b.publicMeans !== null && b.publicMeans >= 0 && b.publicMeans <= 1 && b.publicImages > 0);
  }
  assert.deepEqual(Object.keys(d.fit.bound.k), ['1', '5', '20']);
  assert.deepEqual(Object.keys(d.eval.bound.k), ['1', '5']);
  assert.ok(d.fit.bound.rule && d.eval.bound.rule === undefined);
  const dt = await owsd([...args, '--work', tempDir('owsd-bound-demo-')]);
  assert.equal(dt.code, 0, dt.stderr);
  const pc = (x: number) => `${(100 * x).toFixed(1)}%`;
  // Seeded: the text run prints the JSON run's figures.
  assert.ok(dt.stdout.includes(`any-inverter bound (key noise ${DEFAULT_EMBEDDING_NOISE}x; 56 of these images, seeded): an observer who could invert the scrambler and knew 1 / 5 / 20 labels per class would label ${['1', '5', '20'].map((k) => pc(d.fit.bound.k[k]!)).join(' / ')} of your traffic (chance 50.0%)`), dt.stdout);
  assert.ok(dt.stdout.includes(`any-inverter bound (key noise ${DEFAULT_EMBEDDING_NOISE}x; 24 of these images, seeded): an observer who could invert the scrambler and knew 1 / 5 labels per class would label ${['1', '5'].map((k) => pc(d.eval.bound.k[k]!)).join(' / ')} of your traffic`), dt.stdout);
  assert.equal(dt.stdout.includes('Warning: with 20 labels per class'), !d.fit.bound.rule!.ok);
});
