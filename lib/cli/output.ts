// How the CLI prints: human tables by default, `--output json|yaml` for scripts, and errors as one
// sentence plus what to do (JSON errors carry the same fields, on stdout, for scripts).
import { stringify as toYaml } from 'yaml';

export type OutputFormat = 'default' | 'json' | 'yaml';

export function parseOutput(v: string | undefined): OutputFormat {
  if (v === undefined || v === 'default' || v === 'human') return 'default';
  if (v === 'json' || v === 'yaml') return v;
  throw new CliError('E_FLAG', `--output "${v}" is not a format`, 'use --output json or --output yaml');
}

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Prints `data` as JSON/YAML, or calls `human` to print it for people. */
export function emit(format: OutputFormat, data: unknown, human: () => void): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(toYaml(data));
  else human();
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function printError(format: OutputFormat, err: unknown): void {
  const e = err as { code?: unknown; message?: string; hint?: string };
  const code = typeof e.code === 'string' ? e.code : 'E_INTERNAL';
  let message = e.message ?? String(err);
  if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (e as NodeJS.ErrnoException).code === 'ENOENT') {
    message = 'the user daemon is not running';
  }
  if (format === 'json' || format === 'yaml') {
    const body = { error: code, message, ...(e.hint ? { hint: e.hint } : {}) };
    process.stdout.write(format === 'json' ? JSON.stringify(body, null, 2) + '\n' : toYaml(body));
    return;
  }
  process.stderr.write(`tp: ${message.replace(/\.$/, '')}${e.hint ? `; ${e.hint}` : ''}.\n`);
}
