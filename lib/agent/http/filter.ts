// Which intercept takes a request: `--http-header K=V` and `--http-path-prefix P` of each session.
//
// One meaning for HTTP/1.1 and HTTP/2 (README "Intercepts"): a request is seen as a path and its
// header fields by lower-cased name. For HTTP/2 (filterView below) the path is `:path`, `host` is
// `:authority` (RFC 9113 §8.3.1: it replaces Host), other pseudo-headers are not headers, and the
// cookie crumbs a client may split into several fields (§8.2.3) are joined with "; " as they
// would be on one HTTP/1.1 line.
import { compileHeaderPattern, headerPattern, type HttpFilterSpec } from '../../common/rpc/engagement.js';
import { HTTP_FILTER_MAX_PATTERN, HTTP_FILTER_MAX_PATTERN_INPUT } from '../../common/limits.js';

export interface HttpFilter {
  /** Header name (any case) → exact value, or a RegExp tested against the value. All must match. */
  headers: Record<string, string | RegExp>;
  /** The request path (query included) must start with this. */
  pathPrefix?: string;
}

/** What a filter looks at: an HTTP/1.1 RequestHead is one, filterView() makes one for HTTP/2. */
export interface FilterView {
  path: string;
  /** Lower-cased name → values in order of appearance. */
  byName: Map<string, string[]>;
}

/** A filter with no header and no path prefix takes every request: an unfiltered intercept. */
export const isUnfiltered = (f: HttpFilter | undefined) => !f || (Object.keys(f.headers).length === 0 && !f.pathPrefix);

export function matches(f: HttpFilter, h: FilterView): boolean {
  if (f.pathPrefix && !h.path.startsWith(f.pathPrefix)) return false;
  for (const [name, want] of Object.entries(f.headers)) {
    const vals = h.byName.get(name.toLowerCase());
    if (!vals) return false;
    // A field may be repeated; it matches if one of its lines does, or their combination
    // (RFC 9110 §5.3: repeated lines are equivalent to one comma-joined line).
    const candidates = vals.length > 1 ? [...vals, vals.join(', ')] : vals;
    if (!candidates.some((v) => valueMatches(want, v))) return false;
  }
  return true;
}

function valueMatches(want: string | RegExp, v: string): boolean {
  if (typeof want === 'string') return v === want;
  // The engine is linear, but a 60 KiB cookie times a long pattern is still work on every
  // request: values past the cap never match a pattern.
  if (v.length > HTTP_FILTER_MAX_PATTERN_INPUT) return false;
  // A /g or /y RegExp keeps lastIndex between calls; matching must not depend on history.
  want.lastIndex = 0;
  return want.test(v);
}

/** The first matching intercept in engagement order, or undefined (→ the app). */
export function pickIntercept<T extends { filter: HttpFilter }>(intercepts: readonly T[], h: FilterView): T | undefined {
  for (const i of intercepts) if (matches(i.filter, h)) return i;
  return undefined;
}

/** A filter that no request matches: an engagement whose pattern the agent cannot run takes
 * nothing rather than everything (the CLI refuses such patterns; this is for older clients). */
export const NEVER: HttpFilter = Object.freeze({ headers: Object.freeze({ '': /$^/ }) }) as HttpFilter;

/**
 * The agent's filter for an engagement's spec, compiled once per engagement update: `~REGEX`
 * values become anchored linear-time RegExps (compileHeaderPattern). Throws HeaderPatternError.
 */
export function compileFilter(spec: HttpFilterSpec | undefined): HttpFilter {
  const headers: Record<string, string | RegExp> = {};
  for (const [name, value] of Object.entries(spec?.headers ?? {})) {
    const p = headerPattern(value);
    headers[name] = p === undefined ? value : compileHeaderPattern(p, HTTP_FILTER_MAX_PATTERN);
  }
  return { headers, ...(spec?.pathPrefix ? { pathPrefix: spec.pathPrefix } : {}) };
}

/**
 * An HTTP/2 request as filters see it, from the field list Node gives with a stream (`rawHeaders`:
 * name, value, name, value; names already lower-case on the wire, RFC 9113 §8.2.1).
 */
export function filterView(raw: readonly string[]): FilterView {
  const byName = new Map<string, string[]>();
  let path = '';
  let authority: string | undefined;
  const cookies: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name.startsWith(':')) {
      if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'cookie') {
      cookies.push(value);
      continue;
    }
    const prev = byName.get(name);
    if (prev) prev.push(value);
    else byName.set(name, [value]);
  }
  if (cookies.length) byName.set('cookie', [cookies.join('; ')]);
  if (authority !== undefined) byName.set('host', [authority]);
  return { path, byName };
}
