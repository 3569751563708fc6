#!/usr/bin/env node
/** `owsd`: the command line, a thin layer over the library (src/index.ts). */
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command('owsd')
  .description('One Way Scrambling by Deconvolution: use a cloud image classifier without ever sending it an image')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str.startsWith('error') ? `owsd: ${str}` : str) });

registerCommands(program);

await program.parseAsync(process.argv);
