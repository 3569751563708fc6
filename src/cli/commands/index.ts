/** Every command group, registered in the order of the data flow. */
import type { Command } from 'commander';
import { registerModels } from './models.js';
import { registerKey } from './key.js';
import { registerScramble } from './scramble.js';
import { registerCloud } from './cloud.js';
import { registerPipeline } from './pipeline.js';
import { registerExperiment } from './experiment.js';
import { registerAnalyze } from './analyze.js';
import { registerServe } from './serve.js';
import { registerBatch } from './batch.js';

export function registerCommands(program: Command): void {
  registerModels(program);
  registerKey(program);
  registerScramble(program);
  registerCloud(program);
  registerPipeline(program);
  registerServe(program);
  registerBatch(program);
  registerExperiment(program);
  registerAnalyze(program);
}
