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

export interface DnsRequest {
  /** The name as the workstation saw it: `echo`, `echo.default`, `echo.default.svc.cluster.local`. */
  name: string;
  /** 'A' | 'AAAA' */
  type: 'A' | 'AAAA';
}

export interface DnsResponse {
  /** The fully qualified name that answered, or undefined for NXDOMAIN. */
  canonical?: string;
  addresses: string[];
  /** 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' */
  rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';
  ttl: number;
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

export interface ListWorkloadsRequest {
  namespace: string;
}
export interface ListWorkloadsResponse {
  workloads: Workload[];
}

export interface HelloRequest {
  /** The Session object's name (in the manager's namespace). */
  session: string;
  /** The secret whose `sha256:` hash the Session holds. Never logged, listed or returned. */
  secret: string;
  /** 'client' (user daemon) or 'root' (root daemon, on the same session). */
  peer: 'client' | 'root';
  /** The client's namespace: single-label names resolve in it. */
  namespace: string;
  version: string;
}
export interface HelloResponse {
  /** How often the manager expects a heartbeat before it expires the session. */
  heartbeatIntervalMs: number;
  /** Who the session belongs to, as admission saw it. */
  owner: string;
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
    };

export interface EngagementWatchRequest {
  namespace: string;
  /** The Engagement object's name. */
  name: string;
  /** How long to wait for the agents before giving up with what the pods show. */
  timeoutMs?: number;
}

/** Pushed to a client on its `sessionEvents` watch. */
export type SessionEvent =
  /** An in-cluster connection to an engaged port: open a PAIR stream with this token and splice
   * it to the local handler. */
  | { type: 'dial'; token: string; engagementId: string; port: number; peer: string }
  /** An engagement of this session ended: deleted (by its owner, an admin, or because its
   * session or workload went), or refused. `by` names who deleted it when the manager knows. */
  | { type: 'ended'; engagementId: string; namespace: string; name: string; reason: string; by?: string };

export interface UninstallRequest {
  namespace: string;
  /** One workload, or every workload with an agent in the namespace when absent. */
  workload?: string;
}

export type Empty = Record<string, never>;

export interface ManagerApi {
  calls: {
    hello: { request: HelloRequest; response: HelloResponse };
    heartbeat: { request: Empty; response: Empty };
    /** The client is leaving: the manager deletes the Session and with it its engagements. */
    depart: { request: Empty; response: Empty };
    setNamespace: { request: { namespace: string }; response: Empty };
    clusterInfo: { request: Empty; response: ClusterInfo };
    dns: { request: DnsRequest; response: DnsResponse };
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
export function parseStreamPath(path: string): { kind: 'pair'; token: string } | { kind: 'sftp'; namespace: string; name: string } | undefined {
  const m = /^\/(pair|sftp)\/([^/?#]{1,253})(?:\/([^/?#]{1,253}))?$/.exec(path);
  if (!m) return undefined;
  try {
    if (m[1] === 'pair' && m[3] === undefined) return { kind: 'pair', token: decodeURIComponent(m[2]!) };
    if (m[1] === 'sftp' && m[3] !== undefined) return { kind: 'sftp', namespace: decodeURIComponent(m[2]!), name: decodeURIComponent(m[3]) };
  } catch {
    return undefined;
  }
  return undefined;
}

// ---- Validators (untrusted JSON → typed request, or throw a one-sentence reason) -------------

function obj(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, max = 253): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new Error(`"${key}" must be a non-empty string of at most ${max} characters`);
  return v;
}

const DNS_NAME_RE = /^(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;
export const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes object names (DNS subdomain). */
export const OBJECT_NAME_RE = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const empty = (body: unknown): Empty => {
  if (body !== undefined && body !== null) obj(body);
  return {};
};
const namespaceOf = (o: Record<string, unknown>): string => {
  const namespace = str(o, 'namespace', 63);
  if (!NAMESPACE_RE.test(namespace)) throw new Error(`"${namespace}" is not a valid namespace name`);
  return namespace;
};

export const managerApi: ApiDefinition<ManagerApi> = {
  unauthenticated: ['hello'],
  calls: {
    hello(body): HelloRequest {
      const o = obj(body);
      const session = str(o, 'session');
      if (!OBJECT_NAME_RE.test(session)) throw new Error('"session" must be a Session object name');
      const secret = str(o, 'secret', 128);
      const peer = o.peer === 'root' ? 'root' : 'client';
      return { session, secret, peer, namespace: namespaceOf(o), version: str(o, 'version', 64) };
    },
    heartbeat: empty,
    depart: empty,
    setNamespace: (b) => ({ namespace: namespaceOf(obj(b)) }),
    clusterInfo: empty,
    dns(body): DnsRequest {
      const o = obj(body);
      const name = str(o, 'name');
      if (!DNS_NAME_RE.test(name)) throw new Error(`"${name}" is not a valid DNS name`);
      const type = o.type ?? 'A';
      if (type !== 'A' && type !== 'AAAA') throw new Error('"type" must be "A" or "AAAA"');
      return { name, type };
    },
    listWorkloads: (b) => ({ namespace: namespaceOf(obj(b)) }),
    uninstallAgents(body): UninstallRequest {
      const o = obj(body);
      const namespace = namespaceOf(o);
      if (o.workload === undefined) return { namespace };
      const workload = str(o, 'workload');
      if (!OBJECT_NAME_RE.test(workload)) throw new Error(`"${workload}" is not a valid workload name`);
      return { namespace, workload };
    },
    managerVersion: empty,
  },
  watches: {
    clusterInfo: empty,
    engagement(body): EngagementWatchRequest {
      const o = obj(body);
      const name = str(o, 'name');
      if (!OBJECT_NAME_RE.test(name)) throw new Error(`"${name}" is not a valid engagement name`);
      const t = o.timeoutMs;
      if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1000 || t > 3_600_000)) throw new Error('"timeoutMs" must be an integer between 1000 and 3600000');
      return { namespace: namespaceOf(o), name, ...(t !== undefined ? { timeoutMs: t } : {}) };
    },
    sessionEvents: empty,
  },
};

/** Engagement kinds, for validators of the Engagement spec the manager reads from the cluster. */
export const isEngagementKind = (k: unknown): k is EngagementKind => typeof k === 'string' && (ENGAGEMENT_KINDS as readonly string[]).includes(k);
