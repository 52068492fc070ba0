// `--env-file F --env-syntax docker|compose|sh|json`: the engaged container's environment written
// so that another program reads back exactly the values the agent reported (Telepresence's
// `--env-file` / `--env-syntax`). Each syntax has its reader's rules, spelled out beside it below;
// what a reader cannot carry is never written in a form it would read differently:
//   - a value it cannot carry (a newline for docker) is an error naming the keys and a syntax
//     that can carry it;
//   - a name it cannot carry (`my.key` for sh) is skipped and reported, because the other
//     variables are still useful and a program started that way could not see it either.
// Lines are sorted by key (UTF-16 code units, not the locale) so that the file is stable across
// runs and diffs cleanly.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TpError } from '../common/errors.js';

export const ENV_SYNTAXES = ['docker', 'compose', 'sh', 'json'] as const;
export type EnvSyntax = (typeof ENV_SYNTAXES)[number];

export type EnvFileErrorCode =
  | 'E_ENV_SYNTAX' //          --env-syntax names no syntax we write
  | 'E_ENV_UNREPRESENTABLE'; // a value the chosen syntax cannot carry

export class EnvFileError extends TpError {
  declare readonly code: EnvFileErrorCode;
  constructor(code: EnvFileErrorCode, message: string, hint?: string) {
    super(code, message, { hint });
    this.name = 'EnvFileError';
  }
}

export interface EnvFileText {
  /** The file's contents, ending in a newline unless no variable was written. */
  text: string;
  /** Keys left out because the syntax cannot name them, sorted. */
  skipped: string[];
  /** One sentence per reason for skipping, for the CLI to print; empty when nothing was skipped. */
  warnings: string[];
}

/** Validates the value of `--env-syntax`. */
export function parseEnvSyntax(s: string): EnvSyntax {
  if ((ENV_SYNTAXES as readonly string[]).includes(s)) return s as EnvSyntax;
  throw new EnvFileError(
    'E_ENV_SYNTAX',
    `--env-syntax "${s}" is not a syntax tp writes; use one of ${ENV_SYNTAXES.join(', ')}`,
    'docker for `docker run --env-file`, compose for a compose env_file, sh to source from a shell, json for programs',
  );
}

/** Renders `env` in `syntax`. Throws EnvFileError when a value cannot be carried (see above). */
export function formatEnvFile(env: Record<string, string>, syntax: EnvSyntax): EnvFileText {
  const keys = Object.keys(env).sort(byCodeUnit);
  if (syntax === 'json') {
    const sorted: Record<string, string> = {};
    for (const k of keys) sorted[k] = env[k]!;
    return { text: JSON.stringify(sorted, null, 2) + '\n', skipped: [], warnings: [] };
  }
  const rules = LINE_RULES[syntax];
  const lines: string[] = [];
  const skipped: string[] = [];
  const unrepresentable: string[] = [];
  for (const k of keys) {
    const v = env[k]!;
    if (!rules.nameOk(k)) {
      skipped.push(k);
      continue;
    }
    const line = rules.line(k, v);
    if (line === undefined) unrepresentable.push(k);
    else lines.push(line);
  }
  if (unrepresentable.length > 0) {
    throw new EnvFileError(
      'E_ENV_UNREPRESENTABLE',
      `--env-syntax ${syntax} cannot carry the value${unrepresentable.length > 1 ? 's' : ''} of ${unrepresentable.join(', ')}: ${rules.cannot}`,
      'use --env-syntax compose or --env-syntax json, which can',
    );
  }
  const warnings =
    skipped.length > 0 ? [`--env-syntax ${syntax} left out ${skipped.join(', ')}, because it can only name ${rules.names}`] : [];
  return { text: lines.map((l) => l + '\n').join(''), skipped, warnings };
}

/**
 * Writes `text` to `path` with mode 0600 (the environment holds the app's secrets), atomically:
 * a reader sees the old file or the whole new one, never a partial write (temp file in the same
 * directory, then rename).
 */
export async function writeEnvFile(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface LineRules {
  /** Whether the syntax can name the variable at all. */
  nameOk(key: string): boolean;
  /** The line for a nameable key, or undefined when the value cannot be carried. */
  line(key: string, value: string): string | undefined;
  /** Which names it can carry, for the warning ("… can only name <names>"). */
  names: string;
  /** Why a value cannot be carried, for the error; empty when every value can be. */
  cannot: string;
}

// docker: `docker run --env-file` (docker/cli, opts.ParseEnvFile → kvfile.Parse). Every line is
// read literally — no quotes, no escapes, no interpolation:
//   - a bufio.Scanner splits lines: `\n` ends a value, a trailing `\r` is dropped, and a line of
//     64 KiB or more fails the whole file (bufio.ErrTooLong);
//   - leading whitespace of the line is trimmed; an empty line or one starting with `#` is skipped;
//   - the line splits at the first `=`; a name with a space or tab is an error.
// So a name must be non-empty, start with neither whitespace nor `#`, and hold no `=` or
// whitespace; a value must hold no `\n`, not end in `\r`, and fit the line.
const DOCKER_MAX_LINE = 64 * 1024 - 1; // bytes, without the `\n` (bufio.MaxScanTokenSize holds both)
const docker: LineRules = {
  nameOk: (k) => /^[^\s#=][^\s=]*$/u.test(k),
  line: (k, v) => {
    if (v.includes('\n') || v.endsWith('\r')) return undefined;
    const line = `${k}=${v}`;
    return Buffer.byteLength(line, 'utf8') > DOCKER_MAX_LINE ? undefined : line;
  },
  names: 'variables without whitespace or "=" that do not start with "#"',
  cannot: 'a docker env-file value cannot hold a newline, end in a carriage return or make a line of 64 KiB or more',
};

// compose: a compose `env_file` / `.env`, read by compose-go's dotenv parser. Documented at
// https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/#env-file-syntax
// ("Syntax for environment files"); the behaviour below is compose-go's dotenv/parser.go.
//   - names: letters, digits, `_`, `.`, `-`, `[`, `]` (anything else is a parse error);
//   - unquoted values: cut at ` #` (inline comment), trailing whitespace trimmed, `$` interpolated;
//   - single quotes: literal — no escapes, no interpolation — except that `\'` is a quote and a
//     backslash before the closing quote would escape it;
//   - double quotes: `\\`, `\"`, `\$` (a literal `$`), `\n`, `\r`, `\t` … are escapes, then `$`
//     is interpolated.
// Our rules, in order, first match wins:
//   1. plain — the value is empty or only [A-Za-z0-9_./:@%+,=-]: written as is;
//   2. single — the value has no `'`, `\`, `\n` or `\r`: written in single quotes, so `$`, `#`,
//      spaces and `"` need no escape and older compose releases (before `\$` existed) read it too;
//   3. double — anything else: in double quotes with `\` → `\\`, `"` → `\"`, `$` → `\$`,
//      newline → `\n`, carriage return → `\r`. Every value can be carried this way.
const COMPOSE_PLAIN = /^[A-Za-z0-9_./:@%+,=-]*$/;
const compose: LineRules = {
  nameOk: (k) => /^[\p{L}\p{N}_.\-[\]]+$/u.test(k),
  line: (k, v) => `${k}=${composeValue(v)}`,
  names: 'variables made of letters, digits, "_", ".", "-", "[" and "]"',
  cannot: '',
};

/** The compose env-file spelling of a value (rules above). Exported for the tests' reader. */
export function composeValue(v: string): string {
  if (COMPOSE_PLAIN.test(v)) return v;
  if (!/['\\\n\r]/.test(v)) return `'${v}'`;
  const escaped = v.replace(/[\\"$\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\' + c));
  return `"${escaped}"`;
}

// sh: `export KEY='value'` for POSIX sh (`. ./file`, or `set -a; . ./file`). Inside single quotes
// every byte is literal, newlines included (POSIX 2.2.2); a single quote ends the quoting, so it is
// written as `'\''` (close, escaped quote, reopen). Any value can be carried; a name must be a
// shell identifier (POSIX 3.235), or `export` fails and stops a `set -e` script.
const sh: LineRules = {
  nameOk: (k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k),
  line: (k, v) => `export ${k}='${v.replaceAll("'", `'\\''`)}'`,
  names: 'shell identifiers ([A-Za-z_][A-Za-z0-9_]*)',
  cannot: '',
};

const LINE_RULES: Record<Exclude<EnvSyntax, 'json'>, LineRules> = { docker, compose, sh };
