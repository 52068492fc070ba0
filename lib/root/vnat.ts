// VNAT: a cluster subnet that overlaps a route of this machine (a VPN, a Docker bridge, the home
// LAN) is reached through a free virtual subnet of the same size instead of shadowing that route,
// as Telepresence 2.21+ does. The virtual subnet is routed into the TUN; the stack dials the real
// address for each flow to a virtual one (lib/proxy/netstack/nat.ts); DNS answers for cluster
// names carry the virtual addresses (local-dns.ts calls mapDnsResponse). The real subnet keeps the
// machine's own route. `--vnat CIDR` maps a subnet without an overlap; `--allow-conflicting-
// subnets` routes the real subnet anyway (the behaviour before VNAT).
//
// Virtual subnets come from ranges that no LAN or cluster is meant to use:
//   IPv4: 198.18.0.0/15 (RFC 2544, benchmarking; the TUN's own 198.18.0.1 is in it), then
//         100.64.0.0/10 (RFC 6598, shared address space: carrier-grade NAT, not LANs).
//   IPv6: fd00::/8 (RFC 4193 unique local), starting at tp's own global ID 74:7076:6e61 ("tpvna").
// A candidate is free when no route of any table claims any of it (a route covering the whole
// range, like a default route or a VPN's 0.0.0.0/1, claims nothing in particular), and it overlaps
// no cluster subnet, --never-proxy subnet, other virtual subnet or TUN address. Candidates are
// tried in address order, so the same machine and cluster give the same mapping every time.

import type { DnsResponse } from '../common/rpc/manager.js';
import { DaemonCallError } from '../common/rpc/daemon.js';
import { bigIntToIp, formatCidr, ipToBigInt, parseCidr, type Cidr } from '../common/cidr.js';
import { SubnetMap, type Prefix } from '../proxy/netstack/index.js';
import { findConflicts, overlaps, type ExistingRoute } from './routes.js';

interface VirtualRange {
  range: string;
  /** Where the search starts (default: the range's first address). */
  from?: string;
}

export const VIRTUAL_RANGES: Readonly<Record<4 | 6, readonly VirtualRange[]>> = {
  4: [{ range: '198.18.0.0/15' }, { range: '100.64.0.0/10' }],
  6: [{ range: 'fd00::/8', from: 'fd74:7076:6e61::' }],
};

/** Candidates tried per range at most: a /32 has 2^17 places in 198.18.0.0/15, and a machine
 * whose first thousands are all taken has a problem no search will fix. */
const MAX_CANDIDATES = 4096;

/** One cluster subnet reached at a virtual one; `reason` says why, for `tp status`. */
export interface VnatMapping {
  real: string;
  virtual: string;
  reason: string;
}

const width = (c: Cidr) => (c.family === 4 ? 32 : 128);

/**
 * The first free subnet of `real`'s size in the virtual ranges of its family, or undefined.
 * `routes` are the machine's routes (any table); `reserved` are subnets a virtual one must never
 * overlap whatever their size (cluster subnets, --never-proxy, virtual subnets in use, the TUN's
 * addresses).
 */
export function pickVirtualSubnet(real: Cidr, routes: readonly Cidr[], reserved: readonly Cidr[]): Cidr | undefined {
  const w = BigInt(width(real));
  for (const r of VIRTUAL_RANGES[real.family]) {
    const range = parseCidr(r.range);
    if (real.bits < range.bits) continue;
    // A route at least as wide as the range covers all of it alike (a default route, a VPN's
    // 0.0.0.0/1): routing a part of it through the TUN takes nothing that route was for.
    const claims = [
      ...routes.filter((c) => c.family === real.family && c.bits >= range.bits),
      ...reserved.filter((c) => c.family === real.family),
    ];
    const size = 1n << (w - BigInt(real.bits));
    const count = 1n << BigInt(real.bits - range.bits);
    const start = r.from ? (ipToBigInt(r.from).value - range.base) / size : 0n;
    const tries = count < BigInt(MAX_CANDIDATES) ? count : BigInt(MAX_CANDIDATES);
    for (let i = 0n; i < tries; i++) {
      const cand: Cidr = { family: real.family, base: range.base + ((start + i) % count) * size, bits: real.bits };
      if (!claims.some((c) => overlaps(c, cand))) return cand;
    }
  }
  return undefined;
}

export interface VnatPlanInput {
  /** Subnets to route (normalised CIDRs): the cluster's plus --also-proxy. */
  subnets: readonly string[];
  /** The machine's routes, every table (RouteTable.list()). */
  existing: readonly ExistingRoute[];
  /** The TUN: its routes are ours, never a conflict (they still claim virtual space). */
  ourDev: string;
  allowConflicting: boolean;
  /** --vnat: CIDRs whose overlapping subnets are mapped even without a conflict; 'all' maps all. */
  force: readonly string[];
  /** What no virtual subnet may overlap besides routes: every subnet the cluster has, --never-proxy,
   * virtual subnets already in use, the TUN's addresses. */
  reserved: readonly string[];
}

export interface VnatPlan {
  mappings: VnatMapping[];
  /** What to route into the TUN, in the order of `subnets`: the virtual subnet of a mapped one. */
  routed: string[];
}

/** Which subnets are reached through a virtual subnet, and which one each gets. Throws
 * E_SUBNET_CONFLICT when a subnet must be mapped and no free virtual subnet of its size exists. */
export function planVnat(input: VnatPlanInput): VnatPlan {
  const forced = (c: Cidr) => input.force.some((f) => f === 'all' || overlaps(parseCidr(f), c));
  // Our own routes count too: the TUN's address is a local route on it.
  const routes = input.existing.map((r) => parseCidr(r.dst)).filter((c) => c.bits > 0);
  const reserved = [...input.reserved.map((s) => parseCidr(s)), ...input.subnets.map((s) => parseCidr(s))];
  const mappings: VnatMapping[] = [];
  const routed: string[] = [];
  for (const s of input.subnets) {
    const real = parseCidr(s);
    const conflict = findConflicts([s], [...input.existing], input.ourDev)[0];
    const why = forced(real) ? '--vnat' : conflict && !input.allowConflicting ? `overlaps ${describeRoute(conflict.route)}` : undefined;
    if (!why) {
      routed.push(formatCidr(real));
      continue;
    }
    const virtual = pickVirtualSubnet(real, routes, reserved);
    if (!virtual) {
      const ranges = VIRTUAL_RANGES[real.family].map((r) => r.range).join(' or ');
      throw new DaemonCallError(
        'E_SUBNET_CONFLICT',
        conflict
          ? `the cluster subnet ${formatCidr(real)} overlaps this machine's route ${describeRoute(conflict.route)}, and no free virtual subnet of its size (/${real.bits}) is left in ${ranges}`
          : `--vnat ${formatCidr(real)}: no free virtual subnet of its size (/${real.bits}) is left in ${ranges}`,
        `pass --allow-conflicting-subnets to route ${formatCidr(real)} through tp anyway (shadowing the machine's route), or --never-proxy ${formatCidr(real)} to leave it alone`,
      );
    }
    reserved.push(virtual);
    mappings.push({ real: formatCidr(real), virtual: formatCidr(virtual), reason: why });
    routed.push(formatCidr(virtual));
  }
  return { mappings, routed };
}

function describeRoute(r: ExistingRoute): string {
  return `${r.dst} via ${r.dev}${r.gateway ? ` (gateway ${r.gateway})` : ''}`;
}

/** `c` as bytes for the stack's SubnetMap. */
export function prefixOf(c: Cidr): Prefix {
  const len = c.family === 4 ? 4 : 16;
  const addr = Buffer.alloc(len);
  for (let i = len - 1, v = c.base; i >= 0; i--, v >>= 8n) addr[i] = Number(v & 255n);
  return { addr, bits: c.bits };
}

/** `inner` (inside `from`) moved to the same place inside `to` (of `from`'s size). */
function moveInto(inner: Cidr, from: Cidr, to: Cidr): Cidr {
  const host = (1n << BigInt(width(from) - from.bits)) - 1n;
  return { family: inner.family, base: to.base | (inner.base & host), bits: inner.bits };
}

/** The mappings of one VIF session: the stack's SubnetMap, DNS answer mapping, status. */
export class Vnat {
  /** Handed to the NetStack: virtual destination → real address to dial. */
  readonly map = new SubnetMap();
  #mappings: VnatMapping[] = [];
  readonly #neverProxy: Cidr[];

  constructor(neverProxy: readonly string[]) {
    this.#neverProxy = neverProxy.map((s) => parseCidr(s));
  }

  list(): VnatMapping[] {
    return this.#mappings.map((m) => ({ ...m }));
  }

  add(ms: readonly VnatMapping[]): void {
    for (const m of ms) {
      this.map.add({ real: prefixOf(parseCidr(m.real)), virtual: prefixOf(parseCidr(m.virtual)) });
      this.#mappings.push({ ...m });
    }
  }

  /** Forgets the mapping of the real subnet `real`; returns it (its virtual route is to go). */
  remove(real: string): VnatMapping | undefined {
    const key = formatCidr(parseCidr(real));
    const i = this.#mappings.findIndex((m) => m.real === key);
    if (i < 0) return undefined;
    const [m] = this.#mappings.splice(i, 1);
    this.map.removeVirtual(prefixOf(parseCidr(m!.virtual)));
    return m;
  }

  virtualOf(real: string): string | undefined {
    const key = formatCidr(parseCidr(real));
    return this.#mappings.find((m) => m.real === key)?.virtual;
  }

  /** --never-proxy subnets inside the real subnet of `m`, moved into its virtual subnet: they
   * get throw routes there, so a virtual address never reaches what --never-proxy keeps out. A
   * --never-proxy covering the whole subnet is left to the real routes (nothing to carve out). */
  neverProxyImages(m: VnatMapping): string[] {
    const real = parseCidr(m.real);
    const virtual = parseCidr(m.virtual);
    return this.#neverProxy
      .filter((n) => n.family === real.family && n.bits > real.bits && overlaps(n, real))
      .map((n) => formatCidr(moveInto(n, real, virtual)));
  }

  /** The address the workstation uses for cluster address `ip`: its virtual one when `ip` lies in
   * a mapped subnet (and outside --never-proxy), else `ip` itself. */
  toVirtual(ip: string): string {
    if (this.#mappings.length === 0) return ip;
    let a: Cidr;
    try {
      a = parseCidr(ip);
    } catch {
      return ip;
    }
    if (this.#neverProxy.some((n) => overlaps(n, a))) return ip;
    for (const m of this.#mappings) {
      const real = parseCidr(m.real);
      if (overlaps(real, a)) return bigIntToIp(a.family, moveInto(a, real, parseCidr(m.virtual)).base);
    }
    return ip;
  }

  /** The cluster address behind a virtual `ip` (e.g. for a reverse lookup), else `ip`. */
  toReal(ip: string): string {
    let a: Cidr;
    try {
      a = parseCidr(ip);
    } catch {
      return ip;
    }
    for (const m of this.#mappings) {
      const virtual = parseCidr(m.virtual);
      if (overlaps(virtual, a)) return bigIntToIp(a.family, moveInto(a, virtual, parseCidr(m.real)).base);
    }
    return ip;
  }

  /** A cluster DNS answer with each address the workstation must use instead (A and AAAA). */
  mapDnsResponse(r: DnsResponse): DnsResponse {
    if (this.#mappings.length === 0 || !Array.isArray(r?.addresses) || r.addresses.length === 0) return r;
    return { ...r, addresses: r.addresses.map((a) => (typeof a === 'string' ? this.toVirtual(a) : a)) };
  }
}
