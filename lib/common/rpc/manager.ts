// The traffic manager's API for clients (DESIGN.md §3): the one module that the user daemon and
// the root daemon (callers) and the manager (handler, lib/manager/api.ts) import. `ManagerApi` is
// its type, `managerApi` its validators; the stream kinds and their paths are here too. The manager
// never trusts the JSON: every request passes its validator first.
//
// Authentication: a connection proves it belongs to a Session (lib/common/objects.ts) by saying
// hello with the secret whose hash that Session holds. Nothing else is served before that, and
// every later call, watch and stream of the connection acts for that session and no other.

import type { ApiDefinition } from './api.js';
import { ENGAGEMENT_KINDS, type EngagementInfo, type EngagementKind } from './engagement.js';
import { TYPE, typeName, typeNumber, type DnsRecordData } from '../dns/message.js';
import * as s from './schema.js';

/** What the workstation needs to know to route and resolve the cluster (DESIGN.md §5). */
export interface ClusterInfo {
  /** Service CIDRs, from the ServiceCIDR API or the invalid-ClusterIP probe. */
  serviceCIDRs: string[];
  /** Pod CIDRs, from nodes' podCIDRs or, failing that, covering the pods' IPs. */
  podCIDRs: string[];
  /** Where the service CIDR came from, for `tp status`: 'servicecidr-api' | 'probe' | 'none'. */
  serviceCIDRSource: string;
  podCIDRSource: string;
  /** The cluster DNS Service's IP (kube-dns), if found. */
  dnsIP?: string;
  clusterDomain: string;
  managerNamespace: string;
  managerVersion: string;
}

export interface ClusterInfoRequest {
  /** Wait for a change after this revision (watch). */
  sinceRevision?: number;
}

/** A name and a query type (dnsSchema below says what each may be). */
export type DnsRequest = s.Infer<typeof dnsSchema>;

export type { DnsRecordData } from '../dns/message.js';

export interface DnsRecord {
  /** The owner name. */
  name: string;
  /** Mnemonic or TYPEnnn, as in DnsRequest. */
  type: string;
  ttl: number;
  data: DnsRecordData;
}

export interface DnsResponse {
  /** The fully qualified name that answered, or undefined for NXDOMAIN. */
  canonical?: string;
  /** The A or AAAA addresses of the answer (for A and AAAA questions; the SOCKS proxy reads these). */
  addresses: string[];
  /** 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' */
  rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';
  ttl: number;
  /** The answer section, every type, CNAME chain included; owners are absolute. A manager before
   * issue #16 sent only `addresses`. */
  records?: DnsRecord[];
  /** With NXDOMAIN, and with NOERROR without records (NODATA): the zone's SOA from the authority
   * section, so the asker may cache the negative answer for its TTL (RFC 2308 §3, §5). */
  soa?: DnsRecord;
}

export interface WorkloadPort {
  container: string;
  name?: string;
  port: number;
  protocol: string;
}

export interface Workload {
  kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet';
  name: string;
  namespace: string;
  replicas: number;
  readyReplicas: number;
  containers: string[];
  ports: WorkloadPort[];
  /** 'ready to engage' | 'not ready' | 'scaled to zero' | 'engaged' | 'agent installed' */
  state: string;
  /** The agent config's container, when the workload has an agent. */
  agent?: { container: string; replace: boolean };
  engagements?: EngagementInfo[];
}

export type ListWorkloadsRequest = s.Infer<typeof namespaceSchema>;
export interface ListWorkloadsResponse {
  workloads: Workload[];
}

/** The first call of every client connection (helloSchema below documents its fields). */
export type HelloRequest = s.Infer<typeof helloSchema>;
export interface HelloResponse {
  /** How often the manager expects a heartbeat before it expires the session. */
  heartbeatIntervalMs: number;
  /** Who the session belongs to, as admission saw it. */
  owner: string;
}

/** The namespaces whose names resolve for this session: those its owner may `get services` in,
 * within the mapped namespaces when there are some. The workstation routes `NAME.NAMESPACE` to the
 * cluster for these (pseudo-TLDs); the user needs no right to list namespaces (issue #16). */
export interface NamespacesResponse {
  namespaces: string[];
  /** The session's mapped namespaces, as the manager holds them (absent: none). */
  mapped?: string[];
}

export interface VersionResponse {
  version: string;
  protocol: number;
}

/** Progress of one of the session's engagements, from the moment it is watched: progress lines,
 * then 'active' (the app's env and mounts), then 'ended' when it goes. A failure (conflict, no
 * such workload, agents that do not arrive within timeoutMs) ends the watch with an error. */
export type EngagementEvent =
  | { type: 'progress'; message: string }
  | {
      type: 'active';
      engagement: EngagementInfo;
      /** The app container's environment as the agent sees it (Secrets and ConfigMaps resolved). */
      env: Record<string, string>;
      /** The app container's volume mount paths; the agent serves them over SFTP. */
      mounts: string[];
      /** The agent pod that serves env and mounts. */
      agentPod: string;
      /** What works but not as asked, one sentence each (issue #13: a filtered intercept of a
       * port on which the agents already saw TLS). */
      warnings?: string[];
    };

export type EngagementWatchRequest = s.Infer<typeof engagementWatchSchema>;

/** Pushed to a client on its `sessionEvents` watch. */
export type SessionEvent =
  /** An in-cluster connection to an engaged port: open a PAIR stream with this token and splice
   * it to the local handler. */
  | { type: 'dial'; token: string; engagementId: string; port: number; peer: string }
  /** An engagement of this session ended: deleted (by its owner, an admin, or because its
   * session or workload went), or refused. `by` names who deleted it when the manager knows. */
  | { type: 'ended'; engagementId: string; namespace: string; name: string; reason: string; by?: string };

export type UninstallRequest = s.Infer<typeof uninstallSchema>;

export type Empty = Record<string, never>;

export interface ManagerApi {
  calls: {
    hello: { request: HelloRequest; response: HelloResponse };
    heartbeat: { request: Empty; response: Empty };
    /** The client is leaving: the manager deletes the Session and with it its engagements. */
    depart: { request: Empty; response: Empty };
    setNamespace: { request: { namespace: string }; response: Empty };
    clusterInfo: { request: Empty; response: ClusterInfo };
    /** Any query type, resolved as a pod in the session's namespace would (search list, ndots 5);
     * names in namespaces the owner may not see, or outside the mapped ones, are NXDOMAIN. */
    dns: { request: DnsRequest; response: DnsResponse };
    namespaces: { request: Empty; response: NamespacesResponse };
    /** Workloads of a namespace and their engagements; the session's owner must be allowed to list
     * deployments there. */
    listWorkloads: { request: ListWorkloadsRequest; response: ListWorkloadsResponse };
    uninstallAgents: { request: UninstallRequest; response: { workloads: string[] } };
    managerVersion: { request: Empty; response: VersionResponse };
  };
  watches: {
    clusterInfo: { request: Empty; event: ClusterInfo };
    engagement: { request: EngagementWatchRequest; event: EngagementEvent };
    sessionEvents: { request: Empty; event: SessionEvent };
  };
}

/** Stream kinds (extended CONNECT `:protocol`) a client may open, each authorized for its kind. */
export const CLIENT_STREAMS = {
  /** Answers a 'dial' event: PAIR_PATH(token). The token was issued to this session only. */
  pair: 'tp-pair',
  /** The volumes of one of the session's engagements: SFTP_PATH(namespace, name). */
  sftp: 'tp-sftp',
} as const;
export const pairPath = (token: string) => `/pair/${encodeURIComponent(token)}`;
export const sftpPath = (namespace: string, name: string) => `/sftp/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

/** The inverse of pairPath/sftpPath; undefined for anything else. */
export function parseStreamPath(
  path: string,
): { kind: 'pair'; token: string } | { kind: 'sftp'; namespace: string; name: string } | undefined {
  const m = /^\/(pair|sftp)\/([^/?#]{1,253})(?:\/([^/?#]{1,253}))?$/.exec(path);
  if (!m) return undefined;
  try {
    if (m[1] === 'pair' && m[3] === undefined) return { kind: 'pair', token: decodeURIComponent(m[2]!) };
    if (m[1] === 'sftp' && m[3] !== undefined)
      return { kind: 'sftp', namespace: decodeURIComponent(m[2]!), name: decodeURIComponent(m[3]) };
  } catch {
    return undefined;
  }
  return undefined;
}

// ---- Request schemas (untrusted JSON → typed request, or one sentence naming the field) --------
//
// Unknown fields are dropped, not refused: the workstation and the cluster may run different tp
// versions, and a newer peer's additive field must not break an older manager (protocol.ts:
// additive changes are announced through capabilities, never forced on the receiver).

const STRIP = { unknown: 'strip' } as const;

const DNS_NAME_RE =
  /^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;
export const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes object names (DNS subdomain). */
export const OBJECT_NAME_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name (RFC 1123 label). */
export const namespaceName = s.string({ minLength: 1, maxLength: 63, pattern: NAMESPACE_RE, what: 'a valid namespace name' });
const objectName = (what: string) => s.string({ minLength: 1, maxLength: 253, pattern: OBJECT_NAME_RE, what });
const empty = s.empty(STRIP);

/** The refusal of a namespace outside a connection's mapped namespaces (issue #16), as the manager
 * and the user daemon both say it. */
export function notMappedRefusal(namespace: string, mapped: readonly string[]): { code: 'E_NOT_MAPPED'; message: string; hint: string } {
  return {
    code: 'E_NOT_MAPPED',
    message: `namespace ${namespace} is not one of this connection's mapped namespaces (${mapped.join(', ')})`,
    hint: `connect with it mapped: tp quit, then tp connect --mapped-namespaces ${[...mapped, namespace].join(',')}`,
  };
}

/** More would be a list of every namespace, which is what no list means. */
export const MAX_MAPPED_NAMESPACES = 256;

/** `mappedNamespaces`: absent, or distinct namespace names (order kept, duplicates dropped); an
 * empty list is the same as none. */
export const mappedNamespacesSchema = s.optional(
  s.map(
    s.array(namespaceName, {
      maxItems: MAX_MAPPED_NAMESPACES,
      unique: 'drop',
      expected: `a list of at most ${MAX_MAPPED_NAMESPACES} namespaces`,
    }),
    (v) => (v.length > 0 ? v : undefined),
  ),
);

/** Types a question may not ask (RFC 6895 §3.1 meta-types, and the zone transfers of RFC 1035
 * §3.2.3 / RFC 1995), answered by no resolver on behalf of a client. */
const NOT_A_QUESTION = new Set([
  TYPE.OPT,
  249 /* TKEY */,
  250 /* TSIG */,
  251 /* IXFR */,
  252 /* AXFR */,
  253 /* MAILB */,
  254 /* MAILA */,
]);
const DNS_TYPE = 'a DNS query type such as A, AAAA, SRV, TXT, PTR or TYPE65';

/** A query type by mnemonic or TYPEnnn, as its canonical mnemonic (RFC 3597 §5: TYPE33 is SRV). */
export const dnsTypeSchema = s.map(s.string({ maxLength: 10, expected: DNS_TYPE }), (v) => {
  const n = typeNumber(v);
  if (n === undefined || NOT_A_QUESTION.has(n)) s.refuse(`must be ${DNS_TYPE} (got ${s.show(v)})`);
  return typeName(n);
});

const namespaceSchema = s.object({ namespace: namespaceName }, STRIP);

const helloSchema = s.object(
  {
    /** The Session object's name (in the manager's namespace). */
    session: objectName('a Session object name'),
    /** The secret whose `sha256:` hash the Session holds. Never logged, listed or returned. */
    secret: s.string({ minLength: 1, maxLength: 128 }),
    /** 'client' (user daemon) or 'root' (root daemon, on the same session). */
    peer: s.withDefault(s.oneOf(['client', 'root']), 'client'),
    /** The client's namespace: single-label names resolve in it. */
    namespace: namespaceName,
    version: s.string({ minLength: 1, maxLength: 64 }),
    /** `tp connect --mapped-namespaces`: names resolve, and workloads are listed, only in these
     * namespaces (issue #16). Absent or empty: every namespace the session's owner may see. Both
     * peers of a session send it; the manager keeps it with the session. */
    mappedNamespaces: mappedNamespacesSchema,
  },
  STRIP,
);

const dnsSchema = s.object(
  {
    /** The name as the workstation saw it: `echo`, `echo.default`, `echo.default.svc.cluster.local`,
     * `_http._tcp.echo.default`, `5.0.96.10.in-addr.arpa`. */
    name: s.string({ minLength: 1, maxLength: 253, pattern: DNS_NAME_RE, what: 'a valid DNS name' }),
    /** The query type: its mnemonic (A, AAAA, CNAME, PTR, SRV, TXT, SOA, MX, NS, ANY, …) or
     * `TYPEnnn` (RFC 3597 §5) for any other; A when absent. The SOCKS proxy asks only A and AAAA. */
    type: s.withDefault(dnsTypeSchema, 'A'),
  },
  STRIP,
);

const uninstallSchema = s.object(
  {
    namespace: namespaceName,
    /** One workload, or every workload with an agent in the namespace when absent. */
    workload: s.optional(objectName('a valid workload name')),
  },
  STRIP,
);

const engagementWatchSchema = s.object(
  {
    namespace: namespaceName,
    /** The Engagement object's name. */
    name: objectName('a valid engagement name'),
    /** How long to wait for the agents before giving up with what the pods show. */
    timeoutMs: s.optional(s.integer({ min: 1000, max: 3_600_000 })),
  },
  STRIP,
);

export const managerApi: ApiDefinition<ManagerApi> = {
  unauthenticated: ['hello'],
  calls: {
    hello: s.validator(helloSchema),
    heartbeat: s.validator(empty),
    depart: s.validator(empty),
    setNamespace: s.validator(namespaceSchema),
    clusterInfo: s.validator(empty),
    dns: s.validator(dnsSchema),
    namespaces: s.validator(empty),
    listWorkloads: s.validator(namespaceSchema),
    uninstallAgents: s.validator(uninstallSchema),
    managerVersion: s.validator(empty),
  },
  watches: {
    clusterInfo: s.validator(empty),
    engagement: s.validator(engagementWatchSchema),
    sessionEvents: s.validator(empty),
  },
};

/** Engagement kinds, for validators of the Engagement spec the manager reads from the cluster. */
export const isEngagementKind = (k: unknown): k is EngagementKind =>
  typeof k === 'string' && (ENGAGEMENT_KINDS as readonly string[]).includes(k);
