import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { composeValue, ENV_SYNTAXES, EnvFileError, formatEnvFile, parseEnvSyntax, writeEnvFile } from '../../../lib/user/env-file.js';

const execFileP = promisify(execFile);

/** Values that break naive writers: quoting, expansion, comments, line ends, unicode, empty. */
const AWKWARD: Record<string, string> = {
  EMPTY: '',
  PLAIN: 'postgres://db:5432/app?sslmode=disable',
  SPACES: '  leading and trailing  ',
  SINGLE: "it's",
  DOUBLE: 'say "hi"',
  BOTH_QUOTES: `'"'"`,
  DOLLAR: '$HOME ${HOME} $(id) `id`',
  DOLLARS_AND_QUOTE: "$HOME isn't expanded",
  HASH: 'a #not-a-comment',
  HASH_TIGHT: 'a#b',
  BACKSLASH: 'C:\\path\\to\\n and \\$x',
  TRAILING_BACKSLASH: 'ends with \\',
  NEWLINES: 'line one\nline two\n',
  CRLF: 'windows\r\nline',
  TAB: 'a\tb',
  EQUALS: 'a=b==c',
  UNICODE: 'grüße 日本 🚀 e\u0301',
  JSON: '{"hello": "json", "n": [1, 2]}',
  PEM: '-----BEGIN CERT-----\nMIIB+/=\n-----END CERT-----\n',
};

test('--env-syntax accepts docker, compose, sh and json', (t) => {
  for (const s of ENV_SYNTAXES) t.is(parseEnvSyntax(s), s);
});

test('--env-syntax rejects anything else with one sentence naming the allowed values', (t) => {
  const err = t.throws(() => parseEnvSyntax('yaml'), { instanceOf: EnvFileError });
  t.is(err!.code, 'E_ENV_SYNTAX');
  t.is(err!.message, '--env-syntax "yaml" is not a syntax tp writes; use one of docker, compose, sh, json');
  t.truthy(err!.hint);
});

// ----- json -------------------------------------------------------------------------------

test('json: JSON.parse gives back every value exactly, keys sorted', (t) => {
  const env = { ...AWKWARD, 'my.key': 'x', '1ABC': 'y' };
  const { text, skipped, warnings } = formatEnvFile(env, 'json');
  t.deepEqual(JSON.parse(text), env);
  t.deepEqual(Object.keys(JSON.parse(text)), Object.keys(env).sort());
  t.deepEqual(skipped, []);
  t.deepEqual(warnings, []);
  t.true(text.endsWith('}\n'));
  t.true(text.includes('\n  "1ABC": "y",\n'), 'pretty, two spaces');
});

// ----- sh ---------------------------------------------------------------------------------

test('sh: export lines in single quotes, a quote written as the four bytes quote-backslash-quote-quote', (t) => {
  const { text } = formatEnvFile({ B: "it's", A: 'x y', C: '' }, 'sh');
  t.is(text, `export A='x y'\nexport B='it'\\''s'\nexport C=''\n`);
});

test('sh: names that are not shell identifiers are skipped and reported in one warning', (t) => {
  const { text, skipped, warnings } = formatEnvFile({ OK: '1', 'my.key': '2', '1ABC': '3', 'with-dash': '4' }, 'sh');
  t.is(text, "export OK='1'\n");
  t.deepEqual(skipped, ['1ABC', 'my.key', 'with-dash']);
  t.deepEqual(warnings, [
    '--env-syntax sh left out 1ABC, my.key, with-dash, because it can only name shell identifiers ([A-Za-z_][A-Za-z0-9_]*)',
  ]);
});

test('sh: sourcing the file in sh gives back every value exactly (round trip through /bin/sh)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { ...AWKWARD, 'not.an.identifier': 'skipped' };
  const file = join(dir, 'env.sh');
  await writeEnvFile(file, formatEnvFile(env, 'sh').text);
  // An empty environment, so that what comes back is what the file set (plus what sh itself sets).
  const { stdout } = await execFileP('env', ['-i', '/bin/sh', '-c', '. "$0" && exec env -0', file], { encoding: 'buffer' });
  const got: Record<string, string> = {};
  for (const entry of stdout.toString('utf8').split('\0')) {
    if (!entry) continue;
    const at = entry.indexOf('=');
    got[entry.slice(0, at)] = entry.slice(at + 1);
  }
  for (const [k, v] of Object.entries(AWKWARD)) t.is(got[k], v, k);
  t.false('not.an.identifier' in got);
});

// ----- docker -----------------------------------------------------------------------------

/** What `docker run --env-file` does with a file (docker/cli kvfile.Parse), for the rules we rely on. */
function readDockerEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let line of text.split('\n')) {
    if (Buffer.byteLength(line) + 1 > 64 * 1024) throw new Error('bufio.Scanner: token too long');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    line = line.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    const key = line.slice(0, at);
    if (at <= 0 || /[ \t]/.test(key)) throw new Error(`bad line ${JSON.stringify(line)}`);
    out[key] = line.slice(at + 1);
  }
  return out;
}

test('docker: KEY=value lines with no quoting at all, sorted by key', (t) => {
  const { text } = formatEnvFile({ B: 'say "hi"', A: "$HOME it's # x", C: '', D: '  spaced  ' }, 'docker');
  t.is(text, `A=$HOME it's # x\nB=say "hi"\nC=\nD=  spaced  \n`);
});

test("docker: every single-line value reads back exactly under docker's rules", (t) => {
  const env = Object.fromEntries(Object.entries(AWKWARD).filter(([, v]) => !v.includes('\n')));
  t.deepEqual(readDockerEnvFile(formatEnvFile(env, 'docker').text), env);
});

test('docker: a value with a newline is an error naming the keys and the syntaxes that can carry it', (t) => {
  const err = t.throws(() => formatEnvFile({ A: 'ok', PEM: 'a\nb', CRLF: 'x\r\ny' }, 'docker'), { instanceOf: EnvFileError });
  t.is(err!.code, 'E_ENV_UNREPRESENTABLE');
  t.regex(err!.message, /^--env-syntax docker cannot carry the values of CRLF, PEM: /);
  t.regex(err!.hint!, /--env-syntax compose or --env-syntax json/);
});

test("docker: a trailing carriage return (dropped by docker's line scanner) and a 64 KiB line are errors", (t) => {
  t.throws(() => formatEnvFile({ CR: 'x\r' }, 'docker'), { message: /values? of CR:/ });
  t.throws(() => formatEnvFile({ BIG: 'x'.repeat(64 * 1024) }, 'docker'), { message: /values? of BIG:/ });
  t.notThrows(() => formatEnvFile({ MID_CR: 'x\ry', FITS: 'x'.repeat(64 * 1024 - 1 - 'FITS='.length) }, 'docker'));
});

test('docker: names docker cannot read (whitespace, leading #, =) are skipped with a warning', (t) => {
  const { text, skipped, warnings } = formatEnvFile({ 'a b': '1', '#c': '2', 'my.key': '3', ' lead': '4' }, 'docker');
  t.is(text, 'my.key=3\n');
  t.deepEqual(skipped, [' lead', '#c', 'a b']);
  t.is(warnings.length, 1);
});

// ----- compose ----------------------------------------------------------------------------

/**
 * A reader for the subset of the compose env-file syntax (docs.docker.com "Syntax for environment
 * files"; compose-go dotenv/parser.go) our writer uses. It refuses what would be interpolated, so a
 * `$` that reaches compose unescaped fails the test instead of passing unnoticed.
 */
function readComposeEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const noInterpolation = (v: string) => {
    if (v.includes('$')) throw new Error(`compose would interpolate ${JSON.stringify(v)}`);
    return v;
  };
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    const key = text.slice(i, eq);
    if (!/^[\p{L}\p{N}_.\-[\]]+$/u.test(key)) throw new Error(`bad key ${JSON.stringify(key)}`);
    i = eq + 1;
    const q = text[i];
    if (q !== "'" && q !== '"') {
      const nl = text.indexOf('\n', i);
      const raw = text.slice(i, nl);
      t_assert(!raw.includes(' #') && raw === raw.trimEnd(), `unquoted value would be cut: ${raw}`);
      out[key] = noInterpolation(raw);
      i = nl + 1;
      continue;
    }
    // Quoted: a backslash before the quote escapes it; before anything else both bytes stay.
    let chars = '';
    let j = i + 1;
    for (; j < text.length && text[j] !== q; j++) {
      if (text[j] === '\\' && j + 1 < text.length) {
        chars += text[j + 1] === q ? q : text.slice(j, j + 2);
        j++;
      } else chars += text[j];
    }
    if (j >= text.length) throw new Error('unterminated quoted value');
    if (q === '"') {
      // Escapes, then interpolation: `\$` stands for a literal `$` and is not interpolated.
      let v = '';
      for (let k = 0; k < chars.length; k++) {
        const c = chars[k]!;
        if (c === '\\' && k + 1 < chars.length) {
          const e = chars[++k]!;
          v += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === '\\' || e === '"' || e === '$' ? e : '\\' + e;
        } else if (c === '$') {
          throw new Error(`compose would interpolate ${JSON.stringify(chars)}`);
        } else v += c;
      }
      out[key] = v;
    } else {
      out[key] = chars;
    }
    if (text[j + 1] !== '\n') throw new Error('junk after the closing quote');
    i = j + 2;
  }
  return out;
}

function t_assert(ok: boolean, why: string): void {
  if (!ok) throw new Error(why);
}

test('compose: safe values are written bare, the empty value as KEY=', (t) => {
  t.is(composeValue('postgres://db:5432/app,x=y@z+1%'), 'postgres://db:5432/app,x=y@z+1%');
  t.is(composeValue(''), '');
});

test('compose: a value with $, spaces, # or " but no \' or \\ is single-quoted (no interpolation)', (t) => {
  t.is(composeValue('$HOME ${X}'), "'$HOME ${X}'");
  t.is(composeValue('a #b'), "'a #b'");
  t.is(composeValue('say "hi"'), `'say "hi"'`);
  t.is(composeValue('  pad  '), "'  pad  '");
  t.is(composeValue('grüße'), "'grüße'");
});

test('compose: a value with \', \\ or a line end is double-quoted with \\\\, \\", \\$, \\n and \\r escaped', (t) => {
  t.is(composeValue("it's $5"), `"it's \\$5"`);
  t.is(composeValue('C:\\dir'), '"C:\\\\dir"');
  t.is(composeValue('a\nb\r\n'), '"a\\nb\\r\\n"');
  t.is(composeValue(`'"`), `"'\\""`);
  t.is(composeValue('ends with \\'), '"ends with \\\\"');
});

test('compose: every awkward value reads back exactly under the compose rules, keys sorted', (t) => {
  const { text, skipped } = formatEnvFile(AWKWARD, 'compose');
  t.deepEqual(readComposeEnvFile(text), AWKWARD);
  t.deepEqual(skipped, []);
  const keys = text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(0, l.indexOf('=')));
  // Multi-line values are escaped, so each variable is one line.
  t.deepEqual(keys, Object.keys(AWKWARD).sort());
});

test('compose: dotted and dashed names are kept, names compose cannot parse are skipped', (t) => {
  const { text, skipped } = formatEnvFile({ 'my.key-1': 'a', 'a b': 'b', 'x:y': 'c', ключ: 'd' }, 'compose');
  t.is(text, 'my.key-1=a\nключ=d\n');
  t.deepEqual(skipped, ['a b', 'x:y']);
});

// ----- writeEnvFile -----------------------------------------------------------------------

test('writeEnvFile writes mode 0600, replaces an existing 0644 file and leaves no temp file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'app.env');
  await writeFile(file, 'OLD=1\n');
  await chmod(file, 0o644);
  await writeEnvFile(file, 'NEW=2\n');
  t.is(await readFile(file, 'utf8'), 'NEW=2\n');
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.deepEqual(await readdir(dir), ['app.env']);
});

test('writeEnvFile into a missing directory fails and leaves nothing behind', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tp-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(writeEnvFile(join(dir, 'nope', 'app.env'), 'A=1\n'), { code: 'ENOENT' });
  t.deepEqual(await readdir(dir), []);
});
