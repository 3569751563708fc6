#!/usr/bin/env node
/** `owsd`: the command line, a thin layer over the library (src/index.ts). */
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { configureProgram, exitOnSignals } from './run.js';

const program = configureProgram(new Command('owsd'))
  .description('One Way Scrambling by Deconvolution: use a cloud image classifier without ever sending it an image')
  .version('0.1.0');

// Output piped into `head` and closed early: stop quietly, as other command-line tools do (no stack trace).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

exitOnSignals();
registerCommands(program);

await program.parseAsync(process.argv);
