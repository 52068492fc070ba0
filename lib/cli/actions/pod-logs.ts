// The cluster part of `tp gather-logs`: the traffic manager's and the agents' pod logs, read
// through the API with the user's kubeconfig. Its own module so that `--no-cluster` loads no
// client-node (#14). Best effort: what cannot be read becomes a note in the archive.
import * as k8s from '@kubernetes/client-node';
import { AGENT_CONTAINER_NAME, AGENT_INIT_CONTAINER_NAME, agentPodSelector } from '../../common/agent-config.js';
import { httpStatusOf } from '../../common/kube-errors.js';
import { checkCredentials, kubeFailure, loadKube, type KubeTarget } from '../../user/kube.js';
import type { ArchiveEntry } from '../archive.js';
import { describeError } from '../output.js';

/** At most this much of each pod log (the API server's limitBytes). */
const POD_LOG_LIMIT = 10 * 1024 * 1024;

/** The pod logs for the kubeconfig and context the flags name, and where they came from. */
export async function clusterLogs(
  o: Record<string, unknown>,
  managerNamespace: string,
  sinceSeconds: number | undefined,
  notes: string[],
): Promise<{ entries: ArchiveEntry[]; cluster: Record<string, unknown> }> {
  const t = loadKube({
    ...(typeof o.kubeconfig === 'string' ? { kubeconfig: o.kubeconfig } : {}),
    ...(typeof o.context === 'string' ? { context: o.context } : {}),
  });
  await checkCredentials(t);
  const agentNamespace = typeof o.namespace === 'string' ? o.namespace : t.namespace;
  const entries = await podLogs(t, managerNamespace, agentNamespace, sinceSeconds, notes);
  return { entries, cluster: { context: t.context, server: t.kc.getCurrentCluster()?.server, managerNamespace } };
}

interface PodLogTarget {
  namespace: string;
  pod: string;
  container: string;
  previous: boolean;
  dir: string;
}

async function podLogs(
  t: KubeTarget,
  managerNamespace: string,
  agentNamespace: string,
  sinceSeconds: number | undefined,
  notes: string[],
): Promise<ArchiveEntry[]> {
  const core = t.kc.makeApiClient(k8s.CoreV1Api);
  const targets: PodLogTarget[] = [];
  const add = (p: k8s.V1Pod, dir: string, only?: string[]) => {
    const ns = p.metadata?.namespace ?? '';
    const pod = p.metadata?.name ?? '';
    const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
    for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]) {
      if (only && !only.includes(c.name)) continue;
      targets.push({ namespace: ns, pod, container: c.name, previous: false, dir });
      if ((statuses.find((s) => s.name === c.name)?.restartCount ?? 0) > 0)
        targets.push({ namespace: ns, pod, container: c.name, previous: true, dir });
    }
  };
  try {
    const managers = await core.listNamespacedPod({ namespace: managerNamespace, labelSelector: 'app.kubernetes.io/name=traffic-manager' });
    if (managers.items.length === 0) notes.push(`no traffic-manager pod in namespace ${managerNamespace}`);
    for (const p of managers.items) add(p, 'cluster/traffic-manager');
  } catch (err) {
    notes.push(
      `listing the traffic manager's pods in ${managerNamespace} failed: ${describeError(kubeFailure(err, t, { verb: 'list', resource: 'pods', namespace: managerNamespace })).message}`,
    );
  }
  const selector = agentPodSelector(managerNamespace);
  let agents: k8s.V1Pod[] = [];
  try {
    agents = (await core.listPodForAllNamespaces({ labelSelector: selector })).items;
  } catch (err) {
    // Most users may list pods only in some namespaces: then the one they work in.
    if (httpStatusOf(err) !== 403)
      notes.push(`listing agent pods failed: ${describeError(kubeFailure(err, t, { verb: 'list', resource: 'pods' })).message}`);
    try {
      agents = (await core.listNamespacedPod({ namespace: agentNamespace, labelSelector: selector })).items;
      notes.push(`agent pods: only namespace ${agentNamespace} (listing pods cluster-wide is not allowed); pass -n for another`);
    } catch (err2) {
      notes.push(
        `listing agent pods in ${agentNamespace} failed: ${describeError(kubeFailure(err2, t, { verb: 'list', resource: 'pods', namespace: agentNamespace })).message}`,
      );
    }
  }
  for (const p of agents) add(p, `cluster/agents/${p.metadata?.namespace}`, [AGENT_CONTAINER_NAME, AGENT_INIT_CONTAINER_NAME]);

  const out: ArchiveEntry[] = [];
  for (const x of targets) {
    try {
      const text = await core.readNamespacedPodLog({
        name: x.pod,
        namespace: x.namespace,
        container: x.container,
        limitBytes: POD_LOG_LIMIT,
        timestamps: true,
        ...(x.previous ? { previous: true } : {}),
        ...(sinceSeconds ? { sinceSeconds } : {}),
      });
      out.push({ name: `${x.dir}/${x.pod}/${x.container}${x.previous ? '.previous' : ''}.log`, data: Buffer.from(String(text ?? '')) });
    } catch (err) {
      notes.push(
        `the log of ${x.namespace}/${x.pod} container ${x.container}${x.previous ? ' (previous)' : ''} could not be read: ${describeError(kubeFailure(err, t, { verb: 'get', resource: 'pods/log', namespace: x.namespace })).message}`,
      );
    }
  }
  return out;
}
