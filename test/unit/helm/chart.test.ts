import test from 'ava';
import { mkdirSync, mkdtempSync as mkdtempRaw, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadChart, renderChart, splitDocuments, type KubeObject } from '../../../lib/helm/chart.js';
import { HelmError } from '../../../lib/helm/errors.js';
import { userValues } from '../../../lib/helm/values.js';

/** Temp dirs made by these tests, removed at the end. */
const made: string[] = [];
const mkdtempSync = (prefix: string): string => {
  const d = mkdtempRaw(prefix);
  made.push(d);
  return d;
};
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const render = (...set: string[]) =>
  renderChart(CHART, { releaseName: 'traffic-manager', namespace: 'tp-system', values: userValues({ set }) });
interface Rbac { kind: string; metadata: { name: string; namespace?: string }; rules?: { resources: string[]; verbs: string[]; resourceNames?: string[] }[] }
const rbac = (...set: string[]) => render(...set).manifests.map((m) => m.object as unknown as Rbac);
const find = <T extends { kind: string; metadata: { namespace?: string } }>(objs: T[], kind: string, ns?: string) =>
  objs.filter((o) => o.kind === kind && (ns === undefined || o.metadata.namespace === ns));

/** A throwaway chart: Chart.yaml, optional values.yaml, and the given templates. */
function tempChart(templates: Record<string, string>, values = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'tp-chart-'));
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 1.0.0\nappVersion: "2.0"\n');
  writeFileSync(join(dir, 'values.yaml'), values);
  for (const [name, text] of Object.entries(templates)) writeFileSync(join(dir, 'templates', name), text);
  return dir;
}

test('tp chart, defaults: the manager\'s objects in Helm\'s install order', (t) => {
  const r = render();
  t.deepEqual(r.manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`), [
    'NetworkPolicy/traffic-manager',
    'ServiceAccount/traffic-manager',
    'CustomResourceDefinition/sessions.tp.dev',
    'CustomResourceDefinition/engagements.tp.dev',
    'ClusterRole/tp-traffic-manager-tp-system',
    'ClusterRole/tp-client',
    'ClusterRole/tp-user',
    'ClusterRole/tp-admin',
    'ClusterRoleBinding/tp-traffic-manager-tp-system',
    'Role/traffic-manager',
    'RoleBinding/traffic-manager',
    'Service/traffic-manager',
    'Deployment/traffic-manager',
    'MutatingWebhookConfiguration/tp-agent-injector-tp-system',
    'ValidatingAdmissionPolicy/tp-owner-tp-system',
    'ValidatingAdmissionPolicyBinding/tp-owner-tp-system',
  ]);
});

test('tp chart, defaults: image is tp.local/tp at the appVersion; env carries level and ports', (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const [d] = find(render().manifests.map((m) => m.object as unknown as KubeObject & { spec: any }), 'Deployment');
  const c = d!.spec.template.spec.containers[0];
  t.is(c.name, 'manager');
  t.is(c.image, 'tp.local/tp:0.1.0');
  t.deepEqual(c.command, ['node', '/app/dist/lib/manager/main.js']);
  const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  t.like(env, { TP_LOG_LEVEL: 'info', TP_API_PORT: '8081', TP_AGENT_PORT: '8082', TP_MANAGED_NAMESPACES: '' });
  t.deepEqual(c.env[0].valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
  t.is(c.readinessProbe.httpGet.port, 'agent');
  t.is(d!.spec.replicas, 1);
});

test('tp chart, defaults: one ClusterRole holds the workload rules; no per-namespace Roles', (t) => {
  const objs = rbac();
  const [cr] = find(objs, 'ClusterRole');
  const resources = cr!.rules!.flatMap((r) => r.resources);
  for (const r of ['pods', 'services', 'endpoints', 'endpointslices', 'nodes', 'namespaces', 'events', 'servicecidrs', 'deployments', 'tokenreviews']) {
    t.true(resources.includes(r), r);
  }
  const webhook = cr!.rules!.find((r) => r.resources.includes('mutatingwebhookconfigurations'))!;
  t.deepEqual(webhook.resourceNames, ['tp-agent-injector-tp-system']);
  t.deepEqual(find(objs, 'Role').map((o) => o.metadata.namespace), ['tp-system']);
});

test('tp chart, managedNamespaces [a,b]: workload rules move to Roles in a and b', (t) => {
  const objs = rbac('managedNamespaces={a,b}');
  t.deepEqual(find(objs, 'Role').map((o) => o.metadata.namespace).sort(), ['a', 'b', 'tp-system']);
  t.deepEqual(find(objs, 'RoleBinding').map((o) => o.metadata.namespace).sort(), ['a', 'b', 'tp-system']);
  const [cr] = find(objs, 'ClusterRole');
  t.false(cr!.rules!.some((r) => r.resources.includes('pods')), 'no cluster-wide pod access');
  t.true(cr!.rules!.some((r) => r.resources.includes('nodes')), 'nodes stay cluster-wide');
});

test('tp chart: an empty image.repository is refused by values.schema.json (as helm refuses it); without the schema, required\'s message names file and line', (t) => {
  const e = t.throws(() => render('image.repository='), { instanceOf: HelmError });
  t.is(e.code, 'E_HELM_VALUES');
  t.regex(e.message, /image\.repository must not be empty/);
  const noSchema = { ...loadChart(CHART), schema: null };
  const r = t.throws(() => renderChart(noSchema, { releaseName: 'traffic-manager', namespace: 'tp-system', values: userValues({ set: ['image.repository='] }) }), { instanceOf: HelmError });
  t.is(r.code, 'E_HELM_TEMPLATE_EXEC');
  t.regex(r.message, /template: tp\/templates\/_helpers\.tpl:\d+: .*image\.repository must be set/);
});

test('the release manifest is Helm\'s: "---", "# Source:", the document', (t) => {
  const r = render();
  t.true(r.manifest.startsWith('---\n# Source: tp/templates/networkpolicy.yaml\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'));
  t.is(splitDocuments(r.manifest).length, r.manifests.length);
});

test('several documents per file, empty output and partials are handled like Helm', (t) => {
  const dir = tempChart({
    '_p.tpl': '{{ define "n" }}x{{ end }}kind: ShouldNotAppear',
    'a.yaml': '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "n" . }}\n---\n\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n',
    'empty.yaml': '{{ if false }}apiVersion: v1{{ end }}\n',
    'NOTES.txt': 'installed {{ .Chart.Name }} {{ .Chart.AppVersion }}',
  });
  const r = renderChart(dir, { releaseName: 'r', namespace: 'n' });
  t.deepEqual(r.manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`), ['ServiceAccount/sa', 'ConfigMap/x']);
  t.is(r.notes, 'installed t 2.0');
});

test('.Release, .Chart and .Capabilities are what Helm passes', (t) => {
  const dir = tempChart({
    'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n'
      + '  r: {{ printf "%s/%s/%v/%v/%v/%s" .Release.Name .Release.Namespace .Release.Revision .Release.IsInstall .Release.IsUpgrade .Release.Service | quote }}\n'
      + '  c: {{ printf "%s-%s-%s" .Chart.Name .Chart.Version .Chart.AppVersion | quote }}\n'
      + '  k: {{ printf "%s %s.%s" .Capabilities.KubeVersion.Version .Capabilities.KubeVersion.Major .Capabilities.KubeVersion.Minor | quote }}\n'
      + '  t: {{ .Template.Name | quote }}\n',
  });
  const r = renderChart(dir, { releaseName: 'rel', namespace: 'ns', kubeVersion: 'v1.31.2' });
  t.deepEqual((r.manifests[0]!.object as unknown as { data: unknown }).data, {
    r: 'rel/ns/1/true/false/Helm', c: 't-1.0.0-2.0', k: 'v1.31.2 1.31', t: 't/templates/cm.yaml',
  });
});

test('an unknown function in a chart template is a parse error naming file and line', (t) => {
  const dir = tempChart({ 'x.yaml': 'a: 1\nb: {{ lookup "v1" "Pod" "" "" }}\n' });
  const e = t.throws(() => renderChart(dir, { releaseName: 'r', namespace: 'n' }), { instanceOf: HelmError });
  t.is(e.message, 'template: t/templates/x.yaml:2: function "lookup" not defined');
});

test('a template that renders broken YAML fails naming the source file', (t) => {
  const dir = tempChart({ 'x.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n' });
  const e = t.throws(() => renderChart(dir, { releaseName: 'r', namespace: 'n' }), { instanceOf: HelmError });
  t.is(e.code, 'E_HELM_MANIFEST');
  t.regex(e.message, /^YAML parse error on t\/templates\/x\.yaml/);
});

test('a document without kind or name is rejected', (t) => {
  const dir = tempChart({ 'x.yaml': 'apiVersion: v1\nmetadata:\n  name: a\n' });
  t.throws(() => renderChart(dir, { releaseName: 'r', namespace: 'n' }), { message: /without apiVersion, kind and metadata\.name/ });
});

test('a directory without Chart.yaml is not a chart', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-chart-'));
  const e = t.throws(() => renderChart(dir, { releaseName: 'r', namespace: 'n' }), { instanceOf: HelmError });
  t.is(e.code, 'E_HELM_CHART');
});
