// Small CIDR arithmetic for cluster discovery: parse, contain, and the narrowest common cover of
// a set of addresses (used when nodes publish no podCIDRs).
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The network address as a bigint. */
  base: bigint;
  bits: number;
}

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } {
  if (isIPv4(ip)) {
    return { family: 4, value: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  }
  if (isIPv6(ip)) {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n) };
  }
  throw new Error(`"${ip}" is not an IP address`);
}

export function bigIntToIp(family: 4 | 6, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export function parseCidr(s: string): Cidr {
  const [ip, bitsStr] = s.split('/');
  const { family, value } = ipToBigInt(ip ?? '');
  const max = family === 4 ? 32 : 128;
  const bits = bitsStr === undefined ? max : Number(bitsStr);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`"${s}" is not a CIDR`);
  const mask = ((1n << BigInt(max)) - 1n) ^ ((1n << BigInt(max - bits)) - 1n);
  return { family, base: value & mask, bits };
}

export function formatCidr(c: Cidr): string {
  return `${bigIntToIp(c.family, c.base)}/${c.bits}`;
}

/** The smallest CIDR containing every address (all of one family), but never narrower than
 * `minBits`-wide prefixes' worth of room: pods come and go, the cover must outlive them. */
export function coveringCidr(ips: string[], maxBits: number): string | undefined {
  if (ips.length === 0) return undefined;
  const vals = ips.map(ipToBigInt);
  const family = vals[0]!.family;
  const width = family === 4 ? 32 : 128;
  let bits = Math.min(maxBits, width);
  for (; bits > 0; bits--) {
    const shift = BigInt(width - bits);
    const first = vals[0]!.value >> shift;
    if (vals.every((v) => v.family === family && v.value >> shift === first)) break;
  }
  const shift = BigInt(width - bits);
  return formatCidr({ family, base: (vals[0]!.value >> shift) << shift, bits });
}

/** Reads the valid range out of the API server's refusal of an out-of-range ClusterIP:
 * "... The range of valid IPs is 10.96.0.0/12". */
export function cidrFromProbeError(message: string): string[] {
  const m = /range of valid IPs is ([0-9a-fA-F:./, ]+)/.exec(message);
  if (!m) return [];
  return m[1]!
    .split(/[ ,]+/)
    .map((s) => s.trim().replace(/\.$/, ''))
    .filter((s) => s.includes('/'))
    .filter((s) => {
      try {
        parseCidr(s);
        return true;
      } catch {
        return false;
      }
    });
}
