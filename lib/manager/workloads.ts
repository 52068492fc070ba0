// The workloads a client can engage (`tp list`): Deployments, StatefulSets, and ReplicaSets that
// no Deployment owns. Pod templates tell the containers and ports.
import * as k8s from '@kubernetes/client-node';
import type { Workload, WorkloadPort } from '../common/rpc/manager.js';
import { AGENT_CONFIG_ANNOTATION, parseAgentConfig } from '../common/agent-config.js';

function portsOf(spec: k8s.V1PodSpec | undefined): { containers: string[]; ports: WorkloadPort[] } {
  const containers = (spec?.containers ?? []).map((c) => c.name);
  const ports = (spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      container: c.name,
      ...(p.name ? { name: p.name } : {}),
      port: p.containerPort,
      protocol: p.protocol ?? 'TCP',
    })),
  );
  return { containers, ports };
}

function agentOf(template: k8s.V1PodTemplateSpec | undefined): Workload['agent'] {
  const a = template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
  if (!a) return undefined;
  try {
    const c = parseAgentConfig(a);
    return { container: c.container, replace: c.replace };
  } catch {
    return undefined;
  }
}

function describe(
  kind: Workload['kind'],
  meta: k8s.V1ObjectMeta | undefined,
  replicas: number | undefined,
  ready: number | undefined,
  template: k8s.V1PodTemplateSpec | undefined,
): Workload {
  const want = replicas ?? 1;
  const have = ready ?? 0;
  const spec = template?.spec;
  const agent = agentOf(template);
  return {
    ...(agent ? { agent } : {}),
    kind,
    name: meta?.name ?? '',
    namespace: meta?.namespace ?? '',
    replicas: want,
    readyReplicas: have,
    ...portsOf(spec),
    state: want > 0 && have > 0 ? 'ready to engage' : want === 0 ? 'scaled to zero' : 'not ready',
  };
}

export async function listWorkloads(kc: k8s.KubeConfig, namespace: string): Promise<Workload[]> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const [deps, sets, rss] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedStatefulSet({ namespace }),
    apps.listNamespacedReplicaSet({ namespace }),
  ]);
  const out: Workload[] = [];
  for (const d of deps.items) out.push(describe('Deployment', d.metadata, d.spec?.replicas, d.status?.readyReplicas, d.spec?.template));
  for (const s of sets.items) out.push(describe('StatefulSet', s.metadata, s.spec?.replicas, s.status?.readyReplicas, s.spec?.template));
  for (const r of rss.items) {
    if ((r.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Deployment')) continue;
    out.push(describe('ReplicaSet', r.metadata, r.spec?.replicas, r.status?.readyReplicas, r.spec?.template));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
}
