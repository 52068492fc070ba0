// tp's renderer against the real `helm template` on tp's own chart: same objects for each value set.
// The helm binary comes from scripts/setup (built from Go modules); in CI its absence is a failure,
// elsewhere a skip (test/helpers/binaries.ts).

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { renderChart } from '../../../lib/helm/chart.js';
import { userValues } from '../../../lib/helm/values.js';
import { HELM, testNeeding } from '../../helpers/binaries.js';

const run = promisify(execFile);
const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const helmTest = testNeeding([HELM]);

type Obj = { kind: string; metadata: { name: string; namespace?: string } };
const keyOf = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function byKey(docs: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const d of docs) if (d) m.set(keyOf(d as Obj), d);
  return m;
}

interface Case {
  release?: string;
  namespace?: string;
  /** --set arguments; the same strings go to both renderers. */
  set?: string[];
  /** --set-string arguments. */
  setString?: string[];
}

/** Value sets to compare: the defaults and the overrides users make. */
const CASES: Record<string, Case> = {
  defaults: {},
  'managedNamespaces [a,b]': { set: ['managedNamespaces={a,b}'] },
  'managedNamespaces holding the release namespace itself': { set: ['managedNamespaces={tp-system}'] },
  'image.tag set (instead of the chart appVersion)': { set: ['image.tag=0.9.0'] },
  'image.tag as a --set-string that looks like a number': { setString: ['image.tag=1.10'] },
  'managedNamespaces and image.tag together, another release name and namespace': {
    release: 'tm-dev', namespace: 'dev', set: ['managedNamespaces={team-a,team-b}', 'image.tag=2.0.0-dev.3'],
  },
  'custom image, tag, resources and scheduling': {
    set: [
      'image.repository=registry.example.com/tp/tp,image.tag=1.2.3-rc.1,image.pullPolicy=Always',
      'resources.requests.cpu=50m,resources.requests.memory=96Mi,resources.limits.memory=256Mi',
      'logLevel=debug,apiPort=9081,agentPort=9082,healthPath=/ready',
      'nodeSelector.kubernetes\\.io/os=linux,podAnnotations.example\\.com/note=y',
      'tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule',
    ],
  },
};

for (const [name, c] of Object.entries(CASES)) {
  helmTest(`rendering matches helm template: ${name}`, async (t) => {
    const release = c.release ?? 'traffic-manager';
    const namespace = c.namespace ?? 'tp-system';
    const set = c.set ?? [];
    const setString = c.setString ?? [];
    const args = ['template', release, CHART, '--namespace', namespace,
      ...set.flatMap((s) => ['--set', s]), ...setString.flatMap((s) => ['--set-string', s])];
    const theirs = (await run(HELM.path, args, { maxBuffer: 1 << 24 })).stdout;
    const ours = renderChart(CHART, { releaseName: release, namespace, values: userValues({ set, setString }) });

    // Both texts through the same YAML 1.1 reader (what Kubernetes' go-yaml does): a bare `y`
    // would read as true here, so quoting mistakes show up as differences.
    const parse = (text: string) => YAML.parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());
    const theirDocs = byKey(parse(theirs));
    const ourDocs = byKey(parse(ours.manifest));
    t.true(theirDocs.size > 0, 'helm rendered objects');
    t.deepEqual([...ourDocs.keys()].sort(), [...theirDocs.keys()].sort(), 'the same objects');
    for (const [k, v] of theirDocs) t.deepEqual(ourDocs.get(k), v, k);
    // Same kinds in the same order, too: the install order is Helm's.
    const theirOrder = YAML.parseAllDocuments(theirs).map((d) => (d.toJS() as Obj).kind);
    t.deepEqual(ours.manifests.map((m) => m.object.kind), theirOrder);
  });
}

helmTest('helm lint passes on the chart, with defaults and with managed namespaces', async (t) => {
  for (const extra of [[], ['--set', 'managedNamespaces={a,b}']]) {
    const { stdout } = await run(HELM.path, ['lint', CHART, '--strict', ...extra]);
    t.regex(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

/** #15: values the chart's values.schema.json refuses: helm and tp both refuse them. */
const REFUSED: Record<string, { set: string[]; ours: RegExp }> = {
  'a pull policy Kubernetes does not know': { set: ['image.pullPolicy=Sometimes'], ours: /image\.pullPolicy "Sometimes" is not one of "Always", "IfNotPresent", "Never"/ },
  'a misspelt top-level value': { set: ['imag.tag=1'], ours: /imag is not a value of this chart/ },
  'a port out of range': { set: ['apiPort=0'], ours: /apiPort 0 is below the minimum 1/ },
  'a namespace name Kubernetes refuses': { set: ['managedNamespaces={Bad_NS}'], ours: /managedNamespaces\[0\] "Bad_NS" does not match/ },
  'an empty image repository': { set: ['image.repository='], ours: /image\.repository must not be empty/ },
  'a log level the manager does not know': { set: ['logLevel=loud'], ours: /logLevel "loud" is not one of/ },
};

for (const [name, c] of Object.entries(REFUSED)) {
  helmTest(`#15: values.schema.json refuses ${name} in helm and in tp alike`, async (t) => {
    const theirs = await run(HELM.path, ['template', 'traffic-manager', CHART, ...c.set.flatMap((s) => ['--set', s])]).then(() => 'accepted', (e: { stderr?: string }) => e.stderr ?? '');
    t.regex(theirs, /values don't meet the specifications of the schema/);
    const err = t.throws(() => renderChart(CHART, { releaseName: 'traffic-manager', namespace: 'tp-system', values: userValues({ set: c.set }) }));
    t.is((err as { code?: string }).code, 'E_HELM_VALUES');
    t.regex(err!.message, c.ours);
  });
}

helmTest('#15: helm lint --strict passes the chart with no finding', async (t) => {
  const r = await run(HELM.path, ['lint', '--strict', CHART]);
  t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  t.notRegex(r.stdout, /\[(INFO|WARNING|ERROR)\]/, r.stdout);
});
