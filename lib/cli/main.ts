#!/usr/bin/env -S node --
// The `tp` command. Parses flags, starts the user daemon on demand, talks to it over its unix
// socket, prints. No cluster logic lives here.
// The shebang runs `node -- main.js ARGS`: Node 20 takes an `--env-file` anywhere in its argv as
// its own option, even after the script, and `tp intercept --env-file F` would load F into tp.
import { Command, Option } from 'commander';
import { TP_VERSION } from '../common/version.js';
import { CliError, parseOutput, printError, type OutputFormat } from './output.js';
import { registerConnect } from './commands/connect.js';
import { registerStatus } from './commands/status.js';
import { registerSimple } from './commands/simple.js';
import { registerHelm } from './commands/helm.js';
import { registerEngage } from './commands/engage.js';

export interface GlobalOptions {
  output: OutputFormat;
}

const program = new Command('tp')
  .description('Reach a Kubernetes cluster from your workstation and send its traffic to local code')
  .version(TP_VERSION, '--version', 'print the version of this tp client (`tp version` also asks the daemons)')
  .addOption(new Option('-o, --output <format>', 'output format: json or yaml (default: human-readable)'))
  .showSuggestionAfterError(true)
  .configureOutput({
    // commander's own errors (unknown flag, missing argument) in tp's one-sentence style
    outputError: (str, write) => write(`tp: ${str.replace(/^error: /, '').trim()}; see \`tp --help\`.\n`),
  })
  .exitOverride();

/** The output format, validated once, for every command. */
export function outputFormat(cmd: Command): OutputFormat {
  return parseOutput(cmd.optsWithGlobals().output as string | undefined);
}

registerConnect(program);
registerStatus(program);
registerSimple(program);
registerHelm(program);
registerEngage(program);

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
  printError(format, err);
  process.exit(err instanceof CliError && err.code === 'E_FLAG' ? 2 : 1);
}
