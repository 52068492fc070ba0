// The functions tp's chart may call: Go's builtins and the Sprig/Helm ones, each written from its
// documented behaviour. Anything else is a parse error ("function … not defined"), which keeps the
// chart inside what this renderer knows.

import YAML from 'yaml';
import type { FuncMap } from './exec.js';
import { goQuote, goSprint, goSprintf, goString, goType, isMap, truthy, type Value } from './gofmt.js';

const str = (v: Value): string => {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) throw new Error(`invalid value; expected string`);
  throw new Error(`wrong type for value; expected string; got ${goType(v)}`);
};
const int = (v: Value): number => {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new Error(`wrong type for value; expected int; got ${goType(v)}`);
};

/** Sprig's `strval`: strings as they are, everything else through %v. */
const strval = (v: Value): string => (typeof v === 'string' ? v : goString(v));

/** Sprig's `empty`: nil, false, 0, "" and empty collections. */
export function empty(v: Value): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v === 'object' && !Array.isArray(v) && !isMap(v)) return false;
  return !truthy(v);
}

/** cast.ToInt as Sprig uses it: lenient, and 0 when it cannot tell. */
function toInt(v: Value): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(s)) return parseInt(s, 16);
    if (/^[+-]?\d+$/.test(s)) return parseInt(s, 10);
    if (/^[+-]?\d+\.0*$/.test(s)) return parseInt(s, 10);
    return 0;
  }
  return 0;
}

function compareKind(a: Value, b: Value): 'number' | 'string' | 'boolean' | 'other' {
  const ka = typeof a;
  if (ka !== typeof b) throw new Error('incompatible types for comparison');
  return ka === 'number' || ka === 'string' || ka === 'boolean' ? ka : 'other';
}

function eq(a: Value, ...bs: Value[]): boolean {
  if (bs.length === 0) throw new Error('missing argument for comparison');
  for (const b of bs) {
    // Go: nil compares unequal to anything without error; two non-nil values must share a kind.
    if (a === null || a === undefined || b === null || b === undefined) {
      if ((a ?? null) === (b ?? null)) return true;
      continue;
    }
    if (compareKind(a, b) === 'other') throw new Error('invalid type for comparison');
    if (a === b) return true;
  }
  return false;
}

function lt(a: Value, b: Value): boolean {
  const k = compareKind(a, b);
  if (k !== 'number' && k !== 'string') throw new Error('invalid type for comparison');
  return (a as number) < (b as number);
}

/** Go's encoding/json: sorted map keys, and <, >, & escaped so the output is HTML-safe. */
export function goJson(v: Value): string {
  const sort = (x: Value): Value => {
    if (Array.isArray(x)) return x.map(sort);
    if (isMap(x)) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k])]));
    return x === undefined ? null : x;
  };
  return JSON.stringify(sort(v)).replace(/[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Helm's toYaml: sorted keys, block style, sequences not indented under their key, no trailing
 * newline. YAML 1.1 quoting, as go-yaml v2 does: the string "y" must come out as "y", not as a
 * bare y that Kubernetes would read back as true. Exact quoting may differ; the parsed value not.
 */
export function toYaml(v: Value): string {
  const doc = YAML.stringify(v === undefined ? null : v, {
    version: '1.1', sortMapEntries: true, indentSeq: false, lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false,
  });
  return doc.replace(/\n$/, '');
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return pad + s.replaceAll('\n', '\n' + pad);
}

function strslice(v: Value): string[] {
  if (Array.isArray(v)) return v.filter((x) => x !== null && x !== undefined).map(strval);
  if (v === null || v === undefined) return [];
  return [strval(v)];
}

const KINDS: Record<string, (v: Value) => boolean> = {
  invalid: (v) => v === null || v === undefined,
  string: (v) => typeof v === 'string',
  bool: (v) => typeof v === 'boolean',
  int: (v) => typeof v === 'number' && Number.isInteger(v),
  int64: (v) => typeof v === 'number' && Number.isInteger(v),
  float64: (v) => typeof v === 'number',
  slice: (v) => Array.isArray(v),
  map: (v) => isMap(v),
};

/** `and`/`or` are handled by the executor (they short-circuit), so they are not here. */
export const FUNCS: FuncMap = {
  // Go builtins
  not: { min: 1, fn: ([a]) => !truthy(a) },
  eq: { min: 2, max: Infinity, fn: ([a, ...bs]) => eq(a, ...bs) },
  ne: { min: 2, fn: ([a, b]) => !eq(a, b) },
  lt: { min: 2, fn: ([a, b]) => lt(a, b) },
  le: { min: 2, fn: ([a, b]) => lt(a, b) || eq(a, b) },
  gt: { min: 2, fn: ([a, b]) => lt(b, a) },
  ge: { min: 2, fn: ([a, b]) => lt(b, a) || eq(a, b) },
  len: {
    min: 1,
    fn: ([v]) => {
      if (typeof v === 'string') return Buffer.byteLength(v);
      if (Array.isArray(v)) return v.length;
      if (isMap(v)) return Object.keys(v).length;
      throw new Error(`len of type ${goType(v)}`);
    },
  },
  index: {
    min: 1, max: Infinity,
    fn: ([coll, ...keys]) => {
      let v = coll;
      for (const k of keys) {
        if (Array.isArray(v)) {
          const i = int(k);
          if (i < 0 || i >= v.length) throw new Error(`index out of range: ${i}`);
          v = v[i];
        } else if (isMap(v)) {
          v = Object.hasOwn(v, str(k)) ? v[k as string] : null;
        } else if (v === null || v === undefined) {
          throw new Error('index of untyped nil');
        } else {
          throw new Error(`can't index item of type ${goType(v)}`);
        }
      }
      return v;
    },
  },
  print: { min: 0, max: Infinity, fn: (args) => goSprint(args) },
  println: { min: 0, max: Infinity, fn: (args) => args.map((a) => goString(a)).join(' ') + '\n' },
  printf: { min: 1, max: Infinity, fn: ([f, ...args]) => goSprintf(str(f), args) },

  // Sprig / Helm
  include: { min: 2, fn: ([name, data], ctx) => ctx.include(str(name), data) },
  toYaml: { min: 1, fn: ([v]) => toYaml(v) },
  toJson: { min: 1, fn: ([v]) => goJson(v) },
  indent: { min: 2, fn: ([n, s]) => indent(int(n), str(s)) },
  nindent: { min: 2, fn: ([n, s]) => '\n' + indent(int(n), str(s)) },
  quote: {
    min: 0, max: Infinity,
    fn: (args) => args.filter((a) => a !== null && a !== undefined).map((a) => goQuote(strval(a))).join(' '),
  },
  squote: {
    min: 0, max: Infinity,
    fn: (args) => args.filter((a) => a !== null && a !== undefined).map((a) => `'${strval(a)}'`).join(' '),
  },
  default: { min: 1, max: 2, fn: ([d, ...given]) => (given.length === 0 || empty(given[0]) ? d : given[0]) },
  required: {
    min: 2,
    fn: ([msg, v]) => {
      if (v === null || v === undefined || v === '') throw new Error(str(msg));
      return v;
    },
  },
  fail: { min: 1, fn: ([msg]) => { throw new Error(str(msg)); } },
  empty: { min: 1, fn: ([v]) => empty(v) },
  coalesce: { min: 0, max: Infinity, fn: (args) => args.find((a) => !empty(a)) ?? null },
  ternary: { min: 3, fn: ([a, b, c]) => (c === true ? a : b) },
  trunc: {
    min: 2,
    fn: ([n, s]) => {
      const c = int(n);
      const v = str(s);
      if (c < 0 && v.length + c > 0) return v.slice(v.length + c);
      if (c >= 0 && v.length > c) return v.slice(0, c);
      return v;
    },
  },
  trimSuffix: { min: 2, fn: ([suf, s]) => { const v = str(s), x = str(suf); return x && v.endsWith(x) ? v.slice(0, -x.length) : v; } },
  trimPrefix: { min: 2, fn: ([pre, s]) => { const v = str(s), x = str(pre); return v.startsWith(x) ? v.slice(x.length) : v; } },
  trim: { min: 1, fn: ([s]) => str(s).trim() },
  replace: { min: 3, fn: ([o, n, s]) => str(s).replaceAll(str(o), str(n)) },
  lower: { min: 1, fn: ([s]) => str(s).toLowerCase() },
  upper: { min: 1, fn: ([s]) => str(s).toUpperCase() },
  contains: { min: 2, fn: ([sub, s]) => str(s).includes(str(sub)) },
  hasPrefix: { min: 2, fn: ([p, s]) => str(s).startsWith(str(p)) },
  hasSuffix: { min: 2, fn: ([p, s]) => str(s).endsWith(str(p)) },
  b64enc: { min: 1, fn: ([s]) => Buffer.from(str(s)).toString('base64') },
  join: { min: 2, fn: ([sep, v]) => strslice(v).join(str(sep)) },
  list: { min: 0, max: Infinity, fn: (args) => [...args] },
  dict: {
    min: 0, max: Infinity,
    fn: (args) => {
      const d: Record<string, Value> = {};
      for (let i = 0; i < args.length; i += 2) d[strval(args[i])] = i + 1 < args.length ? args[i + 1] : '';
      return d;
    },
  },
  hasKey: { min: 2, fn: ([m, k]) => (isMap(m) ? Object.hasOwn(m, str(k)) : false) },
  kindIs: { min: 2, fn: ([k, v]) => KINDS[str(k)]?.(v) ?? false },
  int: { min: 1, fn: ([v]) => toInt(v) },
  int64: { min: 1, fn: ([v]) => toInt(v) },
  toString: { min: 1, fn: (args: Value[]) => strval(args[0]) },
};
