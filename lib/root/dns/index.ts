// The root daemon's DNS server: what lib/root/service.ts needs to run it and report on it.
export { DnsServer, type DnsCounters, type DnsServerOptions, type ListenAddress } from './server.js';
export type { ClusterLookup } from './cluster.js';
export { compileRules, route, type Route, type RouteConfig, type RouteReason } from './rules.js';
export { parseUpstream, type Upstream } from './upstream.js';
