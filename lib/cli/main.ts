#!/usr/bin/env -S node --
// The `tp` command. Parses flags, starts the user daemon on demand, talks to it over its unix
// socket, prints. No cluster logic lives here.
// The shebang runs `node -- main.js ARGS`: Node 20 takes an `--env-file` anywhere in its argv as
// its own option, even after the script, and `tp intercept --env-file F` would load F into tp.
import { buildProgram } from './program.js';
import { exitCodeOf, parseOutput, printError, type OutputFormat } from './output.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
  let format: OutputFormat = 'default';
  try {
    format = parseOutput(program.opts().output as string | undefined);
  } catch {
    // a bad --output is itself the error being printed
  }
  printError(format, err, { debug: program.opts().debug === true, argv: process.argv.slice(2) });
  process.exit(exitCodeOf(err));
}
