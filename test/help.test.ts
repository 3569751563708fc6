/**
 * Help texts: every command's `owsd <cmd> --help` (a real process, COLUMNS=80, stdout a pipe) fits 80 columns,
 * marks each required option `(required)` and lists it before the others; every command has a description; fit
 * shows its defaults; demo takes --data like the others (old --data-dir still accepted, not shown); a bare
 * `owsd analyze` does not start hours of work; `owsd analyze traffic` (the traffic study alone) names a bad flag or data
 * set before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerCommands } from '../src/cli/commands/index.js';
import { configureProgram } from '../src/cli/run.js';
import { runOwsd } from './helpers.js';

const env = { ...process.env, COLUMNS: '80' };

/** Every command, as the words that name it, from the same registration the CLI uses. */
function allCommands(): Array<{ words: string[]; cmd: Command }> {
  const program = configureProgram(new Command('owsd'));
  registerCommands(program);
  const out: Array<{ words: string[]; cmd: Command }> = [{ words: [], cmd: program }];
  const walk = (c: Command, words: string[]): void => {
    for (const sub of c.commands) {
      out.push({ words: [...words, sub.name()], cmd: sub });
      walk(sub, [...words, sub.name()]);
    }
  };
  walk(program, []);
  return out;
}

test('every command: help fits 80 columns, has a description, required options marked and first', async () => {
  const commands = allCommands();
  assert.ok(commands.length > 20, `found ${commands.length} commands`);
  const queue = [...commands];
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const name = ['owsd', ...c.words].join(' ');
      const r = await runOwsd([...c.words, '--help'], env);
      if (r.code !== 0) failures.push(`${name} --help: exit ${r.code}: ${r.stderr}`);
      for (const line of r.stdout.split('\n')) if (line.length > 80) failures.push(`${name}: ${line.length} columns: ${line}`);
      if (c.words.length > 0 && !c.cmd.description()) failures.push(`${name}: no description`);
      const options = r.stdout.slice(r.stdout.indexOf('Options:')).split('\n').filter((l) => /^ {2}(-\w, )?--/.test(l));
      const required = c.cmd.options.filter((o) => o.mandatory).map((o) => o.long!);
      for (const flag of required) {
        const line = options.find((l) => l.includes(`${flag} `) || l.endsWith(flag));
        if (!line || !line.includes('(required)')) failures.push(`${name}: ${flag} is required but not marked: ${line}`);
      }
      const firstOptional = options.findIndex((l) => !l.includes('(required)'));
      if (firstOptional >= 0 && options.slice(firstOptional).some((l) => l.includes('(required)'))) failures.push(`${name}: a required option after an optional one`);
      if (r.stdout.includes('(default: [])')) failures.push(`${name}: shows (default: [])`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
});

test('fit --help shows the defaults of --hidden, --epochs, --timeout and --concurrency', async () => {
  const r = await runOwsd(['fit', '--help'], env);
  for (const [flag, value] of [['--hidden', '512'], ['--epochs', '40'], ['--timeout', '30000'], ['--concurrency', '4']]) {
    assert.match(r.stdout, new RegExp(`${flag} <\\w+>\\s+[^\\n]*\\(default: ${value}\\)`), flag);
  }
});

test('scramble and cloud serve list their essentials before the flags for a bare .onnx path', async () => {
  for (const words of [['scramble'], ['cloud', 'serve']]) {
    const r = await runOwsd([...words, '--help'], env);
    const at = (flag: string) => r.stdout.indexOf(`  ${flag} `);
    const firstBare = at('--resize');
    assert.ok(firstBare > 0);
    for (const flag of words[0] === 'scramble' ? ['--key', '--encoder', '--out', '--models'] : ['--model', '--port', '--host', '--models']) {
      assert.ok(at(flag) > 0 && at(flag) < firstBare, `${words.join(' ')}: ${flag} before --resize`);
    }
  }
});

test('demo takes --data (its old --data-dir is accepted but not shown)', async () => {
  const r = await runOwsd(['demo', '--help'], env);
  assert.match(r.stdout, /\n {2}--data <dir> /);
  assert.ok(!r.stdout.includes('--data-dir'));
  // Both spellings reach the same check: a folder without imagenette-val is named in the error.
  for (const flag of ['--data', '--data-dir']) {
    const bad = await runOwsd(['demo', flag, '/nonexistent-owsd', '--models', '/nonexistent-owsd'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^owsd: .*\/nonexistent-owsd\/imagenette-val does not exist/, bad.stderr);
  }
});

test('a bare `owsd analyze` says what it would run and starts nothing', async () => {
  const r = await runOwsd(['analyze'], { ...env, OWSD_MODELS: '/nonexistent-owsd', OWSD_DATA: '/nonexistent-owsd' });
  assert.equal(r.code, 2);
  assert.match(r.stdout, /Usage: owsd analyze/);
  assert.match(r.stderr, /owsd analyze: give a subcommand\. `owsd analyze run` runs every part \(.*\) on every data set \(.*\): hours/);
});

test('`owsd analyze traffic` runs the traffic study alone: its help names every option; a bad --noise or data set is named, before any work', async () => {
  const help = await runOwsd(['analyze', 'traffic', '--help'], env);
  assert.equal(help.code, 0, help.stderr);
  for (const flag of ['--dataset', '--noise', '--seed', '--out', '--quick', '--models', '--data']) assert.ok(help.stdout.includes(flag), `${flag} in:\n${help.stdout}`);
  const real = { ...env, OWSD_MODELS: process.env.OWSD_MODELS ?? 'models', OWSD_DATA: process.env.OWSD_DATA ?? 'data' };
  const noise = await runOwsd(['analyze', 'traffic', '--noise', '-1'], real);
  assert.equal(noise.code, 2, noise.stderr);
  assert.match(noise.stderr, /--noise expects a number in \[0, /);
  const dataset = await runOwsd(['analyze', 'traffic', '--dataset', 'mnist', '--out', '/nonexistent-owsd/out'], real);
  assert.notEqual(dataset.code, 0);
  assert.match(dataset.stderr, /^owsd: unknown dataset "mnist": expected one of cifar-10, imagenette-val/);
  assert.doesNotMatch(dataset.stderr, /\n\s+at /, 'no stack trace');
});
