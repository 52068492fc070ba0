// #15: every object the chart renders, and the pod the agent injector makes, is valid against
// the Kubernetes v1.34 API schemas — strictly: a misspelt or misplaced field is an error, as the
// API server's strict field validation makes it. kubeconform is built from its Go module and the
// schemas are made offline from the k8s.io/kubernetes module's OpenAPI document
// (scripts/lib/binaries.sh). The tp.dev CRDs are themselves CustomResourceDefinition objects and
// are validated as such; no custom resource instance is rendered, so nothing needs -skip.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { renderChart } from '../../../lib/helm/chart.js';
import { userValues } from '../../../lib/helm/values.js';
import { K8S_SCHEMA_VERSION, K8S_SCHEMAS, KUBECONFORM, testNeeding } from '../../helpers/binaries.js';
import type { V1Pod } from '@kubernetes/client-node';
import { mutate } from '../../../lib/manager/webhook/mutate.js';
import { applyPatch, OPTS, pod, review } from '../manager/webhook/harness.js';

const run = promisify(execFile);
const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const kcTest = testNeeding([KUBECONFORM, K8S_SCHEMAS]);

/** The pod as the API server stores it after the injector's patch. */
function admit(p: V1Pod): { pod: V1Pod } {
  const r = mutate(review(p), OPTS);
  if (!r.ok || !r.review.response.patch) throw new Error('not injected');
  return { pod: applyPatch(p as never, JSON.parse(Buffer.from(r.review.response.patch, 'base64').toString('utf8'))) as unknown as V1Pod };
}

interface Result { filename: string; kind: string; name: string; status: string; msg: string }

/** kubeconform's verdict on each document of `yaml`. */
async function validate(yaml: string): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-kubeconform-'));
  try {
    writeFileSync(join(dir, 'objects.yaml'), yaml);
    const out = await run(KUBECONFORM.path, ['-strict', '-output', 'json', '-verbose', '-schema-location', K8S_SCHEMAS.path,
      '-kubernetes-version', K8S_SCHEMA_VERSION, join(dir, 'objects.yaml')]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
    return (JSON.parse(out) as { resources: Result[] }).resources;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Record<string, string[]> = {
  defaults: [],
  'managedNamespaces (Roles per namespace)': ['managedNamespaces={a,b}'],
  'custom image, resources, scheduling, annotations': [
    'image.repository=registry.example.com/tp/tp,image.tag=1.2.3,image.pullPolicy=Always',
    'resources.requests.cpu=100m,resources.limits.memory=512Mi',
    'nodeSelector.kubernetes\\.io/os=linux,podAnnotations.example\\.com/note=y',
    'tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule',
  ],
  'clusterWide.create=false (a second installation)': ['clusterWide.create=false'],
};

for (const [name, set] of Object.entries(CASES)) {
  kcTest(`#15: every rendered object is valid against the Kubernetes ${K8S_SCHEMA_VERSION} schemas (strict): ${name}`, async (t) => {
    const r = renderChart(CHART, { releaseName: 'traffic-manager', namespace: 'tp-system', values: userValues({ set }) });
    const results = await validate(r.manifest);
    t.is(results.length, r.manifests.length, 'one verdict per object');
    t.deepEqual(results.filter((x) => x.status !== 'statusValid').map((x) => `${x.kind}/${x.name}: ${x.status} ${x.msg}`), []);
  });
}

kcTest('#15: the pod the agent injector makes (init container, sidecar, token volume) is a valid Pod', async (t) => {
  const pods = [
    admit(pod()).pod,
    admit(pod({ containers: [{ name: 'echo', image: 'e', ports: [{ name: 'http', containerPort: 8080 }], securityContext: { runAsUser: 1000, capabilities: { drop: ['ALL'] } } }] })).pod,
    admit(pod({ spec: { securityContext: { runAsNonRoot: true } } })).pod,
  ].map((p, i) => ({ ...p, metadata: { ...p.metadata, name: `injected-${i}` } }));
  const results = await validate(pods.map((p) => YAML.stringify(p)).join('---\n'));
  t.is(results.length, pods.length);
  t.deepEqual(results.filter((x) => x.status !== 'statusValid').map((x) => `${x.name}: ${x.msg}`), []);
});

kcTest('#15: the check can fail: a misspelt field and a wrong type are reported', async (t) => {
  const [r] = await validate('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: two\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i, securityContex: {}}]\n');
  t.is(r!.status, 'statusInvalid');
  t.regex(r!.msg, /replicas/);
  t.regex(r!.msg, /securityContex/);
});
