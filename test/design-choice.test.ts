/**
 * The default key design: the generator is the one the committed design study chose, by the rule in
 * design-choice.ts; the per-submission noise is the one the committed any-inverter bound study chose, by the rule
 * in noise-choice.ts (the design study's own noise choice, 4x, is superseded by it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createKey, DEFAULT_EMBEDDING_NOISE, DEFAULT_IMAGE_SIZE } from '../src/index.js';
import { chooseDesign, chooseNoise, withLargerSamples, type BoundStudyResult, type ExperimentResult } from '../src/research.js';
import { DEFAULT_BASE_CHANNELS } from '../src/key/keyfile.js';
import { repoRoot } from './helpers.js';

test('owsd key new makes the generator the committed design study chose', () => {
  const file = path.join(repoRoot, 'reports/paper/results/design.json');
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ExperimentResult;
  assert.equal(r.quick, false, 'the committed design study is a full run');
  const choice = chooseDesign(r);
  // The generator's size and width are now chosen by cost among the equally accurate ones (the bound does not
  // depend on them): test/generator-choice.test.ts checks DEFAULT_IMAGE_SIZE and DEFAULT_BASE_CHANNELS. The
  // default is no larger and no wider than this rule's choice.
  assert.ok(DEFAULT_IMAGE_SIZE <= choice.imageSize && createKey().generator.imageSize === DEFAULT_IMAGE_SIZE);
  assert.ok(DEFAULT_BASE_CHANNELS <= choice.baseChannels, 'the default generator is no wider than the study\'s choice');
  // The rule picks the least attackable of the designs that keep the accuracy: here the attack is under twice chance.
  assert.ok(choice.attack.accuracy < 0.2, `best attack at k=${choice.attack.k}: ${choice.attack.accuracy}`);
  // The design study chose a noisy design; how much noise is now the bound study's choice (below).
  assert.ok(choice.embeddingNoise > 0);
});

test('owsd key new adds the noise the committed any-inverter bound study chose by the noise rule', () => {
  const r = JSON.parse(fs.readFileSync(path.join(repoRoot, 'reports/security/bound/results.json'), 'utf8')) as BoundStudyResult;
  const large = JSON.parse(fs.readFileSync(path.join(repoRoot, 'reports/security/bound-large/results.json'), 'utf8')) as BoundStudyResult;
  assert.equal(r.quick, false, 'the committed bound study is a full run');
  const choice = chooseNoise(withLargerSamples(r, large));
  assert.ok(choice.noise !== null, 'the rule picks a noise of the grid');
  assert.equal(DEFAULT_EMBEDDING_NOISE, choice.noise, `the rule picks ${choice.noise}x: update DEFAULT_EMBEDDING_NOISE`);
  assert.equal(createKey().generator.embeddingNoise, choice.noise);
});
