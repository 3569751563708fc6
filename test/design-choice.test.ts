/** The default key design is the one the committed design study chose, by the rule in design-choice.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chooseDesign, createKey, DEFAULT_BASE_CHANNELS, DEFAULT_EMBEDDING_NOISE, DEFAULT_IMAGE_SIZE, type ExperimentResult } from '../src/index.js';
import { repoRoot } from './helpers.js';

test('owsd key new makes the design the committed design study chose', () => {
  const file = path.join(repoRoot, 'reports/paper/results/design.json');
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as ExperimentResult;
  assert.equal(r.quick, false, 'the committed design study is a full run');
  const choice = chooseDesign(r);
  const key = createKey();
  assert.deepEqual(
    { imageSize: key.generator.imageSize, baseChannels: key.generator.baseChannels, embeddingNoise: key.generator.embeddingNoise },
    { imageSize: choice.imageSize, baseChannels: choice.baseChannels, embeddingNoise: choice.embeddingNoise },
    `the study chose ${choice.id}: update DEFAULT_IMAGE_SIZE / DEFAULT_BASE_CHANNELS / DEFAULT_EMBEDDING_NOISE`,
  );
  assert.deepEqual([DEFAULT_IMAGE_SIZE, DEFAULT_BASE_CHANNELS, DEFAULT_EMBEDDING_NOISE], [choice.imageSize, choice.baseChannels, choice.embeddingNoise]);
  // The rule picks the least attackable of the designs that keep the accuracy: here the attack is under twice chance.
  assert.ok(choice.attack.accuracy < 0.2, `best attack at k=${choice.attack.k}: ${choice.attack.accuracy}`);
});
