// IP literals as SOCKS and DNS carry them: 4 or 16 raw bytes. Pure functions, no DNS: a name that is
// not an IP literal stays a name (it is resolved in the cluster, not here).

import { isIPv4, isIPv6 } from 'node:net';

/** "1.2.3.4" from 4 bytes at `off`. */
export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text of 16 bytes at `off`: lower-case hex, the longest run (≥2) of zero groups as "::". */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** 4 bytes of a dotted IPv4 literal, or undefined if `s` is not one. */
export function parseIpv4(s: string): Buffer | undefined {
  if (!isIPv4(s)) return undefined;
  return Buffer.from(s.split('.').map(Number));
}

/** 16 bytes of an IPv6 literal (with "::" and a dotted IPv4 tail), or undefined. */
export function parseIpv6(s: string): Buffer | undefined {
  if (!isIPv6(s)) return undefined;
  const zone = s.indexOf('%'); // a zone id is local to this host and has no place on the wire
  if (zone >= 0) s = s.slice(0, zone);
  const out = Buffer.alloc(16);
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    const gs: number[] = [];
    for (const p of part.split(':')) {
      if (p.includes('.')) {
        const v4 = parseIpv4(p)!;
        gs.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else gs.push(parseInt(p, 16));
    }
    return gs;
  };
  const dbl = s.indexOf('::');
  const head = toGroups(dbl >= 0 ? s.slice(0, dbl) : s);
  const tail = dbl >= 0 ? toGroups(s.slice(dbl + 2)) : [];
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

/** "::ffff:1.2.3.4" → "1.2.3.4": dual-stack sockets report IPv4 peers in mapped form. */
export function unmapIpv4(addr: string): string {
  return addr.toLowerCase().startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}
