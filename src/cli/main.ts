#!/usr/bin/env node
/** `owsd`: the command line, a thin layer over the library (src/index.ts). */
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { printJson, wantsJson } from './run.js';

const program = new Command('owsd')
  .description('One Way Scrambling by Deconvolution: use a cloud image classifier without ever sending it an image')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({
    outputError: (str, write) => {
      // With --json, a usage error (unknown option, missing required option) is also JSON on stdout.
      if (wantsJson() && str.startsWith('error')) {
        const message = str.split('\n')[0]!.replace(/^error: /, '');
        const flag = /'(--[a-z-]+)/.exec(message)?.[1];
        printJson({ error: message, code: 'OWSD_ERR_BAD_ARGUMENT', ...(flag ? { field: flag } : {}) });
      }
      write(str.startsWith('error') ? `owsd: ${str}` : str);
    },
  });

// Output piped into `head` and closed early: stop quietly, as other command-line tools do (no stack trace).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

registerCommands(program);

await program.parseAsync(process.argv);
