// How the CLI prints: human tables by default, `--output json|yaml` for scripts, and errors as one
// sentence plus what to do (JSON errors carry the same fields, on stdout, for scripts).
//
// An error either carries a code (`E_…`, lib/common/errors.ts: tp's own, from the daemons, the
// chart engine, the config) and is printed as its sentence and hint, with the exit code its code
// maps to, or it does not, and then it is a bug: one sentence says so and where the details are.
// Codes are decided where an error happens (a dead daemon socket is E_NOT_RUNNING from
// daemonCall); nothing here guesses from an errno. Stack traces and library internals never
// reach the terminal unless --debug asks for them; they always go to the CLI's log (cli.log).
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { logDir } from '../common/rpc/daemon.js';
import { TpError, codeOf, type ErrorCode } from '../common/errors.js';

export type OutputFormat = 'default' | 'json' | 'yaml';

export function parseOutput(v: string | undefined): OutputFormat {
  if (v === undefined || v === 'default' || v === 'human') return 'default';
  if (v === 'json' || v === 'yaml') return v;
  throw new CliError('E_FLAG', `--output "${v}" is not a format`, 'use --output json or --output yaml');
}

/** An error the CLI itself finds (a flag, a file): a TpError with the positional constructor the
 * commands use. */
export class CliError extends TpError {
  constructor(code: ErrorCode, message: string, hint?: string, opts: { cause?: unknown } = {}) {
    super(code, message, { hint, cause: opts.cause });
    this.name = 'CliError';
  }
}

/** YAML text. The yaml package is loaded only for --output yaml: every command would pay for
 * its import otherwise (#14, CLI start-up). */
export async function toYaml(data: unknown): Promise<string> {
  return (await import('yaml')).stringify(data);
}

/** Prints `data` as JSON/YAML, or calls `human` to print it for people. */
export async function emit(format: OutputFormat, data: unknown, human: () => void): Promise<void> {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(await toYaml(data));
  else human();
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Exit codes (DESIGN §5) by code: 1 for a failure tp explains (any other E_ code, or a system
 * call's error, which says what failed by itself), 2 a bad flag, 3 a bug: E_INTERNAL (a daemon's
 * error without a sentence of its own) or an error without a code. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { E_FLAG: 2, E_INTERNAL: 3 };

/** Hints for codes whose errors may arrive without one (from an older daemon, say). */
const DEFAULT_HINTS: Partial<Record<ErrorCode, string>> = { E_NOT_RUNNING: 'run `tp connect`' };

export function exitCodeOf(err: unknown): number {
  const code = codeOf(err);
  if (code) return EXIT_CODES[code] ?? 1;
  return systemError(err) ? 1 : 3;
}

/** A system call's error (a file that cannot be written), which says what failed by itself. */
function systemError(err: unknown): NodeJS.ErrnoException | undefined {
  const sys = err as NodeJS.ErrnoException | null | undefined;
  return typeof sys?.syscall === 'string' ? sys : undefined;
}

export interface ShownError {
  code: string;
  message: string;
  hint?: string;
}

/** The sentence and hint the user sees for `err`; no stack, no library text for unknown errors. */
export function describeError(err: unknown, cliLog = join(logDir(), 'cli.log')): ShownError {
  const code = codeOf(err);
  if (code && code !== 'E_INTERNAL') {
    const e = err as { message?: unknown; hint?: unknown };
    const message = String(e.message ?? err).split('\n')[0]!;
    const hint = typeof e.hint === 'string' && e.hint ? e.hint : DEFAULT_HINTS[code];
    return { code, message, ...(hint ? { hint } : {}) };
  }
  const sys = code ? undefined : systemError(err);
  if (sys) {
    // Node's "ENOENT: no such file or directory, open 'x'" as a sentence: what, where, why.
    const why = sys.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '');
    return { code: `E_${sys.code || 'SYSTEM'}`, message: `cannot ${sys.syscall}${sys.path ? ` ${sys.path}` : ''}: ${why}` };
  }
  const first = String((err as Error)?.message ?? err)
    .split('\n')[0]!
    .slice(0, 200);
  const where = code === 'E_INTERNAL' ? join(logDir(), 'user-daemon.log') : cliLog;
  return {
    code: 'E_INTERNAL',
    message: `tp failed unexpectedly (a bug in tp: ${first})`,
    hint: `the details are in ${where}; rerun with --debug to see them here, and report it with the archive of \`tp gather-logs\``,
  };
}

/** Every detail of an error: stack, causes, the daemon's own detail. For cli.log and --debug. */
export function errorDetails(err: unknown): string {
  const out: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const e = cur as { stack?: string; message?: string; detail?: string };
    out.push((depth ? 'caused by: ' : '') + (e.stack ?? e.message ?? String(cur)));
    if (typeof e.detail === 'string' && e.detail) out.push(`daemon detail: ${e.detail}`);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out.join('\n');
}

export async function printError(format: OutputFormat, err: unknown, opts: { debug?: boolean; argv?: string[] } = {}): Promise<void> {
  const cliLog = join(logDir(), 'cli.log');
  const shown = describeError(err, cliLog);
  const details = errorDetails(err);
  try {
    mkdirSync(logDir(), { recursive: true });
    appendFileSync(
      cliLog,
      JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: shown.message, code: shown.code, argv: opts.argv, details }) +
        '\n',
    );
  } catch {
    // the log is a convenience; the sentence below is what matters
  }
  if (format === 'json' || format === 'yaml') {
    const body = {
      error: shown.code,
      message: shown.message,
      ...(shown.hint ? { hint: shown.hint } : {}),
      ...(opts.debug ? { details } : {}),
    };
    process.stdout.write(format === 'json' ? JSON.stringify(body, null, 2) + '\n' : await toYaml(body));
    return;
  }
  process.stderr.write(`tp: ${shown.message.replace(/\.$/, '')}${shown.hint ? `; ${shown.hint}` : ''}.\n`);
  if (opts.debug) process.stderr.write(`${details}\n`);
}
