// The engagement controller with its Kubernetes side faked (pure logic only): workloads and their
// pods as plain values, the agent-config writes and status patches recorded, Session objects in a
// fake store. Agents are registered in the real AgentRegistry, as the agent API would.
import { agentConfigHash, serializeAgentConfig, type AgentConfig } from '../../../lib/common/agent-config.js';
import { createLogger } from '../../../lib/common/log.js';
import {
  newSessionSecret,
  type EngagementObject,
  type EngagementStatus,
  type Owner,
  type SessionObject,
} from '../../../lib/common/objects.js';
import type { EngagementKind } from '../../../lib/common/rpc/engagement.js';
import type { SessionEvent } from '../../../lib/common/rpc/manager.js';
import { AgentRegistry, type AgentRecord } from '../../../lib/manager/agents.js';
import { EngagementController, type EngagementCluster, type EngagementControllerDeps } from '../../../lib/manager/engagement-controller.js';
import { SessionStore, type SessionCluster } from '../../../lib/manager/sessions.js';
import type { ServiceView } from '../../../lib/manager/port-takeover.js';
import type { PodView, WorkloadRef } from '../../../lib/manager/workload-k8s.js';
import { TunnelCallError } from '../../../lib/proxy/tunnel/errors.js';

export const MANAGER_NS = 'tp-system';
export const ALICE: Owner = { username: 'alice', groups: ['devs', 'system:authenticated'] };
export const BOB: Owner = { username: 'bob', groups: ['devs', 'system:authenticated'] };

export interface Fake {
  controller: EngagementController;
  sessions: SessionStore;
  agents: AgentRegistry;
  /** Workloads by `namespace/name`. */
  workloads: Map<string, WorkloadRef>;
  /** The pod-security.kubernetes.io/enforce label of each namespace that has one. */
  podSecurity: Map<string, string>;
  /** Services by namespace. */
  services: Map<string, ServiceView[]>;
  /** What the cluster was asked to do, in order. */
  calls: string[];
  statuses: Map<string, EngagementStatus>;
  /** Every status patch, in order, as `namespace/name` and the patch. */
  statusWrites: Array<{ key: string; status: EngagementStatus }>;
  deleted: string[];
  /** Session events each session received. */
  events: Map<string, SessionEvent[]>;
  addSession(name: string, owner: Owner): string;
  /** Makes the workload's pods run a ready agent with its current config, connected. */
  agentsArrive(namespace: string, name: string): AgentRecord[];
  engagement(o: {
    name: string;
    namespace?: string;
    session: string;
    owner: Owner;
    type?: EngagementKind;
    workload?: string;
    ports?: string[];
    filter?: { headers: Record<string, string>; pathPrefix?: string };
  }): EngagementObject;
  /** Resolves when every engagement setup queued so far has run. */
  settle(ms?: number): Promise<void>;
}

export function echoWorkload(namespace = 'dev', name = 'echo', replicas = 1): WorkloadRef {
  return {
    kind: 'Deployment',
    name,
    namespace,
    replicas,
    selector: { app: name },
    config: undefined,
    annotated: false,
    spec: { containers: [{ name: 'echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

let uid = 0;
/** Every controller made, so a test file can stop their pollers when it ends. */
export const made: EngagementController[] = [];

export function fake(opts: Pick<EngagementControllerDeps, 'trafficClock' | 'trafficStatusMinMs'> = {}): Fake {
  const workloads = new Map<string, WorkloadRef>();
  const podSecurity = new Map<string, string>();
  const services = new Map<string, ServiceView[]>();
  const pods = new Map<string, PodView[]>();
  const calls: string[] = [];
  const statuses = new Map<string, EngagementStatus>();
  const statusWrites: Fake['statusWrites'] = [];
  const deleted: string[] = [];
  const sessionObjects = new Map<string, SessionObject>();
  const sessionCluster: SessionCluster = {
    read: async (name) => sessionObjects.get(name),
    delete: async (name) => void sessionObjects.delete(name),
    writeLastSeen: async () => {},
  };
  const key = (ns: string, n: string) => `${ns}/${n}`;
  const cluster: EngagementCluster = {
    async findWorkload(ns, name) {
      const w = workloads.get(key(ns, name));
      if (!w)
        throw new TunnelCallError('E_WORKLOAD_NOT_FOUND', `no deployment, statefulset or replicaset named ${name} in namespace ${ns}`, 404);
      return { ...w };
    },
    podSecurityEnforce: async (ns) => podSecurity.get(ns),
    listServices: async (ns) => services.get(ns) ?? [],
    async writeAgentConfig(wl, config) {
      const w = workloads.get(key(wl.namespace, wl.name))!;
      const before = w.config ? serializeAgentConfig(w.config) : undefined;
      const after = config ? serializeAgentConfig(config) : undefined;
      if (before === after) return false;
      w.config = config;
      calls.push(`write ${wl.name} ${config ? `replace=${config.replace}` : 'none'}`);
      return true;
    },
    podsNeedRestart: async () => false,
    restartPods: async (wl) => void calls.push(`restart ${wl.name}`),
    listPods: async (wl) => pods.get(key(wl.namespace, wl.name)) ?? [],
    warningEvents: async () => [],
    workloadsWithAgents: async (ns) => [...workloads.values()].filter((w) => w.namespace === ns && w.config),
    async setStatus(ns, name, status) {
      statusWrites.push({ key: key(ns, name), status });
      statuses.set(key(ns, name), { ...statuses.get(key(ns, name)), ...status });
    },
    async deleteEngagement(ns, name) {
      deleted.push(key(ns, name));
      const obj = [...objects.values()].find((o) => o.metadata.namespace === ns && o.metadata.name === name);
      if (obj) {
        objects.delete(obj.metadata.uid!);
        queueMicrotask(() => controller.onDeleted(obj));
      }
    },
  };
  const objects = new Map<string, EngagementObject>();
  const log = createLogger({ level: 'error', fields: {} });
  const sessions = new SessionStore(sessionCluster);
  sessions.markSynced();
  const agents = new AgentRegistry();
  const controller = new EngagementController({
    cluster,
    sessions,
    agents,
    log,
    managerNamespace: MANAGER_NS,
    manager: { host: 'traffic-manager.tp-system', port: 8082 },
    pollMs: 5,
    ...opts,
  });
  const events = new Map<string, SessionEvent[]>();
  made.push(controller);
  return {
    controller,
    sessions,
    agents,
    workloads,
    podSecurity,
    services,
    calls,
    statuses,
    statusWrites,
    deleted,
    events,
    addSession(name, owner) {
      const { hash } = newSessionSecret();
      const obj: SessionObject = {
        apiVersion: 'tp.dev/v1',
        kind: 'Session',
        metadata: { name, namespace: MANAGER_NS, uid: `s-${name}` },
        spec: { owner, label: `${owner.username}@laptop`, secretHash: hash, clientVersion: 't' },
      };
      sessionObjects.set(name, obj);
      sessions.upsert(obj);
      const got: SessionEvent[] = [];
      events.set(name, got);
      controller.subscribe(name, (e) => (got.push(e), true));
      return name;
    },
    agentsArrive(ns, name) {
      const w = workloads.get(key(ns, name))!;
      const hash = agentConfigHash(w.config as AgentConfig);
      const views: PodView[] = [];
      const out: AgentRecord[] = [];
      for (let i = 0; i < w.replicas; i++) {
        const pod = `${name}-pod-${i}`;
        views.push({ name: pod, hash, ready: true, hasAgent: true, problems: [] });
        const a: AgentRecord = {
          id: `agent-${pod}`,
          podName: pod,
          namespace: ns,
          podIP: `10.0.0.${i + 1}`,
          configHash: hash,
          workloadKey: `${ns}/${w.kind}/${name}`,
          env: { K: 'v' },
          mounts: ['/data'],
          appliedRevision: 1000,
          send: () => true,
        };
        agents.add(a);
        out.push(a);
      }
      pods.set(key(ns, name), views);
      return out;
    },
    engagement(o) {
      const obj: EngagementObject = {
        apiVersion: 'tp.dev/v1',
        kind: 'Engagement',
        metadata: { name: o.name, namespace: o.namespace ?? 'dev', uid: `e-${++uid}`, creationTimestamp: new Date().toISOString() },
        spec: {
          type: o.type ?? 'intercept',
          workload: { name: o.workload ?? 'echo' },
          ports: o.ports ?? ['http'],
          owner: o.owner,
          session: { name: o.session, namespace: MANAGER_NS },
          ...(o.filter ? { filter: o.filter } : {}),
        },
      };
      objects.set(obj.metadata.uid!, obj);
      controller.onObject(obj);
      return obj;
    },
    async settle(ms = 50) {
      await new Promise((r) => setTimeout(r, ms));
    },
  };
}
