// Go's fmt as templates see it: how `{{ .x }}`, `print`, `printf` and `quote` turn values into text.
// Numbers follow float64's %v except that integers print whole (see the README's gaps: Helm reads
// values.yaml numbers as float64 and prints 1000000 as 1e+06; we print 1000000).

export type Value = unknown;

export const isMap = (v: Value): v is Record<string, Value> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

export function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  // %g with the shortest repr: exponent form when exp < -4 || exp >= 21 (JS switches at 1e21 too,
  // but only below 1e-6), with Go's two-digit exponent.
  const r = Math.abs(n) < 1e-4 ? n.toExponential() : String(n);
  return r.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** fmt's %v. `top` is the template's own printing, where nil is "<no value>". */
export function goString(v: Value, top = false): string {
  if (v === null || v === undefined) return top ? '<no value>' : '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goString(x)).join(' ')}]`;
  if (v instanceof Uint8Array) return `[${Array.from(v).join(' ')}]`;
  if (typeof v === 'function') return '<func>';
  if (isMap(v)) {
    return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** strconv.Quote */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\n': out += '\\n'; continue;
      case '\t': out += '\\t'; continue;
      case '\r': out += '\\r'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c === 0xfffd && ch !== '\ufffd') out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

/** fmt.Sprint: a space between operands when neither side is a string. */
export function goSprint(args: Value[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += goString(a);
  });
  return out;
}

const VERB = /%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g;

/** fmt.Sprintf for the verbs charts use: %s %v %d %q %t %f %x %X %%. */
export function goSprintf(format: string, args: Value[]): string {
  let k = 0;
  let out = format.replace(VERB, (_m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (k >= args.length) return `%!${verb}(MISSING)`;
    const a = args[k++];
    let s: string;
    switch (verb) {
      case 's': case 'v': s = goString(a); break;
      case 'q': s = typeof a === 'string' ? goQuote(a) : goString(a); break;
      case 't': s = typeof a === 'boolean' ? String(a) : bad(verb, a); break;
      case 'd': s = typeof a === 'number' && Number.isInteger(a) ? String(a) : bad(verb, a); break;
      case 'f': s = typeof a === 'number' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : bad(verb, a); break;
      case 'x': case 'X': {
        const h = typeof a === 'number' ? Math.trunc(a).toString(16)
          : typeof a === 'string' ? Buffer.from(a).toString('hex') : bad(verb, a);
        s = verb === 'X' ? h.toUpperCase() : h;
        break;
      }
      default: s = bad(verb, a);
    }
    if (prec !== undefined && (verb === 's' || verb === 'v')) s = s.slice(0, Number(prec));
    if (width !== undefined && s.length < Number(width)) {
      const pad = (flags.includes('0') && !flags.includes('-') ? '0' : ' ').repeat(Number(width) - s.length);
      s = flags.includes('-') ? s + pad : pad + s;
    }
    return s;
  });
  if (k < args.length) out += `%!(EXTRA ${args.slice(k).map((a) => `${goType(a)}=${goString(a)}`).join(', ')})`;
  return out;
}

function bad(verb: string, a: Value): string {
  return `%!${verb}(${goType(a)}=${goString(a)})`;
}

/** The Go type a value would have after Helm parsed it from YAML/JSON. */
export function goType(v: Value): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (isMap(v)) return 'map[string]interface {}';
  return typeof v;
}

/** text/template's notion of truth. */
export function truthy(v: Value): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}
