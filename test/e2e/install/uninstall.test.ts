// Tier 3 (#15): uninstall leaves nothing. The traffic manager is installed, runs long enough to
// make its webhook Secret (tp-agent-injector-tls, owned by its Deployment) and a workstation
// connects (a Session object); then `tp helm uninstall` — and, in a second round, the real
// `helm install` / `helm uninstall` — must leave nothing of tp's behind: the test lists what is
// left in the manager's namespace and cluster-wide and expects none of it. The namespace itself
// stays, as with Helm (`--create-namespace` never deletes it). Not run by the author (HELPERS.md):
// the integrator runs it.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterEnv, eventually, kubectl, kubectlOk, makeWorkstation, sh, tpRunner, type TpRunner } from '../../helpers/cluster.js';

const WS = 'tpws-uninst';
const NS = 'tp-system';
const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;

/** Everything of tp's that exists now: namespaced objects in the manager's namespace (but what
 * Kubernetes puts in every namespace), cluster-scoped objects named or labelled as tp's. */
async function leftovers(): Promise<string[]> {
  const namespaced = 'all,secrets,configmaps,serviceaccounts,roles,rolebindings,endpointslices,leases';
  const items = JSON.parse(await kubectlOk(['-n', NS, 'get', namespaced, '-o', 'json'])) as {
    items: Array<{ kind: string; metadata: { name: string; ownerReferences?: unknown[] } }>;
  };
  const inNs = items.items
    .filter((o) => !(o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt'))
    .filter((o) => !(o.kind === 'ServiceAccount' && o.metadata.name === 'default'))
    .map((o) => `${o.kind}/${o.metadata.name} in ${NS}`);
  const cluster = JSON.parse(
    await kubectlOk([
      'get',
      'clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingadmissionpolicies,validatingadmissionpolicybindings,customresourcedefinitions',
      '-o',
      'json',
    ]),
  ) as { items: Array<{ kind: string; metadata: { name: string; labels?: Record<string, string> } }> };
  const ours = cluster.items.filter(
    (o) => o.metadata.labels?.['app.kubernetes.io/part-of'] === 'tp' || /^tp-|\.tp\.dev$/.test(o.metadata.name),
  );
  return [...inNs, ...ours.map((o) => `${o.kind}/${o.metadata.name}`)].sort();
}

/** The garbage collector and pod termination take a moment: wait until nothing is left, then
 * show what was still there if that never happens. */
async function expectNothingLeft(t: import('ava').ExecutionContext, within = 90_000): Promise<void> {
  let last: string[] = [];
  const clean = await eventually('nothing of tp left', within, async () => {
    last = await leftovers();
    return last.length === 0 ? true : undefined;
  }).catch(() => false);
  t.deepEqual(clean ? [] : last, [], 'what uninstall left behind');
}

async function webhookSecret(): Promise<{ ownerReferences?: Array<{ kind: string; name: string }> }> {
  return eventually('the manager to make its webhook Secret', 120_000, async () => {
    const r = await kubectl(['-n', NS, 'get', 'secret', 'tp-agent-injector-tls', '-o', 'jsonpath={.metadata}']);
    return r.code === 0 && r.stdout ? (JSON.parse(r.stdout) as { ownerReferences?: Array<{ kind: string; name: string }> }) : undefined;
  });
}

test.before(async () => {
  await clusterEnv();
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-uninst-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  // From a clean slate (another file may have left its install).
  await tp(['helm', 'uninstall']);
});

test.after.always(async () => {
  await tp?.(['quit']);
  await ws?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('#15: tp helm uninstall removes every object tp installed or the manager made, the webhook Secret included', async (t) => {
  const up = await tp(['helm', 'install'], { timeoutMs: 200_000 });
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /NOTES:/, "the chart's notes are printed");
  const secret = await webhookSecret();
  t.like(secret.ownerReferences?.[0], { kind: 'Deployment', name: 'traffic-manager' }, "the Secret is owned by the manager's Deployment");
  const c = await tp(['connect', '--socks', '127.0.0.1:1090']);
  t.is(c.code, 0, c.stderr);
  t.true(
    (await leftovers()).some((o) => o.startsWith('Secret/tp-agent-injector-tls')),
    'the listing sees the Secret while installed',
  );
  t.is((await tp(['quit'])).code, 0);

  const un = await tp(['helm', 'uninstall']);
  t.is(un.code, 0, un.stderr);
  await expectNothingLeft(t);
});

test.serial('#15: helm install and helm uninstall of the same chart leave nothing either', async (t) => {
  const { HELM, KUBECONFIG } = await clusterEnv();
  const helm = (args: string[]) => sh(HELM, [...args, '--kubeconfig', KUBECONFIG, '--namespace', NS], { timeoutMs: 240_000 });
  const up = await helm(['install', 'traffic-manager', CHART, '--create-namespace', '--wait', '--timeout', '180s']);
  t.is(up.code, 0, up.stderr);
  await webhookSecret();
  const un = await helm(['uninstall', 'traffic-manager', '--wait']);
  t.is(un.code, 0, un.stderr);
  await expectNothingLeft(t);
});

test.serial(
  '#15: tp helm install with an image the cluster cannot pull fails within seconds, naming the image and --set image.repository',
  async (t) => {
    const started = Date.now();
    const r = await tp(['helm', 'install', '--set', 'image.repository=registry.invalid/tp'], { timeoutMs: 200_000 });
    t.is(r.code, 1);
    t.regex(
      r.stderr,
      /^tp: the traffic manager's pod traffic-manager-\S+ cannot pull its image registry\.invalid\/tp:\S+ \((ErrImagePull|ImagePullBackOff)/,
    );
    t.regex(r.stderr, /--set image\.repository=REGISTRY\/tp/);
    t.true(Date.now() - started < 120_000, `reported after ${Math.round((Date.now() - started) / 1000)} s, before the 120 s timeout`);
    t.is((await tp(['helm', 'uninstall'])).code, 0);
    await expectNothingLeft(t);
  },
);
