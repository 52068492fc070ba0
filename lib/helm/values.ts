// Values the way Helm builds them: the chart's values.yaml at the bottom, then each -f file, then
// each --set. Maps merge key by key, anything else (lists included) is replaced, and a user `null`
// deletes the chart's default.

import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { HelmError } from './errors.js';
import { isMap, type Value } from './template/gofmt.js';

export type Values = Record<string, Value>;

export interface ValueOptions {
  /** `-f`: YAML files, later ones win. */
  valueFiles?: string[];
  /** `--set a.b=c,d={x,y}`: typed like Helm (ints, true/false, null; other text stays a string). */
  set?: string[];
  /** `--set-string a.b=007`: always strings. */
  setString?: string[];
  /** Already-parsed overrides, applied after the files and before --set. */
  values?: Values;
}

/** The user's overrides merged together: what Helm records as the release's `config`. */
export function userValues(opts: ValueOptions): Values {
  let out: Values = {};
  for (const f of opts.valueFiles ?? []) out = mergeMaps(out, readValuesFile(f));
  if (opts.values) out = mergeMaps(out, clone(opts.values) as Values);
  for (const s of opts.set ?? []) parseSet(s, out, false);
  for (const s of opts.setString ?? []) parseSet(s, out, true);
  return out;
}

export function readValuesFile(path: string): Values {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HelmError('E_HELM_VALUES', `cannot read values file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseValuesYaml(text, path);
}

export function parseValuesYaml(text: string, name: string): Values {
  let v: Value;
  try {
    v = parseYaml(text);
  } catch (e) {
    throw new HelmError('E_HELM_VALUES', `${name} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  if (v === null || v === undefined) return {};
  if (!isMap(v)) throw new HelmError('E_HELM_VALUES', `${name} must hold a map of values, not a ${Array.isArray(v) ? 'list' : typeof v}`);
  return v;
}

/**
 * YAML as Helm reads values (go-yaml v2, YAML 1.1: yes/no/on/off are booleans, 0777 is octal),
 * except that timestamps and base-60 numbers stay strings: go-yaml leaves them so when decoding
 * into untyped maps, and a Date would not survive the templates anyway.
 */
export function parseYaml(text: string): Value {
  return YAML.parse(text, {
    version: '1.1',
    merge: true,
    customTags: (tags) => tags.filter((t) => typeof t === 'string'
      || (t.tag !== 'tag:yaml.org,2002:timestamp' && t.format !== 'TIME')),
  }) as Value;
}

/** Helm's mergeMaps for user sources: later sources win, maps merge. */
export function mergeMaps(a: Values, b: Values): Values {
  const out: Values = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isMap(v) && isMap(prev) ? mergeMaps(prev, v) : v;
  }
  return out;
}

/**
 * Chart defaults under user values (Helm's coalesce): the user wins; maps merge recursively; a user
 * `null` removes the key, which is how one drops a default such as `resources.limits`. Neither
 * input is modified.
 */
export function coalesce(user: Values, defaults: Values): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries(user)) {
    if (v === null) continue;
    const d = defaults[k];
    out[k] = isMap(v) && isMap(d) ? coalesce(v, d) : isMap(v) ? dropNulls(v) : clone(v);
  }
  for (const [k, d] of Object.entries(defaults)) {
    if (Object.hasOwn(user, k)) continue;
    out[k] = clone(d);
  }
  return out;
}

function dropNulls(v: Values): Values {
  const out: Values = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = isMap(x) ? dropNulls(x) : clone(x);
  return out;
}

export function clone(v: Value): Value {
  if (Array.isArray(v)) return v.map(clone);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  return v;
}

// --- --set ------------------------------------------------------------------------------------

/** Parse one --set argument into `into`, e.g. `image.tag=1.2,managedNamespaces={a,b},list[0].x=1`. */
export function parseSet(arg: string, into: Values, asString: boolean): Values {
  for (const assignment of splitUnescaped(arg, ',', true)) {
    if (assignment === '') continue;
    const eq = indexUnescaped(assignment, '=');
    if (eq < 0) throw badSet(arg, `key "${assignment}" has no value`);
    const path = parseKey(assignment.slice(0, eq), arg);
    const raw = assignment.slice(eq + 1);
    const value: Value = raw.startsWith('{') && raw.endsWith('}')
      ? splitUnescaped(raw.slice(1, -1), ',', false).filter((s, _i, all) => !(s === '' && all.length === 1))
        .map((s) => typed(unescape(s), asString))
      : typed(unescape(raw), asString);
    setPath(into, path, value, arg);
  }
  return into;
}

type PathPart = string | number;

function parseKey(key: string, arg: string): PathPart[] {
  const parts: PathPart[] = [];
  for (const seg of splitUnescaped(key, '.', false)) {
    const m = /^(.*?)((?:\[\d+\])*)$/.exec(seg)!;
    const name = unescape(m[1]!);
    if (name === '') throw badSet(arg, `key "${key}" has an empty segment`);
    parts.push(name);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) parts.push(Number(idx[1]));
  }
  return parts;
}

function setPath(root: Values, path: PathPart[], value: Value, arg: string): void {
  let cur: Value = root;
  for (let i = 0; i < path.length; i++) {
    const p = path[i]!;
    const last = i === path.length - 1;
    const nextIsIndex = typeof path[i + 1] === 'number';
    if (typeof p === 'number') {
      if (!Array.isArray(cur)) throw badSet(arg, 'an index applies only to a list');
      if (p > 65536) throw badSet(arg, `index ${p} is too large`);
      while (cur.length <= p) cur.push(null);
      if (last) { cur[p] = value; return; }
      if (nextIsIndex ? !Array.isArray(cur[p]) : !isMap(cur[p])) cur[p] = nextIsIndex ? [] : {};
      cur = cur[p];
    } else {
      const m = cur as Values;
      if (last) { m[p] = value; return; }
      if (nextIsIndex ? !Array.isArray(m[p]) : !isMap(m[p])) m[p] = nextIsIndex ? [] : {};
      cur = m[p];
    }
  }
}

/** strvals' typing: true/false/null, integers without a leading zero; "1.5" stays a string. */
function typed(s: string, asString: boolean): Value {
  if (asString) return s;
  const l = s.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  if (l === 'null') return null;
  if (s === '0') return 0;
  if (/^[+-]?[1-9]\d*$/.test(s) && Number.isSafeInteger(Number(s))) return Number(s);
  return s;
}

function splitUnescaped(s: string, sep: string, braces: boolean): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) { cur += c + s[i + 1]; i++; continue; }
    if (braces && c === '{') depth++;
    if (braces && c === '}') depth = Math.max(0, depth - 1);
    if (c === sep && depth === 0) { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out;
}

function indexUnescaped(s: string, ch: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === ch) return i;
  }
  return -1;
}

const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');

const badSet = (arg: string, why: string) =>
  new HelmError('E_HELM_VALUES', `cannot parse --set ${JSON.stringify(arg)}: ${why}`,
    { hint: 'use key.sub=value, several separated by commas; lists as key={a,b}; escape , and . with \\' });
