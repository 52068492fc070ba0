// Reverse names (issue #16): `dig -x` of a pod or Service IP asks `d.c.b.a.in-addr.arpa` (RFC 1035
// §3.5) or the 32 nibbles of an IPv6 address under `ip6.arpa` (RFC 3596 §2.5). Those of the
// cluster's subnets are answered by the cluster's DNS; the rest by the workstation's resolver. Pure.
import { bigIntToIp, ipToBigInt, parseCidr, type Cidr } from '../../common/cidr.js';

/** The address a full reverse name stands for, or undefined (a zone, not an address; not reverse). */
export function addressOfReverseName(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const labels = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4 || labels.some((l) => !/^(0|[1-9]\d{0,2})$/.test(l) || Number(l) > 255)) return undefined;
    return labels.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const labels = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (labels.length !== 32 || labels.some((l) => !/^[0-9a-f]$/.test(l))) return undefined;
    return bigIntToIp(6, BigInt('0x' + labels.reverse().join('')));
  }
  return undefined;
}

/** The reverse name of an address (lower case, no trailing dot). */
export function reverseNameOf(ip: string): string {
  const { family, value } = ipToBigInt(ip);
  if (family === 4) return `${ip.split('.').map(Number).reverse().join('.')}.in-addr.arpa`;
  return `${value.toString(16).padStart(32, '0').split('').reverse().join('.')}.ip6.arpa`;
}

/** Whether address (or subnet) `a` lies inside subnet `c`. */
export function within(a: Cidr, c: Cidr): boolean {
  if (a.family !== c.family || a.bits < c.bits) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.bits);
  return a.base >> shift === c.base >> shift;
}

/** Zones enumerated for one subnet at most; a wider fan-out takes the enclosing zone instead. */
const MAX_ZONES_PER_SUBNET = 64;

/**
 * The reverse zones that hold the names of `cidr`'s addresses, on label boundaries (octets for
 * IPv4, nibbles for IPv6): `10.96.0.0/12` → `96.10.in-addr.arpa` … `111.10.in-addr.arpa`. They are
 * systemd-resolved routing domains: resolved sends a reverse query to the link whose domain is the
 * longest suffix of the name. A routing domain wider than the subnet is harmless: tp's DNS
 * server then splits by address (rules.ts) — so nothing outside the subnet reaches the cluster;
 * the enclosing zone is also what a subnet that fans out into more than 64 zones gets.
 */
export function reverseZonesOf(cidr: string): string[] {
  const c: Cidr = parseCidr(cidr);
  const step = c.family === 4 ? 8 : 4;
  const width = c.family === 4 ? 32 : 128;
  if (c.bits < step) return [];
  let at = Math.ceil(c.bits / step) * step;
  if (2 ** (at - c.bits) > MAX_ZONES_PER_SUBNET) at = Math.floor(c.bits / step) * step;
  const count = 2 ** (at - c.bits);
  const zones: string[] = [];
  for (let i = 0; i < count; i++) {
    const base = c.base + (BigInt(i) << BigInt(width - at));
    const full = reverseNameOf(bigIntToIp(c.family, base)).split('.');
    const labelsKept = at / step;
    const suffix = full.slice(full.length - 2 - labelsKept); // the kept labels, then in-addr.arpa / ip6.arpa
    zones.push(suffix.join('.'));
  }
  return zones;
}
