// The traffic agent's configuration as it travels through the cluster (DESIGN.md §6): the manager
// writes it as JSON to an annotation on a workload's pod template; pods inherit the annotation;
// the mutating webhook reads it from each new pod and injects tp-agent (and tp-agent-init when a
// port is redirected), handing both the config in env TP_AGENT_CONFIG. This module is the one place its shape and the names the
// three of them share are written.
//
//   { "version": 1,
//     "workload": { "kind": "Deployment", "name": "echo", "namespace": "default" },
//     "container": "echo", "replace": false,
//     "ports": [ { "containerPort": 8080, "protocol": "TCP", "agentPort": 9900, "name": "http" } ],
//     "manager": { "host": "traffic-manager.tp-system", "port": 8082 } }
//
// `ports` (agent-ports.ts) says for each port how its traffic reaches the agent: redirected by
// tp-agent-init (mode absent, "redirect"), or taken over by name (mode "name", issue #16). The
// webhook hands the init container {version, ports} of the redirected ports, when there are any,
// and the agent the whole object.
import { createHash } from 'node:crypto';
import { AGENT_INIT_CONFIG_VERSION, checkPorts, takesName, type AgentInitConfig, type AgentPortMapping } from './agent-ports.js';

/** On the pod template (and so on every pod of the workload): the JSON config below. */
export const AGENT_CONFIG_ANNOTATION = 'tp.dev/agent-config';
/** On the pod template next to the config: the webhook's objectSelector, so the API server sends
 * only the pods of workloads with an agent to the manager, not every pod of the cluster. Its value
 * is the namespace of the manager that wrote the config (agentLabelValue), so that with several
 * tp installations in one cluster each webhook gets only its own manager's pods (issue #16). */
export const AGENT_LABEL = 'tp.dev/agent';
/** The value managers before issue #16 wrote; their webhooks still match it. */
export const AGENT_LABEL_VALUE = 'enabled';
/** The agent label's value for pods of the manager in `managerNamespace`. */
export const agentLabelValue = (managerNamespace: string): string => managerNamespace;
/** A label selector for the agent pods of that manager, the ones labelled before issue #16 too. */
export const agentPodSelector = (managerNamespace: string): string =>
  `${AGENT_LABEL} in (${agentLabelValue(managerNamespace)},${AGENT_LABEL_VALUE})`;
/** Set by the webhook on pods it injected, with the config's hash: tells a current pod from a stale one. */
export const AGENT_INJECTED_ANNOTATION = 'tp.dev/agent-injected';

export const AGENT_CONTAINER_NAME = 'tp-agent';
export const AGENT_INIT_CONTAINER_NAME = 'tp-agent-init';

/** The app container's env and envFrom are copied into the agent under this prefix, so Kubernetes
 * resolves Secret and ConfigMap references; the agent strips it when it reports the env. */
export const APP_ENV_PREFIX = 'TP_APP_ENV_';
/** The app container's volume mounts appear in the agent under APP_MOUNT_ROOT/<container>/<mountPath>. */
export const APP_MOUNT_ROOT = '/tp/app-mounts';
/** The projected ServiceAccount token the agent presents to the manager, and its audience. */
export const AGENT_TOKEN_DIR = '/var/run/secrets/tp.dev';
export const AGENT_TOKEN_FILE = 'token';
export const AGENT_TOKEN_AUDIENCE = 'tp-traffic-manager';

/** Env of the agent container set by the webhook (besides the copied app env). */
export const AGENT_ENV = {
  config: 'TP_AGENT_CONFIG',
  podName: 'TP_POD_NAME',
  podNamespace: 'TP_POD_NAMESPACE',
  podIP: 'TP_POD_IP',
  /** JSON array of the app container's volume mount paths, as the app sees them. */
  appMounts: 'TP_APP_MOUNTS',
  logLevel: 'TP_LOG_LEVEL',
} as const;

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'ReplicaSet';

export interface AgentConfig {
  version: 1;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  /** The app container the agent stands in for. */
  container: string;
  /** `tp replace`: the webhook leaves the app container out of the pod; the agent serves its ports. */
  replace: boolean;
  ports: AgentPortMapping[];
  /** Where the agent reaches the manager's agent API (a Service in the manager's namespace). */
  manager: { host: string; port: number };
}

/** tp-agent-init's config: the redirected ports only (none: the pod needs no init container). */
export const initConfigOf = (c: AgentConfig): AgentInitConfig => ({
  version: AGENT_INIT_CONFIG_VERSION,
  ports: c.ports
    .filter((p) => !takesName(p))
    .map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, agentPort: p.agentPort, ...(p.name ? { name: p.name } : {}) })),
});

/** Whether the pods of this config need tp-agent-init (and so NET_ADMIN): some port is redirected. */
export const needsInitContainer = (c: AgentConfig): boolean => c.ports.some((p) => !takesName(p));

const KINDS: readonly string[] = ['Deployment', 'StatefulSet', 'ReplicaSet'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses the annotation's JSON; throws one sentence naming the first problem. */
export function parseAgentConfig(json: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`the ${AGENT_CONFIG_ANNOTATION} annotation is not JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`the ${AGENT_CONFIG_ANNOTATION} annotation must be a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) throw new Error(`the agent config has version ${JSON.stringify(o.version)}; this tp understands version 1`);
  const w = o.workload as Record<string, unknown> | undefined;
  if (
    typeof w !== 'object' ||
    w === null ||
    !KINDS.includes(w.kind as string) ||
    typeof w.name !== 'string' ||
    !DNS_SUBDOMAIN.test(w.name) ||
    typeof w.namespace !== 'string' ||
    !DNS_LABEL.test(w.namespace)
  ) {
    throw new Error('the agent config\'s "workload" must be {kind: Deployment|StatefulSet|ReplicaSet, name, namespace}');
  }
  if (typeof o.container !== 'string' || !DNS_LABEL.test(o.container))
    throw new Error('the agent config\'s "container" must be a container name');
  if (typeof o.replace !== 'boolean') throw new Error('the agent config\'s "replace" must be true or false');
  const m = o.manager as Record<string, unknown> | undefined;
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.host !== 'string' ||
    !DNS_SUBDOMAIN.test(m.host) ||
    !Number.isInteger(m.port) ||
    (m.port as number) < 1 ||
    (m.port as number) > 65535
  ) {
    throw new Error('the agent config\'s "manager" must be {host, port}');
  }
  const ports = checkPorts(o.ports);
  if (!ports.ok) throw new Error(ports.errors.join(' '));
  return {
    version: 1,
    workload: { kind: w.kind as WorkloadKind, name: w.name, namespace: w.namespace },
    container: o.container,
    replace: o.replace,
    ports: ports.ports,
    manager: { host: m.host, port: m.port as number },
  };
}

/** A stable JSON form (key order fixed) so equal configs give equal annotations and hashes. */
export function serializeAgentConfig(c: AgentConfig): string {
  return JSON.stringify({
    version: c.version,
    workload: { kind: c.workload.kind, name: c.workload.name, namespace: c.workload.namespace },
    container: c.container,
    replace: c.replace,
    // "redirect" is written as no mode at all: configs from before modes keep their hashes, so
    // their pods are not restarted by an upgrade of the manager.
    ports: c.ports.map((p) => ({
      containerPort: p.containerPort,
      protocol: p.protocol,
      agentPort: p.agentPort,
      ...(p.name ? { name: p.name } : {}),
      ...(takesName(p) ? { mode: 'name', appName: p.appName } : {}),
    })),
    manager: { host: c.manager.host, port: c.manager.port },
  });
}

/** The value of AGENT_INJECTED_ANNOTATION: tells pods injected with this exact config apart. */
export function agentConfigHash(c: AgentConfig): string {
  return createHash('sha256').update(serializeAgentConfig(c)).digest('hex').slice(0, 16);
}

/** The kubelet's probes of an engaged port must reach the app, not the workstation (an intercepted
 * readiness probe that the local handler does not answer would empty the Service; a liveness probe
 * would restart the app). The webhook points the app's httpGet/tcpSocket/grpc probes of each
 * redirected port at this port of the agent, which always forwards to the app. A port taken over
 * by name needs none: nothing redirects the app's port, so the kubelet reaches the app itself. */
export const PROBE_PORT_OFFSET = 1000;
export const probePortOf = (m: { agentPort: number }): number => m.agentPort + PROBE_PORT_OFFSET;
