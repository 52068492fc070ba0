// The traffic manager's API for clients: the one module that the user daemon (caller) and the
// manager (handler) both import. Control calls extend the tunnel's ControlCalls map; watches
// extend its Watches map. Each request has a validator: the manager never trusts the JSON.

import { ENGAGEMENT_KINDS, type EngagementInfo, type EngagementKind, type HttpFilterSpec } from './engagement.js';

/** One connected client, as the manager sees it. */
export interface SessionInfo {
  sessionId: string;
  name: string;
  namespace: string;
  connectedAt: string;
  lastHeartbeat: string;
  info: Record<string, string>;
}

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

export interface SetNamespaceRequest {
  /** The client's namespace: single-label names resolve in it. */
  namespace: string;
}

export interface DepartRequest {
  sessionId: string;
}

export interface VersionResponse {
  version: string;
  protocol: number;
}

export interface EngageRequest {
  kind: EngagementKind;
  /** Unique per session; defaults to the workload's name. */
  name?: string;
  workload: string;
  namespace: string;
  container?: string;
  /** REMOTE parts of `--port LOCAL[:REMOTE]`: port numbers or names. Empty: every declared port
   * of the container (replace), or none (ingest). */
  remotePorts: string[];
  filter?: HttpFilterSpec;
  /** How long to wait for the agents before giving up with the pods' events. */
  timeoutMs?: number;
}

/** Streamed while an engagement is set up: progress lines, then 'active' (the last event). */
export type EngageEvent =
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

/** Pushed to a client on its `sessionEvents` watch. */
export type SessionEvent =
  /** An in-cluster connection to an engaged port: open a CONNECT with HEADERS.rendezvous = token
   * and splice it to the local handler. */
  | { type: 'dial'; token: string; engagementId: string; port: number; peer: string }
  /** The manager ended an engagement (workload deleted, agent config removed). */
  | { type: 'ended'; engagementId: string; reason: string };

export interface UninstallRequest {
  namespace: string;
  /** One workload, or every workload with an agent in the namespace when absent. */
  workload?: string;
}

declare module '../../proxy/tunnel/protocol.js' {
  interface ControlCalls {
    leave: { request: { name: string }; response: { engagement: EngagementInfo } };
    engagements: { request: { namespace?: string }; response: { engagements: EngagementInfo[] } };
    uninstallAgents: { request: UninstallRequest; response: { workloads: string[] } };
    clusterInfo: { request: Record<string, never>; response: ClusterInfo };
    dns: { request: DnsRequest; response: DnsResponse };
    listWorkloads: { request: ListWorkloadsRequest; response: ListWorkloadsResponse };
    setNamespace: { request: SetNamespaceRequest; response: Record<string, never> };
    depart: { request: DepartRequest; response: Record<string, never> };
    managerVersion: { request: Record<string, never>; response: VersionResponse };
    sessions: { request: Record<string, never>; response: { sessions: SessionInfo[] } };
  }
  interface Watches {
    clusterInfo: { request: Record<string, never>; event: ClusterInfo };
    engage: { request: EngageRequest; event: EngageEvent };
    sessionEvents: { request: Record<string, never>; event: SessionEvent };
  }
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
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const validate = {
  empty(body: unknown): Record<string, never> {
    if (body !== undefined && body !== null) obj(body);
    return {};
  },
  dns(body: unknown): DnsRequest {
    const o = obj(body);
    const name = str(o, 'name');
    if (!DNS_NAME_RE.test(name)) throw new Error(`"${name}" is not a valid DNS name`);
    const type = o.type ?? 'A';
    if (type !== 'A' && type !== 'AAAA') throw new Error('"type" must be "A" or "AAAA"');
    return { name, type };
  },
  namespace(body: unknown): { namespace: string } {
    const o = obj(body);
    const namespace = str(o, 'namespace', 63);
    if (!NAMESPACE_RE.test(namespace)) throw new Error(`"${namespace}" is not a valid namespace name`);
    return { namespace };
  },
  engage(body: unknown): EngageRequest {
    const o = obj(body);
    const kind = o.kind;
    if (typeof kind !== 'string' || !(ENGAGEMENT_KINDS as readonly string[]).includes(kind)) throw new Error(`"kind" must be one of ${ENGAGEMENT_KINDS.join(', ')}`);
    const workload = str(o, 'workload');
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(workload)) throw new Error(`"${workload}" is not a valid workload name`);
    const { namespace } = validate.namespace({ namespace: o.namespace });
    const name = o.name === undefined ? undefined : str(o, 'name', 63);
    if (name !== undefined && !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) throw new Error(`"${name}" is not a valid engagement name`);
    const container = o.container === undefined ? undefined : str(o, 'container', 63);
    const rp = o.remotePorts ?? [];
    if (!Array.isArray(rp) || rp.length > 64 || rp.some((p) => typeof p !== 'string' || !/^[a-z0-9-]{1,15}$/.test(p))) throw new Error('"remotePorts" must be a list of port numbers or port names');
    let filter: HttpFilterSpec | undefined;
    if (o.filter !== undefined) {
      const f = obj(o.filter);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(f.headers === undefined ? {} : obj(f.headers))) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(k) || typeof v !== 'string' || v.length > 1024) throw new Error(`HTTP filter header ${JSON.stringify(k)} must be a header name with a string value`);
        headers[k] = v;
      }
      const pathPrefix = f.pathPrefix === undefined ? undefined : str(f, 'pathPrefix', 1024);
      if (pathPrefix !== undefined && !pathPrefix.startsWith('/')) throw new Error('"pathPrefix" must start with /');
      filter = { headers, ...(pathPrefix ? { pathPrefix } : {}) };
    }
    const t = o.timeoutMs;
    if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1000 || t > 3_600_000)) throw new Error('"timeoutMs" must be an integer between 1000 and 3600000');
    return { kind: kind as EngagementKind, workload, namespace, remotePorts: rp as string[], ...(name ? { name } : {}), ...(container ? { container } : {}), ...(filter ? { filter } : {}), ...(t !== undefined ? { timeoutMs: t } : {}) };
  },
  leave(body: unknown): { name: string } {
    return { name: str(obj(body), 'name', 63) };
  },
  engagements(body: unknown): { namespace?: string } {
    const o = obj(body ?? {});
    return o.namespace === undefined ? {} : validate.namespace(o);
  },
  uninstall(body: unknown): UninstallRequest {
    const o = obj(body);
    const { namespace } = validate.namespace(o);
    if (o.workload === undefined) return { namespace };
    const workload = str(o, 'workload');
    return { namespace, workload };
  },
  depart(body: unknown): DepartRequest {
    return { sessionId: str(obj(body), 'sessionId', 128) };
  },
};
