// Name resolution as a pod in the client's namespace would see it: the cluster resolver from this
// pod's /etc/resolv.conf, the search list of `namespace` (`<ns>.svc.<domain>`, `svc.<domain>`,
// `<domain>`) and ndots:5, so `echo`, `echo.default` and the full name all answer like in a pod.
//
// Every query type is asked (issue #16): the manager sends its own query to the cluster's DNS
// (lib/common/dns: UDP with EDNS, TCP when truncated) and returns the answer section decoded, and
// for a negative answer the zone's SOA from the authority section (RFC 2308 §3), so the
// workstation can answer SRV, TXT, PTR, CNAME as cluster DNS does and cache what does not exist.
//
// Who may see what: every name is asked for a session (DnsScope). A name in a namespace the scope
// does not allow (outside the session's mapped namespaces, or where its owner may not `get
// services`) is not asked at all and counts as NXDOMAIN, as is a record of an answer that names such
// a namespace (a PTR's target, a CNAME's): to the workstation the namespace simply does not exist.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import type { Owner } from '../common/objects.js';
import type { DnsRecord, DnsResponse } from '../common/rpc/manager.js';
import {
  CLASS_IN,
  RCODE,
  TYPE,
  buildQuery,
  decodeRdata,
  rcodeOf,
  tryParse,
  typeName,
  typeNumber,
  type Message,
} from '../common/dns/message.js';
import { Forwarder, parseUpstream } from '../common/dns/upstream.js';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  ndots: number;
}

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], ndots: 1 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) conf.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') conf.search = rest;
    else if (key === 'options') {
      for (const o of rest) if (o.startsWith('ndots:')) conf.ndots = Number(o.slice(6)) || 1;
    }
  }
  return conf;
}

/** The names to try, in order, for `name` asked from `namespace` (resolv.conf semantics). */
export function candidates(name: string, namespace: string, clusterDomain: string, ndots = 5): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  // Reverse names (RFC 1035 §3.5, RFC 3596 §2.5) are only ever meant as they are.
  if (/(^|\.)(in-addr|ip6)\.arpa$/i.test(name)) return [name];
  const search = [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
  const searched = search.map((s) => `${name}.${s}`);
  const dots = name.split('.').length - 1;
  if (name === clusterDomain || name.endsWith(`.${clusterDomain}`)) return [name];
  return dots >= ndots ? [name, ...searched] : [...searched, name];
}

/**
 * The namespace a cluster name belongs to: `<…>.<ns>.svc.<domain>` (Services, their endpoints and
 * SRV names) and `<…>.<ns>.pod.<domain>` (pod A records) — the Kubernetes DNS specification's
 * schema. undefined for names outside those (other zones, `dns-version.<domain>`).
 */
export function namespaceOfName(name: string, clusterDomain: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  const domain = clusterDomain.toLowerCase();
  if (!n.endsWith(`.${domain}`)) return undefined;
  const labels = n.slice(0, -domain.length - 1).split('.');
  if (labels.length < 2) return undefined;
  const kind = labels[labels.length - 1];
  return kind === 'svc' || kind === 'pod' ? labels[labels.length - 2] : undefined;
}

/** For whom a name is resolved. */
export interface DnsScope {
  /** The session's namespace: single-label and relative names are searched in it. */
  namespace: string;
  /** Whether names in namespace `ns` may resolve (mapped namespaces, the owner's rights). May
   * throw (the API server did not answer): the lookup then fails rather than guessing. */
  allows(ns: string): Promise<boolean>;
}

/** What the SOCKS path needs (session-dialer.ts): addresses only. */
export interface AddressResolver {
  resolve(name: string, type: 'A' | 'AAAA', namespace: string): Promise<DnsResponse>;
}

/** One query to the cluster's DNS: the answer's bytes, or undefined when none came in time. */
export type DnsExchange = (query: Buffer) => Promise<Buffer | undefined>;

export interface ClusterResolverOptions {
  /** How the query reaches the cluster's DNS (tests: a fake server); default: the nameservers. */
  exchange?: DnsExchange;
  /** Per query, across the nameservers (default 2000). */
  timeoutMs?: number;
}

const TTL_CAP = 5; // seconds: the workstation should notice Service changes quickly
/** How long the cluster zone's SOA is reused for negative answers the manager makes itself. */
const ZONE_SOA_MS = 60_000;
/** The UDP size we offer the cluster's DNS (the DNS flag day 2020 value). */
const EDNS_UDP_SIZE = 1232;

const everyNamespace = (namespace: string): DnsScope => ({ namespace, allows: async () => true });

/** One decoded answer of the cluster's DNS. */
interface Asked {
  rcode: number;
  records: DnsRecord[];
  soa?: DnsRecord;
}

export class ClusterResolver implements AddressResolver {
  readonly #exchange: DnsExchange;
  #zoneSoa: { at: number; soa: Promise<DnsRecord | undefined> } | undefined;

  constructor(
    readonly clusterDomain: string,
    nameservers?: string[],
    opts: ClusterResolverOptions = {},
  ) {
    if (opts.exchange) {
      this.#exchange = opts.exchange;
    } else {
      const servers = nameservers ?? parseResolvConf(readResolvConf()).nameservers;
      const forwarder = new Forwarder(servers.map(parseUpstream), opts.timeoutMs ?? 2000);
      this.#exchange = (q) => forwarder.forward(q, 0xffff);
    }
  }

  /** A or AAAA for the SOCKS path; without a scope every namespace is allowed. */
  resolve(name: string, type: 'A' | 'AAAA', namespace: string, scope: DnsScope = everyNamespace(namespace)): Promise<DnsResponse> {
    return this.query(name, type, scope);
  }

  /** `name` of `type` (a mnemonic or TYPEnnn), asked as a pod of `scope.namespace` would. */
  async query(name: string, type: string, scope: DnsScope): Promise<DnsResponse> {
    const qtype = typeNumber(type) ?? TYPE.A;
    if ((qtype === TYPE.A && isIPv4(name)) || (qtype === TYPE.AAAA && isIPv6(name))) {
      return {
        canonical: name,
        addresses: [name],
        rcode: 'NOERROR',
        ttl: TTL_CAP,
        records: [{ name, type: typeName(qtype), ttl: TTL_CAP, data: { address: name } }],
      };
    }
    // NXDOMAIN as soon as one candidate was denied outright: the others failing (a resolver that
    // REFUSEs names outside the cluster's zones, as CoreDNS does without `forward`) changes nothing.
    // A candidate hidden from this session counts as not found too — unless the cluster's DNS
    // failed on the others, when nothing is known and the answer is SERVFAIL.
    let sawNotFound = false;
    let hidden = false;
    let failed = false;
    let negativeSoa: DnsRecord | undefined;
    for (const fqdn of candidates(name, scope.namespace, this.clusterDomain)) {
      const ns = namespaceOfName(fqdn, this.clusterDomain);
      if (ns !== undefined) {
        const allowed = await scope.allows(ns).catch(() => undefined);
        if (allowed === undefined) {
          failed = true; // unknown: neither found nor hidden
          continue;
        }
        if (!allowed) {
          hidden = true;
          continue;
        }
      }
      const r = await this.#ask(fqdn, qtype);
      if (!r) {
        failed = true;
        continue;
      }
      if (r.rcode === RCODE.NXDOMAIN) {
        sawNotFound = true;
        negativeSoa = r.soa ?? negativeSoa;
        continue;
      }
      if (r.rcode !== RCODE.NOERROR) continue;
      const records = await this.#visible(r.records, scope);
      if (records === undefined) {
        failed = true;
        continue;
      }
      if (r.records.length > 0 && records.length === 0) {
        // Everything the cluster said about it lies in namespaces this session may not see.
        hidden = true;
        continue;
      }
      const addresses =
        qtype === TYPE.A || qtype === TYPE.AAAA
          ? records.filter((x) => x.type === typeName(qtype)).map((x) => (x.data as { address: string }).address)
          : [];
      // No records: the name exists without data of this type (NODATA, RFC 2308 §2.2).
      if (records.length === 0)
        return { canonical: fqdn, addresses, rcode: 'NOERROR', ttl: negativeTtl(r.soa), records, ...(r.soa ? { soa: r.soa } : {}) };
      return { canonical: fqdn, addresses, rcode: 'NOERROR', ttl: Math.min(TTL_CAP, ...records.map((x) => x.ttl)), records };
    }
    if (!sawNotFound && !(hidden && !failed)) return { addresses: [], rcode: 'SERVFAIL', ttl: TTL_CAP };
    // A negative answer made here (every candidate hidden) carries the zone's SOA all the same,
    // so it looks like any other NXDOMAIN of the cluster.
    const soa = negativeSoa ?? (await this.#clusterZoneSoa());
    return { addresses: [], rcode: 'NXDOMAIN', ttl: negativeTtl(soa), ...(soa ? { soa } : {}) };
  }

  /** The records whose names (owner and data) lie in namespaces the scope allows; undefined when
   * that cannot be told right now. */
  async #visible(records: DnsRecord[], scope: DnsScope): Promise<DnsRecord[] | undefined> {
    const out: DnsRecord[] = [];
    for (const r of records) {
      let ok = true;
      for (const n of [r.name, ...namesIn(r)]) {
        const ns = namespaceOfName(n, this.clusterDomain);
        if (ns === undefined) continue;
        const allowed = await scope.allows(ns).catch(() => undefined);
        if (allowed === undefined) return undefined;
        if (!allowed) ok = false;
      }
      if (ok) out.push(r);
    }
    return out;
  }

  async #ask(fqdn: string, qtype: number): Promise<Asked | undefined> {
    let query: Buffer;
    try {
      query = buildQuery(randomInt(0, 0x10000), fqdn, qtype, { edns: { udpSize: EDNS_UDP_SIZE } });
    } catch {
      return undefined; // a candidate longer than a name may be (the search list made it so)
    }
    const raw = await this.#exchange(query).catch(() => undefined);
    if (!raw) return undefined;
    const msg = tryParse(raw);
    if (msg instanceof Error) return undefined;
    return {
      rcode: rcodeOf(msg),
      records: decodeSection(raw, msg.answers),
      soa: decodeSection(raw, msg.authorities).find((r) => r.type === 'SOA'),
    };
  }

  /** The cluster zone's SOA (asked directly, reused a minute): for negative answers that no
   * server message gave an SOA to. */
  #clusterZoneSoa(): Promise<DnsRecord | undefined> {
    if (!this.#zoneSoa || Date.now() - this.#zoneSoa.at > ZONE_SOA_MS) {
      const soa = this.#ask(this.clusterDomain, TYPE.SOA).then((r) => {
        const s = r?.records.find((x) => x.type === 'SOA');
        // RFC 2308 §3: as an authority record it lives min(TTL, MINIMUM).
        return s ? { ...s, ttl: Math.min(s.ttl, (s.data as { minimum: number }).minimum) } : undefined;
      });
      this.#zoneSoa = { at: Date.now(), soa };
      void soa.then((s) => {
        if (!s) this.#zoneSoa = undefined; // do not remember a failure
      });
    }
    return this.#zoneSoa.soa;
  }
}

/** Names inside a record's data (targets, exchanges, SOA names). */
function namesIn(r: DnsRecord): string[] {
  const d = r.data as Record<string, unknown>;
  return ['target', 'exchange', 'mname'].map((k) => d[k]).filter((v): v is string => typeof v === 'string');
}

/** RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA MINIMUM); ours stays short. */
function negativeTtl(soa: DnsRecord | undefined): number {
  if (!soa) return TTL_CAP;
  return Math.min(TTL_CAP, soa.ttl, (soa.data as { minimum?: number }).minimum ?? TTL_CAP);
}

function decodeSection(raw: Buffer, section: Message['answers']): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (const rr of section) {
    if (rr.cls !== CLASS_IN) continue;
    try {
      const data = decodeRdata(raw, rr);
      if (data) out.push({ name: rr.name, type: typeName(rr.type), ttl: rr.ttl, data });
    } catch {
      // One malformed record is dropped; the rest of the answer stands.
    }
  }
  return out;
}

/**
 * Who may see names in which namespace: the owner may `get services` there (SubjectAccessReview,
 * through `can`). Answers are kept `ttlMs` (RBAC changes show within seconds) and shared while in
 * flight, so a burst of queries costs one review per namespace; one cluster-wide review first
 * spares the per-namespace ones for owners who may read Services everywhere.
 */
export class NamespaceAccess {
  readonly #cache = new Map<string, { at: number; allowed: Promise<boolean> }>();

  constructor(
    private readonly can: (owner: Owner, namespace: string) => Promise<boolean>,
    private readonly ttlMs = 10_000,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  async allows(owner: Owner, namespace: string): Promise<boolean> {
    if (await this.#check(owner, '')) return true;
    return this.#check(owner, namespace);
  }

  #check(owner: Owner, namespace: string): Promise<boolean> {
    const key = JSON.stringify([owner.username, owner.groups, namespace]);
    const hit = this.#cache.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.allowed;
    if (this.#cache.size >= this.maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    const allowed = this.can(owner, namespace);
    this.#cache.delete(key);
    this.#cache.set(key, { at: this.now(), allowed });
    // A review that failed is asked again next time, not remembered as a refusal.
    allowed.catch(() => {
      if (this.#cache.get(key)?.allowed === allowed) this.#cache.delete(key);
    });
    return allowed;
  }
}

function readResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}
