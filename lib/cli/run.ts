// Parses argv with the command tree and runs the command; every error ends here, printed as one
// sentence (output.ts) with the exit code that says what kind of failure it was. The entry of the
// CLI's bundle (dist/lib/cli/tp.cjs, see main.cts) and of main.ts.
import { buildProgram } from './program.js';
import { exitCodeOf, parseOutput, printError, type OutputFormat } from './output.js';

export async function main(): Promise<void> {
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
    await printError(format, err, { debug: program.opts().debug === true, argv: process.argv.slice(2) });
    process.exit(exitCodeOf(err));
  }
}
