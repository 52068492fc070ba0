// The `tp` command tree, built without running anything: run.ts parses argv with it, and tests
// parse hint command lines with it (test/unit/cli/hints.test.ts) to prove every flag a hint names
// exists. commands/*.ts define the commands and flags and import nothing heavy; each command's
// action (actions/*.ts) is imported when it runs (lazy.ts, #14). Errors are thrown and printed by
// run.ts.
import { Command, Option } from 'commander';
import { TP_VERSION } from '../common/version.js';
import { parseOutput, type OutputFormat } from './output.js';
import { registerConnect } from './commands/connect.js';
import { registerStatus } from './commands/status.js';
import { registerSimple } from './commands/simple.js';
import { registerHelm } from './commands/helm.js';
import { registerEngage } from './commands/engage.js';
import { registerConfig } from './commands/config.js';
import { registerCompletion } from './commands/completion.js';
import { registerGatherLogs } from './commands/gather-logs.js';

export interface GlobalOptions {
  output?: string;
  debug?: boolean;
}

/** The output format, validated once, for every command. */
export function outputFormat(cmd: Command): OutputFormat {
  return parseOutput(cmd.optsWithGlobals().output as string | undefined);
}

export function buildProgram(): Command {
  const program = new Command('tp')
    .description('Reach a Kubernetes cluster from your workstation and send its traffic to local code')
    .version(TP_VERSION, '--version', 'print the version of this tp client (`tp version` also asks the daemons)')
    .addOption(new Option('-o, --output <format>', 'output format: json or yaml (default: human-readable)'))
    .addOption(new Option('--debug', 'on errors, also print the details and stack traces that go to the logs'))
    // Every subcommand's help lists -o/--output and --debug (they are given anywhere on the line).
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .configureOutput({
      // commander's own errors (unknown flag, missing argument) in tp's one-sentence style
      outputError: (str, write) => write(`tp: ${str.replace(/^error: /, '').trim()}; see \`tp --help\`.\n`),
    })
    .exitOverride();
  registerConnect(program);
  registerStatus(program);
  registerSimple(program);
  registerHelm(program);
  registerEngage(program);
  registerConfig(program);
  registerGatherLogs(program);
  registerCompletion(program);
  return program;
}

/** Every command of the tree, depth first (for help checks and completion scripts). */
export function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}
