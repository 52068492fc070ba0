// Lexer for the subset of Go text/template that tp's chart uses. Trim markers are applied here
// (`{{- ` eats the whitespace before the action, ` -}}` the whitespace after), as Go's lexer does,
// so the parser never sees them.

import { templateError } from '../errors.js';

export type TokKind =
  | 'text' | 'open' | 'close' | 'space' | 'ident' | 'field' | 'var' | 'dot' | 'string' | 'number'
  | 'declare' | 'assign' | 'pipe' | 'lparen' | 'rparen' | 'comma' | 'eof';

export interface Tok {
  kind: TokKind;
  /** text for 'text'; name for 'ident'/'field'/'var' (without '.'/'$'; '$' alone is ''); value for literals */
  val: string;
  num?: number;
  line: number;
}

const SPACE = /[ \t\r\n]/;
const TRIM_SPACE = /^[ \t\r\n]+/;
const TRAILING_SPACE = /[ \t\r\n]+$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const NUMBER = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)/;

export function lex(src: string, file: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let trimNext = false;
  const err = (msg: string) => templateError('E_HELM_TEMPLATE_PARSE', { file, line }, msg);

  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    const textLines = countLines(text);
    if (trimNext) text = text.replace(TRIM_SPACE, '');
    trimNext = false;
    if (open < 0) {
      if (text) toks.push({ kind: 'text', val: text, line });
      line += textLines;
      break;
    }
    // `{{-` trims only when a space follows; `{{-3}}` is the number -3.
    const leftTrim = src[open + 2] === '-' && SPACE.test(src[open + 3] ?? '');
    if (leftTrim) text = text.replace(TRAILING_SPACE, '');
    if (text) toks.push({ kind: 'text', val: text, line });
    line += textLines;
    i = open + (leftTrim ? 3 : 2);

    // A comment must hug the delimiters: `{{/* … */}}` or `{{- /* … */ -}}`.
    const afterSpace = leftTrim ? i + countSpace(src, i) : i;
    if (src.startsWith('/*', afterSpace)) {
      const end = src.indexOf('*/', afterSpace + 2);
      if (end < 0) throw err('unclosed comment');
      line += countLines(src.slice(i, end));
      let j = end + 2;
      if (src.startsWith('}}', j)) {
        i = j + 2;
      } else if (SPACE.test(src[j] ?? '') && src.startsWith('-}}', j + 1)) {
        i = j + 4;
        trimNext = true;
      } else {
        throw err('comment ends before closing delimiter');
      }
      continue;
    }

    toks.push({ kind: 'open', val: '{{', line });
    const r = lexAction(src, i, line, file, toks);
    i = r.end;
    line = r.line;
    trimNext = r.trim;
  }
  toks.push({ kind: 'eof', val: '', line });
  return toks;
}

function lexAction(src: string, start: number, startLine: number, file: string, toks: Tok[])
  : { end: number; line: number; trim: boolean } {
  let i = start;
  let line = startLine;
  let parens = 0;
  const err = (msg: string) => templateError('E_HELM_TEMPLATE_PARSE', { file, line }, msg);
  const push = (kind: TokKind, val: string, extra: Partial<Tok> = {}) =>
    toks.push({ kind, val, line, ...extra });

  for (;;) {
    if (i >= src.length) throw err('unclosed action');
    const c = src[i]!;
    // ` -}}` closes with a right trim; the space before '-' is what tells it from a minus sign.
    if (SPACE.test(c) && src.startsWith('-}}', i + 1)) {
      if (c === '\n') line++;
      if (parens > 0) throw err('unclosed left paren');
      push('close', '}}');
      return { end: i + 4, line, trim: true };
    }
    if (src.startsWith('}}', i)) {
      if (parens > 0) throw err('unclosed left paren');
      push('close', '}}');
      return { end: i + 2, line, trim: false };
    }
    if (SPACE.test(c)) {
      const n = countSpace(src, i);
      push('space', ' ');
      line += countLines(src.slice(i, i + n));
      i += n;
      continue;
    }
    const rest = src.slice(i, i + 200);
    if (c === ':' && src[i + 1] === '=') { push('declare', ':='); i += 2; continue; }
    if (c === '=') { push('assign', '='); i++; continue; }
    if (c === '|') { push('pipe', '|'); i++; continue; }
    if (c === ',') { push('comma', ','); i++; continue; }
    if (c === '(') { parens++; push('lparen', '('); i++; continue; }
    if (c === ')') {
      if (--parens < 0) throw err('unexpected right paren');
      push('rparen', ')'); i++; continue;
    }
    if (c === '"') {
      const { value, end } = readQuoted(src, i, err);
      push('string', value);
      i = end;
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw err('unterminated raw quoted string');
      const value = src.slice(i + 1, end);
      push('string', value);
      line += countLines(value);
      i = end + 1;
      continue;
    }
    if (c === '$') {
      const m = IDENT.exec(src.slice(i + 1, i + 200)) ?? /^\d+/.exec(src.slice(i + 1, i + 200));
      push('var', m ? m[0] : '');
      i += 1 + (m ? m[0].length : 0);
      continue;
    }
    if (c === '.') {
      const m = IDENT.exec(src.slice(i + 1, i + 200));
      if (m) { push('field', m[0]); i += 1 + m[0].length; continue; }
      if (!/[0-9]/.test(src[i + 1] ?? '')) { push('dot', '.'); i++; continue; }
    }
    const num = NUMBER.exec(rest);
    if (num && (/[0-9.+-]/.test(c))) {
      const text = num[0].replace(/_/g, '');
      const value = parseGoNumber(text);
      if (Number.isNaN(value)) throw err(`bad number syntax: ${JSON.stringify(num[0])}`);
      push('number', num[0], { num: value });
      i += num[0].length;
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) { push('ident', id[0]); i += id[0].length; continue; }
    throw err(`unexpected ${JSON.stringify(c)} in command`);
  }
}

function parseGoNumber(text: string): number {
  const neg = text.startsWith('-');
  const body = text.replace(/^[+-]/, '');
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) v = parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) v = parseInt(body.slice(2), 2);
  else if (/^0[0-7]+$/.test(body)) v = parseInt(body, 8); // Go reads a leading 0 as octal
  else v = Number(body);
  return neg ? -v : v;
}

const ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v',
};

function readQuoted(src: string, start: number, err: (m: string) => Error): { value: string; end: number } {
  let out = '';
  let i = start + 1;
  for (;;) {
    const c = src[i];
    if (c === undefined || c === '\n') throw err('unterminated quoted string');
    if (c === '"') return { value: out, end: i + 1 };
    if (c !== '\\') { out += c; i++; continue; }
    const e = src[i + 1] ?? '';
    if (e in ESCAPES) { out += ESCAPES[e]; i += 2; continue; }
    const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hex) {
      const h = src.slice(i + 2, i + 2 + hex);
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== hex) throw err('invalid escape in quoted string');
      out += String.fromCodePoint(parseInt(h, 16));
      i += 2 + hex;
      continue;
    }
    if (/[0-7]/.test(e)) {
      const o = src.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(o)) throw err('invalid escape in quoted string');
      out += String.fromCharCode(parseInt(o, 8));
      i += 4;
      continue;
    }
    throw err(`unknown escape sequence \\${e}`);
  }
}

function countSpace(s: string, i: number): number {
  let n = 0;
  while (SPACE.test(s[i + n] ?? '')) n++;
  return n;
}

function countLines(s: string): number {
  let n = 0;
  for (let k = s.indexOf('\n'); k >= 0; k = s.indexOf('\n', k + 1)) n++;
  return n;
}
