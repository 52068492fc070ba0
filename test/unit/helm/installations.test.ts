// #16: several tp installations in one cluster, rendered with tp's chart engine: each manager's
// webhooks see only its own manager's objects, and cluster-scoped names never collide.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { renderChart, type KubeObject } from '../../../lib/helm/chart.js';
import { userValues } from '../../../lib/helm/values.js';
import { agentLabelValue, AGENT_LABEL } from '../../../lib/common/agent-config.js';

const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const render = (namespace: string, ...set: string[]) => renderChart(CHART, { releaseName: 'traffic-manager', namespace, values: userValues({ set }) }).manifests.map((m) => m.object);

interface Requirement { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }
interface Selector { matchLabels?: Record<string, string>; matchExpressions?: Requirement[] }
interface Webhook { name: string; objectSelector?: Selector; namespaceSelector?: Selector }

/** Label selector semantics (k8s.io/apimachinery labels.Selector): every requirement holds. */
function matches(sel: Selector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const ok = r.operator === 'In' ? has && r.values!.includes(labels[r.key]!)
      : r.operator === 'NotIn' ? !has || !r.values!.includes(labels[r.key]!)
      : r.operator === 'Exists' ? has
      : !has;
    if (!ok) return false;
  }
  return true;
}

const webhooks = (objs: KubeObject[], name: string): Webhook[] =>
  objs.filter((o) => o.kind === 'MutatingWebhookConfiguration').flatMap((o) => (o as unknown as { webhooks: Webhook[] }).webhooks).filter((w) => w.name === name);

/** The installations whose agent injector the API server would call for this pod. */
function injectors(installs: Record<string, KubeObject[]>, pod: { namespace: string; labels: Record<string, string> }): string[] {
  return Object.entries(installs)
    .filter(([, objs]) => webhooks(objs, 'agent-injector.tp.dev').some((w) => matches(w.objectSelector, pod.labels) && matches(w.namespaceSelector, { 'kubernetes.io/metadata.name': pod.namespace })))
    .map(([name]) => name);
}

// Team A's manager in tp-a for the whole cluster (it creates the cluster-wide objects); team B's in
// tp-b, also for the whole cluster; team C's in tp-c for team-c only.
const installs = {
  'tp-a': render('tp-a'),
  'tp-b': render('tp-b', 'clusterWide.create=false'),
  'tp-c': render('tp-c', 'clusterWide.create=false', 'managedNamespaces={team-c}'),
};
const agentPod = (manager: string, namespace: string) => ({ namespace, labels: { app: 'echo', [AGENT_LABEL]: agentLabelValue(manager) } });

test('#16: two managers for the whole cluster: each injector takes only the pods its own manager labelled', (t) => {
  t.deepEqual(injectors(installs, agentPod('tp-a', 'team-x')), ['tp-a']);
  t.deepEqual(injectors(installs, agentPod('tp-b', 'team-x')), ['tp-b']);
  t.deepEqual(injectors(installs, { namespace: 'team-x', labels: { app: 'echo' } }), [], 'a pod without an agent config waits on no tp webhook');
});

test('#16: a manager limited to its namespaces injects only there, and only its own pods there', (t) => {
  t.deepEqual(injectors(installs, agentPod('tp-c', 'team-c')), ['tp-c']);
  t.deepEqual(injectors(installs, agentPod('tp-c', 'team-x')), [], 'outside managedNamespaces');
  t.deepEqual(injectors(installs, agentPod('tp-a', 'team-c')), ['tp-a'], 'team A may engage in team-c too; C\'s webhook stays out');
});

test('#16: no injector runs in kube-system or in its own manager\'s namespace', (t) => {
  t.deepEqual(injectors(installs, agentPod('tp-a', 'kube-system')), []);
  t.deepEqual(injectors(installs, agentPod('tp-a', 'tp-a')), []);
  t.deepEqual(injectors(installs, agentPod('tp-b', 'tp-a')), ['tp-b'], 'another manager\'s namespace is an ordinary one to B');
});

test('#16: pods labelled before per-manager labels ("enabled") keep their agents after an upgrade', (t) => {
  t.deepEqual(injectors(installs, { namespace: 'team-c', labels: { [AGENT_LABEL]: 'enabled' } }), ['tp-a', 'tp-b', 'tp-c'],
    'every manager that may engage there matches them; the first to inject wins, the others see "already injected"');
});

test('#16: the engagement-deletions webhook of each manager sees only its own Engagements', (t) => {
  for (const [ns, objs] of Object.entries(installs)) {
    const [w] = webhooks(objs, 'engagement-deletions.tp.dev');
    for (const other of Object.keys(installs)) t.is(matches(w!.objectSelector, { 'tp.dev/manager-namespace': other }), other === ns, `${ns} sees ${other}'s`);
  }
});

test('#16: cluster-scoped objects of the three installations never share a name; only one creates CRDs and user roles', (t) => {
  const clusterScoped = (objs: KubeObject[]) => objs.filter((o) => !o.metadata.namespace && o.kind !== 'Namespace').map((o) => `${o.kind}/${o.metadata.name}`);
  const all = Object.values(installs).flatMap(clusterScoped);
  t.deepEqual(all.filter((k, i) => all.indexOf(k) !== i), []);
  const shared = ['CustomResourceDefinition/sessions.tp.dev', 'CustomResourceDefinition/engagements.tp.dev', 'ClusterRole/tp-client', 'ClusterRole/tp-user', 'ClusterRole/tp-admin'];
  for (const k of shared) t.deepEqual(Object.entries(installs).filter(([, o]) => clusterScoped(o).includes(k)).map(([n]) => n), ['tp-a'], k);
});
