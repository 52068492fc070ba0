// The root daemon's DNS server for one VIF session (lib/root/dns/): cluster names answered through
// the manager, the rest relayed to the original nameservers from a reserved source-port range that
// the DNS redirect exempts (otherwise the relay would loop to itself). It listens on loopback for
// the iptables redirect, on the TUN's own address for systemd-resolved (resolved.ts says why).
import type { DnsRecord, DnsRequest, DnsResponse } from '../common/rpc/manager.js';
import type { Logger } from '../common/log.js';
import { DnsServer, type RouteConfig } from './dns/index.js';

/** Below Linux's default ephemeral range (32768–60999): no other program's query uses these. */
export const UPSTREAM_SOURCE_PORTS = [32700, 32763] as const;

export interface LocalDnsOptions {
  lookup: (q: DnsRequest, signal: AbortSignal) => Promise<DnsResponse>;
  upstreams: string[];
  clusterDomain: string;
  namespaces: string[];
  include: string[];
  exclude: string[];
  /** The workstation's search domains: names below them stay with the original resolver. */
  hostSearch?: string[];
  /** Subnets whose reverse names the cluster answers (as routed: a VNAT subnet by its virtual
   * range) and the --never-proxy holes in them. */
  reverse?: { subnets: string[]; except: string[] };
  /** VNAT (vnat.ts): rewrites a cluster answer's addresses to the virtual ones the workstation
   * routes into the TUN. Applied to every answer from the manager before the server sees it. */
  mapAnswer?: (r: DnsResponse) => DnsResponse;
  /** VNAT: the real cluster address of a virtual one, for reverse lookups (Vnat.toReal). */
  realAddress?: (ip: string) => string;
  /** Where to listen: the first port of `ports` that binds (default 127.0.0.1, an ephemeral port). */
  listen?: { host: string; ports: number[] };
  log: Logger;
}

export interface LocalDns {
  address: { host: string; port: number };
  upstreamSourcePorts: readonly [number, number];
  counters(): { queries: number; clusterAnswers: number; forwarded: number };
  /** New routing rules (the subnets changed); cached negatives are dropped. */
  configure(change: Partial<RouteConfig>): void;
  stop(): Promise<void>;
}

export async function startLocalDns(opts: LocalDnsOptions): Promise<LocalDns> {
  const { host, ports } = opts.listen ?? { host: '127.0.0.1', ports: [0] };
  for (let i = 0; ; i++) {
    try {
      return await startOn(opts, host, ports[i]!);
    } catch (err) {
      // Port 53 of the TUN address is taken when another server holds 0.0.0.0:53 (dnsmasq, bind):
      // the next port in the list is the fallback.
      const code = (err as { code?: string }).code;
      if (i + 1 >= ports.length || (code !== 'EADDRINUSE' && code !== 'EACCES')) throw err;
      opts.log.info('dns port taken; trying the next', { host, port: ports[i], code });
    }
  }
}

async function startOn(opts: LocalDnsOptions, host: string, port: number): Promise<LocalDns> {
  const server = new DnsServer({
    listen: { host, port },
    lookup: opts.mapAnswer ? mappedLookup(opts.lookup, opts.mapAnswer) : opts.lookup,
    upstreams: opts.upstreams,
    clusterDomain: opts.clusterDomain,
    namespaces: opts.namespaces,
    include: opts.include,
    exclude: opts.exclude,
    ...(opts.hostSearch ? { hostSearch: opts.hostSearch } : {}),
    ...(opts.reverse ? { reverse: opts.reverse } : {}),
    ...(opts.realAddress ? { realAddress: opts.realAddress } : {}),
    upstreamSource: { portRange: UPSTREAM_SOURCE_PORTS },
    log: opts.log,
  });
  const [addr] = await server.start();
  return {
    address: { host: addr!.host, port: addr!.port },
    upstreamSourcePorts: UPSTREAM_SOURCE_PORTS,
    counters: () => ({ queries: server.counters.queries, clusterAnswers: server.counters.cluster, forwarded: server.counters.upstream }),
    configure: (change) => server.configure(change),
    stop: () => server.stop(),
  };
}

function mappedLookup(lookup: LocalDnsOptions['lookup'], map: (r: DnsResponse) => DnsResponse): LocalDnsOptions['lookup'] {
  return async (q: DnsRequest, signal: AbortSignal) => map(await lookup(q, signal));
}

/** A cluster answer with every address (`addresses`, and the data of its A and AAAA records) as
 * `map` gives it: VNAT's virtual address for a cluster one (issue #16). */
export function mapAddresses(r: DnsResponse, map: (ip: string) => string): DnsResponse {
  if (!r || typeof r !== 'object') return r;
  const one = (x: DnsRecord): DnsRecord => {
    const d = x?.data as { address?: unknown } | undefined;
    return (x?.type === 'A' || x?.type === 'AAAA') && typeof d?.address === 'string' ? { ...x, data: { address: map(d.address) } } : x;
  };
  return {
    ...r,
    ...(Array.isArray(r.addresses) ? { addresses: r.addresses.map((a) => (typeof a === 'string' ? map(a) : a)) } : {}),
    ...(Array.isArray(r.records) ? { records: r.records.map(one) } : {}),
  };
}
