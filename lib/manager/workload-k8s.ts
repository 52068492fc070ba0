// What engagements need from the Kubernetes API: find a workload by name, write its agent config
// to the pod template (the rollout then recreates the pods, and the webhook injects the agent),
// see which pods run an agent with that config, and, when that does not happen in time, say why
// from the pods' states and events. The controller (engagement-controller.ts) reaches these
// through its EngagementCluster interface (kube.ts).
import * as k8s from '@kubernetes/client-node';
import {
  AGENT_CONFIG_ANNOTATION,
  AGENT_LABEL,
  AGENT_LABEL_VALUE,
  agentLabelValue,
  AGENT_CONTAINER_NAME,
  AGENT_INIT_CONTAINER_NAME,
  AGENT_INJECTED_ANNOTATION,
  agentConfigHash,
  parseAgentConfig,
  serializeAgentConfig,
  type AgentConfig,
  type WorkloadKind,
} from '../common/agent-config.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { POD_SECURITY_ENFORCE_LABEL, type ServiceView } from './port-takeover.js';

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
  namespace: string;
  spec: k8s.V1PodSpec;
  /** The agent config on the pod template, when it has a readable one. */
  config: AgentConfig | undefined;
  /** Whether the pod template has the annotation at all (readable or not). */
  annotated: boolean;
  selector: Record<string, string>;
  /** The pod template's labels (what Services select on); the selector's when absent. */
  labels?: Record<string, string>;
  replicas: number;
}

const API_VERSION: Record<WorkloadKind, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', ReplicaSet: 'apps/v1' };
const notFound = (e: unknown) => (e as { code?: number }).code === 404;

function refOf(kind: WorkloadKind, o: k8s.V1Deployment | k8s.V1StatefulSet | k8s.V1ReplicaSet): WorkloadRef {
  const annotation = o.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
  let config: AgentConfig | undefined;
  try {
    config = annotation ? parseAgentConfig(annotation) : undefined;
  } catch {
    config = undefined; // rewritten by the next engagement
  }
  return {
    kind,
    name: o.metadata!.name!,
    namespace: o.metadata!.namespace!,
    spec: o.spec!.template!.spec!,
    config,
    annotated: annotation !== undefined,
    selector: o.spec?.selector?.matchLabels ?? {},
    labels: o.spec?.template?.metadata?.labels ?? {},
    replicas: o.spec?.replicas ?? 1,
  };
}

/** A Deployment, StatefulSet or (unowned) ReplicaSet by name, in that order of preference.
 * API refusals are thrown as they come; the API layer turns them into sentences (kube-errors.ts). */
export async function findWorkload(kc: k8s.KubeConfig, namespace: string, name: string): Promise<WorkloadRef> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  try {
    return refOf('Deployment', await apps.readNamespacedDeployment({ name, namespace }));
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  try {
    return refOf('StatefulSet', await apps.readNamespacedStatefulSet({ name, namespace }));
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  try {
    const rs = await apps.readNamespacedReplicaSet({ name, namespace });
    const owner = rs.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment');
    if (owner)
      throw new TunnelCallError(
        'E_WORKLOAD_OWNED',
        `replicaset ${name} belongs to deployment ${owner.name}`,
        400,
        `engage deployment ${owner.name} instead`,
      );
    return refOf('ReplicaSet', rs);
  } catch (e) {
    if (!notFound(e)) throw e;
  }
  throw new TunnelCallError(
    'E_WORKLOAD_NOT_FOUND',
    `no deployment, statefulset or replicaset named ${name} in namespace ${namespace}`,
    404,
    'see `tp list` for what can be engaged',
  );
}

/** Writes (or, with undefined, removes) the agent config on the pod template. Returns whether it
 * changed anything. A ReplicaSet does not replace its pods when its template changes, so its pods
 * are deleted for it. The agent label carries `managerNamespace`: only that manager's webhook
 * injects the pods (issue #16). */
export async function writeAgentConfig(
  kc: k8s.KubeConfig,
  wl: WorkloadRef,
  config: AgentConfig | undefined,
  managerNamespace: string,
): Promise<boolean> {
  const want = config ? serializeAgentConfig(config) : undefined;
  const have = wl.config ? serializeAgentConfig(wl.config) : undefined;
  if (want === have && (want !== undefined || !wl.annotated)) return false;
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const body = {
    apiVersion: API_VERSION[wl.kind],
    kind: wl.kind,
    metadata: { name: wl.name, namespace: wl.namespace },
    spec: {
      template: {
        metadata: {
          annotations: { [AGENT_CONFIG_ANNOTATION]: want ?? null },
          labels: { [AGENT_LABEL]: want ? agentLabelValue(managerNamespace) : null },
        },
      },
    },
  };
  await objects.patch(body as k8s.KubernetesObject, undefined, undefined, 'tp-traffic-manager', undefined, k8s.PatchStrategy.MergePatch);
  wl.config = config;
  wl.annotated = config !== undefined;
  if (wl.kind === 'ReplicaSet') {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.deleteCollectionNamespacedPod({ namespace: wl.namespace, labelSelector: labelSelector(wl.selector) });
  }
  return true;
}

/** Recreates the pods without changing the agent config (the webhook did not inject them, or
 * they run an older config): the same annotation bump `kubectl rollout restart` makes. */
export async function restartPods(kc: k8s.KubeConfig, wl: WorkloadRef): Promise<void> {
  if (wl.kind === 'ReplicaSet') {
    await kc
      .makeApiClient(k8s.CoreV1Api)
      .deleteCollectionNamespacedPod({ namespace: wl.namespace, labelSelector: labelSelector(wl.selector) });
    return;
  }
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const body = {
    apiVersion: API_VERSION[wl.kind],
    kind: wl.kind,
    metadata: { name: wl.name, namespace: wl.namespace },
    spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: new Date().toISOString() } } } },
  };
  await objects.patch(body as k8s.KubernetesObject, undefined, undefined, 'tp-traffic-manager', undefined, k8s.PatchStrategy.MergePatch);
}

/** Whether some live pod of the workload lacks an agent injected with this config. */
export async function podsNeedRestart(kc: k8s.KubeConfig, wl: WorkloadRef, config: AgentConfig): Promise<boolean> {
  const hash = agentConfigHash(config);
  const pods = await kc
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedPod({ namespace: wl.namespace, labelSelector: labelSelector(wl.selector) });
  return pods.items.some((p) => !p.metadata?.deletionTimestamp && p.metadata?.annotations?.[AGENT_INJECTED_ANNOTATION] !== hash);
}

const RESTARTED_AT_ANNOTATION = 'tp.dev/restarted-at';
export const labelSelector = (sel: Record<string, string>) =>
  Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** One pod of a workload, as the wait for its agent sees it. */
export interface PodView {
  name: string;
  hash: string | undefined;
  ready: boolean;
  hasAgent: boolean;
  problems: string[];
}

export function viewPod(p: k8s.V1Pod): PodView {
  const problems: string[] = [];
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const w = s.state?.waiting;
    if (w?.reason && w.reason !== 'PodInitializing' && w.reason !== 'ContainerCreating')
      problems.push(`container ${s.name}: ${w.reason}${w.message ? ` (${w.message})` : ''}`);
    const t = s.state?.terminated ?? s.lastState?.terminated;
    if (t && t.exitCode !== 0)
      problems.push(
        `container ${s.name} exited with code ${t.exitCode}${t.message ? `: ${t.message.trim()}` : t.reason ? ` (${t.reason})` : ''}`,
      );
  }
  for (const c of p.status?.conditions ?? [])
    if (c.type === 'PodScheduled' && c.status === 'False') problems.push(`not scheduled: ${c.message ?? c.reason}`);
  return {
    name: p.metadata?.name ?? '',
    hash: p.metadata?.annotations?.[AGENT_INJECTED_ANNOTATION],
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    hasAgent:
      (p.spec?.containers ?? []).some((c) => c.name === AGENT_CONTAINER_NAME) ||
      (p.spec?.initContainers ?? []).some((c) => c.name === AGENT_INIT_CONTAINER_NAME),
    problems,
  };
}

/** The live (not terminating) pods of a workload. */
export async function listPods(kc: k8s.KubeConfig, wl: WorkloadRef): Promise<PodView[]> {
  const pods = await kc
    .makeApiClient(k8s.CoreV1Api)
    .listNamespacedPod({ namespace: wl.namespace, labelSelector: labelSelector(wl.selector) });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp).map(viewPod);
}

/** The progress line while agents arrive: how many pods run the agent of this config and are ready. */
export function agentProgress(wl: Pick<WorkloadRef, 'kind' | 'name' | 'replicas'>, good: number, views: number): string {
  const want = wl.replicas;
  return `Waiting for the traffic agent: ${good} of ${want} pod${want === 1 ? '' : 's'} of ${wl.kind.toLowerCase()}/${wl.name} ready with it${views > good ? ` (${views - good} still to replace)` : ''}`;
}

/** Why the agents did not arrive, in one error, from what the pods and their events show. */
export function agentTimeoutError(
  wl: WorkloadRef,
  hash: string,
  views: PodView[],
  events: string[],
  ms: number,
  managerNamespace: string,
): TunnelCallError {
  const reasons: string[] = [];
  const uninjected = views.filter((v) => !v.hasAgent);
  if (uninjected.length) {
    reasons.push(
      `${uninjected.length} pod${uninjected.length === 1 ? ' was' : 's were'} created without the agent (${uninjected.map((v) => v.name).join(', ')}): the agent-injector webhook did not answer the API server`,
    );
  }
  for (const v of views) for (const p of v.problems) reasons.push(`pod ${v.name}: ${p}`);
  const stale = views.filter((v) => v.hasAgent && v.hash !== hash);
  if (stale.length && !uninjected.length) reasons.push(`${stale.length} pod(s) still run an older agent config`);
  reasons.push(...events);
  const why = reasons.length ? reasons.slice(0, 8).join('; ') : 'the pods did not become ready';
  const hint = uninjected.length
    ? `check that the traffic manager runs and its webhook is reachable: kubectl -n ${managerNamespace} get pods,endpoints traffic-manager; then \`tp leave\` and engage again`
    : `see kubectl -n ${wl.namespace} describe pods -l ${labelSelector(wl.selector)}`;
  return new TunnelCallError(
    'E_AGENT_TIMEOUT',
    `the traffic agent did not arrive in ${wl.kind.toLowerCase()}/${wl.name} within ${Math.round(ms / 1000)} s: ${why}`,
    504,
    hint,
  );
}

/** The latest Warning events of the workload's pods and of whatever creates them. */
export async function warningEvents(kc: k8s.KubeConfig, wl: WorkloadRef, pods: string[]): Promise<string[]> {
  try {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespacedEvent({ namespace: wl.namespace });
    const prefix = `${wl.name}-`;
    return list.items
      .filter((e) => e.type === 'Warning')
      .filter(
        (e) =>
          pods.includes(e.involvedObject.name ?? '') ||
          (e.involvedObject.name ?? '').startsWith(prefix) ||
          e.involvedObject.name === wl.name,
      )
      .sort((a, b) => String(b.lastTimestamp ?? b.eventTime ?? '').localeCompare(String(a.lastTimestamp ?? a.eventTime ?? '')))
      .slice(0, 4)
      .map((e) => `${(e.involvedObject.kind ?? '').toLowerCase()} ${e.involvedObject.name}: ${e.reason}: ${(e.message ?? '').trim()}`);
  } catch {
    return [];
  }
}

/** Workloads in a namespace whose pod template carries an agent config. */
export async function workloadsWithAgents(kc: k8s.KubeConfig, namespace: string, managerNamespace: string): Promise<WorkloadRef[]> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const [d, s, r] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedStatefulSet({ namespace }),
    apps.listNamespacedReplicaSet({ namespace }),
  ]);
  // Another manager's agents (several installations in one cluster, issue #16) are not ours to touch.
  const ours = (v: string | undefined) => v === undefined || v === agentLabelValue(managerNamespace) || v === AGENT_LABEL_VALUE;
  const has = (o: { spec?: { template?: { metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> } } } }) =>
    o.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION] !== undefined &&
    ours(o.spec?.template?.metadata?.labels?.[AGENT_LABEL]);
  return [
    ...d.items.filter(has).map((o) => refOf('Deployment', o)),
    ...s.items.filter(has).map((o) => refOf('StatefulSet', o)),
    ...r.items
      .filter((o) => has(o) && !o.metadata?.ownerReferences?.some((x) => x.kind === 'Deployment'))
      .map((o) => refOf('ReplicaSet', o)),
  ];
}

/** The Pod Security level a namespace enforces: its pod-security.kubernetes.io/enforce label
 * (issue #16). Cluster-wide defaults of the admission plugin's own configuration are not visible
 * through the API; a pod they refuse shows as a FailedCreate event in agentTimeoutError. */
export async function podSecurityEnforce(kc: k8s.KubeConfig, namespace: string): Promise<string | undefined> {
  const ns = await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: namespace });
  return ns.metadata?.labels?.[POD_SECURITY_ENFORCE_LABEL];
}

/** The Services of a namespace, as the planner reads them (which ports they target by name). */
export async function listServices(kc: k8s.KubeConfig, namespace: string): Promise<ServiceView[]> {
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedService({ namespace });
  return list.items.map((s) => ({
    name: s.metadata?.name ?? '',
    ...(s.spec?.selector ? { selector: s.spec.selector } : {}),
    ports: (s.spec?.ports ?? []).map((p) => ({
      port: p.port,
      ...(p.name ? { name: p.name } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
      // IntOrString: client-node hands a number or a string as the JSON had it.
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort as number | string } : {}),
    })),
  }));
}
