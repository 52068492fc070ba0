// The chart and the webhook code must agree: the path, the Service port, the names the manager
// reads from its env, and RBAC for what cert.ts/k8s.ts do. Rendered with tp's own engine (the
// helm-compare test checks that real Helm renders the same).
import test from 'ava';
import { fileURLToPath } from 'node:url';
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Role, V1ClusterRole, V1Service } from '@kubernetes/client-node';
import { renderChart } from '../../../../lib/helm/chart.js';
import { userValues } from '../../../../lib/helm/values.js';
import { MUTATE_PATH } from '../../../../lib/manager/webhook/server.js';
import { DEFAULT_WEBHOOK_PORT } from '../../../../lib/manager/webhook/start.js';
import { DELETIONS_PATH } from '../../../../lib/manager/webhook/deletions.js';

const CHART = fileURLToPath(new URL('../../../../../helm/', import.meta.url));
const render = (...set: string[]) =>
  renderChart(CHART, { releaseName: 'traffic-manager', namespace: 'tp-system', values: userValues({ set }) }).manifests.map(
    (m) => m.object as { kind: string },
  );
const one = <T>(objs: Array<{ kind: string }>, kind: string) => objs.filter((o) => o.kind === kind) as unknown as T[];

test('the MutatingWebhookConfiguration calls POST /mutate-pods on the traffic-manager Service, for pod CREATEs, failing open', (t) => {
  const [cfg] = one<V1MutatingWebhookConfiguration>(render(), 'MutatingWebhookConfiguration');
  t.is(cfg!.metadata!.name, 'tp-agent-injector-tp-system');
  t.is(cfg!.webhooks!.length, 2);
  const w = cfg!.webhooks![0]!;
  t.is(w.name, 'agent-injector.tp.dev');
  t.deepEqual(
    w.clientConfig,
    { service: { name: 'traffic-manager', namespace: 'tp-system', path: MUTATE_PATH, port: 443 } },
    'no caBundle: the manager sets it',
  );
  t.deepEqual(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
  t.like(w, {
    failurePolicy: 'Ignore',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 5,
    reinvocationPolicy: 'Never',
  });
  t.deepEqual(w.namespaceSelector, {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'tp-system'] }],
  });
});

test('#11: the second webhook only records who deletes an engagement of this manager, and never blocks it', (t) => {
  const [cfg] = one<V1MutatingWebhookConfiguration>(render(), 'MutatingWebhookConfiguration');
  const w = cfg!.webhooks![1]!;
  t.is(w.name, 'engagement-deletions.tp.dev');
  t.deepEqual(w.clientConfig, { service: { name: 'traffic-manager', namespace: 'tp-system', path: DELETIONS_PATH, port: 443 } });
  t.deepEqual(w.rules, [
    { operations: ['DELETE'], apiGroups: ['tp.dev'], apiVersions: ['*'], resources: ['engagements'], scope: 'Namespaced' },
  ]);
  t.like(w, { failurePolicy: 'Ignore', sideEffects: 'NoneOnDryRun' });
  t.deepEqual(w.objectSelector, { matchLabels: { 'tp.dev/manager-namespace': 'tp-system' } });
});

test('with managedNamespaces the webhook sees only those namespaces', (t) => {
  const [cfg] = one<V1MutatingWebhookConfiguration>(render('managedNamespaces={a,b}'), 'MutatingWebhookConfiguration');
  t.deepEqual(cfg!.webhooks![0]!.namespaceSelector, {
    matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['a', 'b'] }],
  });
});

test("the Service's port 443 reaches the manager's webhook port, whose settings come in env", (t) => {
  const objs = render('webhookPort=9443', 'image.tag=1.2.3', 'image.pullPolicy=Always');
  const [svc] = one<V1Service>(objs, 'Service');
  t.deepEqual(
    svc!.spec!.ports!.find((p) => p.name === 'webhook'),
    { name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
  );
  const [dep] = one<V1Deployment>(objs, 'Deployment');
  const c = dep!.spec!.template.spec!.containers[0]!;
  t.deepEqual(
    c.ports!.find((p) => p.name === 'webhook'),
    { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
  );
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
  t.like(env, {
    TP_WEBHOOK_PORT: '9443',
    TP_WEBHOOK_SECRET_NAME: 'tp-agent-injector-tls',
    TP_WEBHOOK_CONFIG_NAME: 'tp-agent-injector-tp-system',
    TP_WEBHOOK_SERVICE_NAME: 'traffic-manager',
    TP_AGENT_IMAGE: 'tp.local/tp:1.2.3',
    TP_AGENT_IMAGE_PULL_POLICY: 'Always',
  });
  const defaults = one<V1Deployment>(render(), 'Deployment')[0]!.spec!.template.spec!.containers[0]!;
  t.is(defaults.env!.find((e) => e.name === 'TP_WEBHOOK_PORT')!.value, String(DEFAULT_WEBHOOK_PORT));
});

test('RBAC allows what the webhook does: Secret create, get and update by name; the configuration get and patch', (t) => {
  const objs = render();
  const role = one<V1Role>(objs, 'Role').find((r) => r.metadata!.namespace === 'tp-system')!;
  const secretVerbs = (name?: string) =>
    role
      .rules!.filter((r) => r.resources!.includes('secrets') && (!r.resourceNames || r.resourceNames.includes(name!)))
      .flatMap((r) => r.verbs);
  for (const v of ['create', 'get', 'update']) t.true(secretVerbs('tp-agent-injector-tls').includes(v), `secrets ${v}`);
  const [cr] = one<V1ClusterRole>(objs, 'ClusterRole');
  const rule = cr!.rules!.find((r) => r.resources!.includes('mutatingwebhookconfigurations'))!;
  t.deepEqual(rule.resourceNames, ['tp-agent-injector-tp-system']);
  t.deepEqual([...rule.verbs].sort(), ['get', 'patch']);
});
