// The traffic manager's API for clients: the one module that the user daemon (caller) and the
// manager (handler) both import. Control calls extend the tunnel's ControlCalls map; watches
// extend its Watches map. Each request has a validator: the manager never trusts the JSON.

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
  /** 'ready to engage' | 'not ready' | an engagement state added by later issues */
  state: string;
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

declare module '../../proxy/tunnel/protocol.js' {
  interface ControlCalls {
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
  depart(body: unknown): DepartRequest {
    return { sessionId: str(obj(body), 'sessionId', 128) };
  },
};
