// Which intercept takes a request: `--http-header K=V` and `--http-path-prefix P` of each session.
import type { RequestHead } from './parse.js';

export interface HttpFilter {
  /** Header name (any case) → exact value, or a RegExp tested against the value. All must match. */
  headers: Record<string, string | RegExp>;
  /** The request path (query included) must start with this. */
  pathPrefix?: string;
}

/** A filter with no header and no path prefix takes every request: an unfiltered intercept. */
export const isUnfiltered = (f: HttpFilter | undefined) =>
  !f || (Object.keys(f.headers).length === 0 && !f.pathPrefix);

export function matches(f: HttpFilter, h: RequestHead): boolean {
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
  // A /g or /y RegExp keeps lastIndex between calls; matching must not depend on history.
  want.lastIndex = 0;
  return want.test(v);
}

/** The first matching intercept in engagement order, or undefined (→ the app). */
export function pickIntercept<T extends { filter: HttpFilter }>(intercepts: readonly T[], h: RequestHead): T | undefined {
  for (const i of intercepts) if (matches(i.filter, h)) return i;
  return undefined;
}
