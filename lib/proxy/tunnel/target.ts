// Where a flow goes, as written on the wire: `:authority` host:port for TCP (RFC 9113 §8.5, IPv6 in
// brackets) and the RFC 9298 §2 path template /.well-known/masque/udp/{host}/{port}/ for UDP
// (IPv6 colons percent-encoded there). Parsing is strict: a bad target is a 400, never a dial.

import { isIP } from 'node:net';
import { PATHS } from './protocol.js';

export interface Target {
  host: string;
  port: number;
}

// DNS names as the cluster knows them (RFC 1123 labels, '_' tolerated for SRV-style names).
const NAME_RE =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

export const validHost = (h: string) => isIP(h) !== 0 || NAME_RE.test(h);

function parsePort(s: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(s)) return undefined;
  const p = Number(s);
  return p >= 1 && p <= 65535 ? p : undefined;
}

export function formatAuthority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseAuthority(a: string): Target | undefined {
  let host: string;
  let portText: string;
  if (a.startsWith('[')) {
    const close = a.indexOf(']');
    if (close < 0 || a[close + 1] !== ':') return undefined;
    host = a.slice(1, close);
    portText = a.slice(close + 2);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = a.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = a.slice(0, colon);
    portText = a.slice(colon + 1);
    if (host.includes(':') || !validHost(host)) return undefined; // bare IPv6 needs brackets
  }
  const port = parsePort(portText);
  return port === undefined ? undefined : { host, port };
}

export function udpPath(host: string, port: number): string {
  return `${PATHS.udpPrefix}${encodeURIComponent(host)}/${port}/`;
}

export function parseUdpPath(path: string): Target | undefined {
  if (!path.startsWith(PATHS.udpPrefix)) return undefined;
  const q = path.indexOf('?');
  const parts = (q < 0 ? path : path.slice(0, q)).slice(PATHS.udpPrefix.length).split('/');
  // host, port, and the empty string after the trailing slash (which RFC 9298's template has).
  if (parts.length !== 3 || parts[2] !== '') return undefined;
  let host: string;
  try {
    host = decodeURIComponent(parts[0]!);
  } catch {
    return undefined;
  }
  const port = parsePort(parts[1]!);
  if (port === undefined || !validHost(host)) return undefined;
  return { host, port };
}
