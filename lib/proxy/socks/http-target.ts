// HTTP proxy request-targets (RFC 9112 §3.2) and header hygiene. Pure functions.
//
// The target is parsed by hand rather than with WHATWG `URL`: URL normalises the path (dot
// segments, percent-encoding), and a proxy must forward the path byte for byte.

export interface Target {
  host: string;
  port: number;
}

export interface OriginTarget extends Target {
  /** origin-form for the upstream request line: path and query, never empty, no fragment. */
  path: string;
}

export type TargetResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (reason: string) => ({ ok: false, reason }) as const;

/** reg-name, IPv4 or bracketed IPv6 (RFC 3986 §3.2.2), then an optional port. */
function splitHostPort(authority: string, defaultPort: number | undefined): TargetResult<Target> {
  let host: string;
  let rest: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return fail(`unclosed "[" in ${JSON.stringify(authority)}`);
    host = authority.slice(1, close);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) return fail(`bad IPv6 literal in ${JSON.stringify(authority)}`);
    rest = authority.slice(close + 1);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    rest = colon >= 0 ? authority.slice(colon) : '';
    if (!/^[A-Za-z0-9._~!$&'()*+,;=%-]+$/.test(host)) return fail(`bad host in ${JSON.stringify(authority)}`);
  }
  let port = defaultPort;
  if (rest !== '' && rest !== ':') {
    if (!/^:[0-9]{1,5}$/.test(rest)) return fail(`bad port in ${JSON.stringify(authority)}`);
    port = Number(rest.slice(1));
  }
  if (port === undefined) return fail(`no port in ${JSON.stringify(authority)}`);
  if (port < 1 || port > 65535) return fail(`port ${port} out of range`);
  return { ok: true, value: { host: host.toLowerCase(), port } };
}

/** CONNECT's authority-form, `host:port`; the port is required (RFC 9110 §9.3.6). */
export function parseAuthorityForm(target: string): TargetResult<Target> {
  if (target === '' || /[/?#@\s]/.test(target)) return fail(`CONNECT target ${JSON.stringify(target)} is not host:port`);
  return splitHostPort(target, undefined);
}

/** absolute-form `http://host[:port]/path?query`. https:// is refused: the proxy would have to
 * speak TLS to the origin; clients use CONNECT for https. */
export function parseAbsoluteForm(target: string): TargetResult<OriginTarget> {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(target);
  if (!m) {
    return fail(
      target.startsWith('/')
        ? 'this is a proxy: the request target must be an absolute URI (http://host/path) or CONNECT host:port'
        : `request target ${JSON.stringify(target.slice(0, 100))} is not an absolute http URI`,
    );
  }
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http') return fail(`${scheme}:// is not proxied as a plain request: use CONNECT (curl -p, or an https:// URL)`);
  // userinfo is deprecated in http URIs (RFC 9110 §4.2.4) and must not reach the origin.
  const authority = m[2]!.slice(m[2]!.lastIndexOf('@') + 1);
  if (authority === '') return fail('the URI has no host');
  const hp = splitHostPort(authority, 80);
  if (!hp.ok) return hp;
  const rawPath = m[3]!;
  const path = rawPath === '' ? '/' : rawPath.startsWith('?') ? `/${rawPath}` : rawPath;
  return { ok: true, value: { ...hp.value, path } };
}

/** RFC 9110 §7.6.1 connection-specific fields, plus the de-facto Proxy-Connection and Keep-Alive.
 * Transfer-Encoding is hop-by-hop too: Node's parser removes the chunking and re-adds it on the
 * way out. */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Raw header list ([name, value, name, value…] as Node's rawHeaders) without the hop-by-hop
 * fields, including those the Connection field names. `alsoDrop` (lower-case) adds more. */
export function endToEndHeaders(raw: readonly string[], alsoDrop: readonly string[] = []): string[] {
  const drop = new Set([...HOP_BY_HOP, ...alsoDrop]);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'connection' || name === 'proxy-connection') {
      for (const token of raw[i + 1]!.split(',')) drop.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!drop.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Credentials from a `Proxy-Authorization: Basic …` value (RFC 7617), or undefined. */
export function parseBasicAuth(value: string | undefined): { username: string; password: string } | undefined {
  const m = value === undefined ? null : /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `host:port` for a Host header or a log line, IPv6 in brackets; the port is left out when it
 * is the scheme's default. */
export function formatAuthority(host: string, port: number, defaultPort?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}
