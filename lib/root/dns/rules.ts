// Which resolver answers a name: the cluster (through the traffic manager) or the workstation's
// original resolver. Pure, so the whole table is unit-tested (DESIGN.md §5).
//
// Order, first match wins:
//   1. exclude-suffixes            → upstream   (the user's explicit "never the cluster")
//   2. include-suffixes            → cluster    (the user's explicit "always the cluster")
//   3. reverse names (RFC 1035 §3.5, RFC 3596 §2.5) of an address in a cluster subnet → cluster
//      (`dig -x` of a pod or Service IP); every other reverse name → upstream, whatever
//      namespace shares the name `arpa`
//   4. under the cluster domain    → cluster    (echo.default.svc.cluster.local)
//   5. search-path artifacts       → upstream   (see below)
//   6. a single label              → cluster    (echo: resolved in the client's namespace)
//   7. <x>.<namespace>[.svc]       → cluster    (namespaces act as pseudo-TLDs; with
//                                                 --mapped-namespaces only those)
//   8. anything else               → upstream
//
// Search-path artifacts: glibc appends each `search` domain of the workstation's resolv.conf to
// names with fewer dots than ndots, so `echo.default` is also asked as `echo.default.corp.lan`,
// and a name that already went through a cluster-style search list can come back as
// `echo.default.svc.cluster.local.localdomain`. Such names must not reach the manager: the pod-side
// resolver would expand them again, costing round trips and, worse, a namespace that shares its
// name with a host search domain's last label (`lan`) would capture every search-list retry.
//
// Namespaces that coincide with a real TLD (a namespace called `dev` or `app`) capture that TLD;
// exclude-suffixes are the escape hatch, as in Telepresence.

import { parseCidr, type Cidr } from '../../common/cidr.js';
import { addressOfReverseName, within } from './reverse.js';

export type Route = 'cluster' | 'upstream';
export type RouteReason =
  'exclude' | 'include' | 'reverse' | 'cluster-domain' | 'search-artifact' | 'single-label' | 'namespace' | 'localhost' | 'root' | 'other';

export interface RouteConfig {
  /** `cluster.local` unless the manager reports another. */
  clusterDomain: string;
  /** Namespaces the client can see (the manager's list), or the mapped namespaces. */
  namespaces: readonly string[];
  /** Subnets whose reverse names the cluster answers, as the workstation addresses them (a VNAT
   * subnet by its virtual range), and subnets within them that it does not (--never-proxy). */
  reverse?: { subnets: readonly string[]; except: readonly string[] };
  include: readonly string[];
  exclude: readonly string[];
  /** The workstation's own search domains (resolv.conf before tp). */
  hostSearch?: readonly string[];
}

/** Lower case, no trailing dot: DNS names compare case-insensitively (RFC 4343). */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** `name` is `suffix` or ends with `.suffix` (both normalized). */
export function underSuffix(name: string, suffix: string): boolean {
  if (suffix === '') return false;
  return name === suffix || name.endsWith('.' + suffix);
}

/** A config whose lists are normalized once, so route() compares plain strings. */
export interface CompiledRules {
  clusterDomain: string;
  namespaces: ReadonlySet<string>;
  include: readonly string[];
  exclude: readonly string[];
  hostSearch: readonly string[];
  reverse: readonly Cidr[];
  reverseExcept: readonly Cidr[];
}

export function compileRules(cfg: RouteConfig): CompiledRules {
  const clean = (xs: readonly string[] | undefined) => [
    ...new Set((xs ?? []).map((s) => normalizeName(s.startsWith('.') ? s.slice(1) : s)).filter((s) => s !== '')),
  ];
  const clusterDomain = normalizeName(cfg.clusterDomain || 'cluster.local');
  return {
    clusterDomain,
    namespaces: new Set(clean(cfg.namespaces)),
    include: clean(cfg.include),
    exclude: clean(cfg.exclude),
    // A search domain inside the cluster domain is a cluster search list, not a host one (the
    // workstation may itself run in a pod); treating it as an artifact would hide real names.
    hostSearch: clean(cfg.hostSearch).filter((s) => !underSuffix(s, clusterDomain)),
    reverse: cidrs(cfg.reverse?.subnets),
    reverseExcept: cidrs(cfg.reverse?.except),
  };
}

/** The subnets of a list that parse (they come from the cluster and the flags, checked before). */
function cidrs(xs: readonly string[] | undefined): Cidr[] {
  const out: Cidr[] = [];
  for (const x of xs ?? []) {
    try {
      out.push(parseCidr(x));
    } catch {
      // not a subnet: nothing to route
    }
  }
  return out;
}

export function route(name: string, rules: CompiledRules): { route: Route; reason: RouteReason } {
  const n = normalizeName(name);
  if (n === '') return { route: 'upstream', reason: 'root' };
  if (rules.exclude.some((s) => underSuffix(n, s))) return { route: 'upstream', reason: 'exclude' };
  if (rules.include.some((s) => underSuffix(n, s))) return { route: 'cluster', reason: 'include' };
  if (n.endsWith('.arpa') || n === 'arpa') {
    const ip = addressOfReverseName(n);
    const a = ip === undefined ? undefined : parseCidr(ip);
    const ours = a !== undefined && rules.reverse.some((c) => within(a, c)) && !rules.reverseExcept.some((c) => within(a, c));
    return ours ? { route: 'cluster', reason: 'reverse' } : { route: 'upstream', reason: 'other' };
  }
  if (underSuffix(n, rules.clusterDomain)) return { route: 'cluster', reason: 'cluster-domain' };
  // The cluster domain followed by more labels: a search domain was appended to a full name.
  if (n.includes('.' + rules.clusterDomain + '.') || n.startsWith(rules.clusterDomain + '.'))
    return { route: 'upstream', reason: 'search-artifact' };
  // Strictly below a host search domain: `echo.corp.lan` is glibc trying `echo` in `corp.lan`.
  if (rules.hostSearch.some((s) => n.endsWith('.' + s))) return { route: 'upstream', reason: 'search-artifact' };
  const labels = n.split('.');
  // RFC 6761 §6.3: localhost is the workstation's, whatever the cluster thinks.
  if (labels[labels.length - 1] === 'localhost') return { route: 'upstream', reason: 'localhost' };
  if (labels.length === 1) return { route: 'cluster', reason: 'single-label' };
  const last = labels[labels.length - 1]!;
  if (rules.namespaces.has(last)) return { route: 'cluster', reason: 'namespace' };
  if (last === 'svc' && labels.length >= 3 && rules.namespaces.has(labels[labels.length - 2]!))
    return { route: 'cluster', reason: 'namespace' };
  return { route: 'upstream', reason: 'other' };
}
