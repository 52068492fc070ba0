import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HelmError, type HelmErrorCode } from '../../../lib/helm/errors.js';
import { getRelease, install, manifestRefs, releaseHistory, uninstall, upgrade, type Progress } from '../../../lib/helm/install.js';
import { decodeRelease, releaseFromSecret, releaseSecret, type Release } from '../../../lib/helm/release.js';
import { FakeCluster, fakeClock } from './fake-cluster.js';
import { podBlocker, type PodBlocker } from '../../../lib/helm/cluster.js';
import type { V1Pod } from '@kubernetes/client-node';

const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../../test/unit/helm/fixtures/helm-3.22-install-secret.json', import.meta.url));

function setup(extra: { notReadyPolls?: number } = {}) {
  const cluster = new FakeCluster();
  cluster.notReadyPolls = extra.notReadyPolls ?? 0;
  const clock = fakeClock();
  const events: Progress[] = [];
  const opts = { cluster, chartDir: CHART, ...clock, onProgress: (p: Progress) => events.push(p) };
  return { cluster, opts, events };
}

const records = (c: FakeCluster) =>
  [...c.secrets.values()].map((s) => ({ name: s.metadata.name, labels: s.metadata.labels, rel: releaseFromSecret(s) }));

// --- install ----------------------------------------------------------------------------------

test('install: namespace, pending record, objects in Helm order, wait, deployed record', async (t) => {
  const { cluster, opts } = setup({ notReadyPolls: 2 });
  const summary = await install(opts);
  t.is(summary.revision, 1);
  t.true(summary.namespaceCreated);
  t.deepEqual(cluster.log, [
    'create Namespace/tp-system',
    'create Secret/sh.helm.release.v1.traffic-manager.v1 pending-install',
    'apply NetworkPolicy/traffic-manager',
    'apply ServiceAccount/traffic-manager',
    'apply CustomResourceDefinition/sessions.tp.dev',
    'apply CustomResourceDefinition/engagements.tp.dev',
    'apply ClusterRole/tp-traffic-manager-tp-system',
    'apply ClusterRole/tp-client',
    'apply ClusterRole/tp-user',
    'apply ClusterRole/tp-admin',
    'apply ClusterRoleBinding/tp-traffic-manager-tp-system',
    'apply Role/traffic-manager',
    'apply RoleBinding/traffic-manager',
    'apply Service/traffic-manager',
    'apply Deployment/traffic-manager',
    'apply MutatingWebhookConfiguration/tp-agent-injector-tp-system',
    'apply ValidatingAdmissionPolicy/tp-owner-tp-system',
    'apply ValidatingAdmissionPolicyBinding/tp-owner-tp-system',
    'update Secret/sh.helm.release.v1.traffic-manager.v1 deployed',
  ]);
  const [rec] = records(cluster);
  t.is(rec!.name, 'sh.helm.release.v1.traffic-manager.v1');
  t.like(rec!.labels, { owner: 'helm', name: 'traffic-manager', status: 'deployed', version: '1' });
  t.like(rec!.rel, { name: 'traffic-manager', namespace: 'tp-system', version: 1 });
  t.like(rec!.rel.info, { status: 'deployed', description: 'Install complete', deleted: '' });
  t.is(rec!.rel.info.first_deployed, '2026-01-02T03:04:05.000Z');
  t.is(rec!.rel.chart.metadata.name, 'tp');
  t.true(rec!.rel.manifest!.startsWith('---\n# Source: tp/templates/networkpolicy.yaml\n'));
});

test('install: applied objects carry Helm\'s ownership label and annotations', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  for (const o of cluster.objects.values()) {
    t.is(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    t.like(o.metadata.annotations, { 'meta.helm.sh/release-name': 'traffic-manager', 'meta.helm.sh/release-namespace': 'tp-system' });
  }
});

test('install: the values given are recorded as config, the chart defaults as chart.values', async (t) => {
  const { opts } = setup();
  await install({ ...opts, values: { set: ['logLevel=debug'] } });
  const rel = (await getRelease(opts))!;
  t.deepEqual(rel.config, { logLevel: 'debug' });
  t.is((rel.chart.values as { logLevel: string }).logLevel, 'info');
  t.regex(rel.manifest!, /TP_LOG_LEVEL\n\s+value: "debug"/);
});

test('install over an existing release fails and points at tp helm upgrade', async (t) => {
  const { opts } = setup();
  await install(opts);
  const e = await t.throwsAsync(install(opts), { instanceOf: HelmError });
  t.is(e!.code, 'E_HELM_RELEASE_EXISTS');
  t.regex(e!.message, /release "traffic-manager" already exists in namespace "tp-system"/);
  t.regex(e!.hint!, /tp helm upgrade/);
});

test('install refuses to take over an object that belongs to no release', async (t) => {
  const { cluster, opts } = setup();
  await cluster.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'traffic-manager', namespace: 'tp-system' } });
  const e = await t.throwsAsync(install(opts), { instanceOf: HelmError });
  t.regex(e!.message, /Service "traffic-manager" in namespace "tp-system" exists and does not belong/);
  t.is(cluster.secrets.size, 0, 'nothing recorded');
});

test('install: a Deployment that never becomes available times out and the release is failed', async (t) => {
  const { cluster, opts, events } = setup({ notReadyPolls: 1000 });
  cluster.problems = ['pod traffic-manager-x container manager: ImagePullBackOff'];
  const e = await t.throwsAsync(install({ ...opts, timeoutMs: 5000 }), { instanceOf: HelmError });
  t.is(e!.code, 'E_HELM_TIMEOUT');
  t.regex(e!.message, /did not become available within 5s: pod traffic-manager-x container manager: ImagePullBackOff/);
  const [rec] = records(cluster);
  t.is(rec!.labels.status, 'failed');
  t.regex(rec!.rel.info.description!, /^Release "traffic-manager" failed: /);
  t.true(events.filter((p) => p.phase === 'wait').length >= 5, 'progress reported while waiting');
});

test('#15: an image that cannot be pulled fails the install at the next poll with the reason and the --set fix', async (t) => {
  const { cluster, opts } = setup({ notReadyPolls: 1000 });
  // The kubelet's first pull attempt fails a few seconds in: the third poll sees it.
  cluster.blockedFromPoll = 3;
  cluster.blocked = { kind: 'image', pod: 'traffic-manager-7d4b9-x2x', container: 'manager', reason: 'ErrImagePull', image: 'tp.local/tp:0.1.0', message: 'failed to pull and unpack image "tp.local/tp:0.1.0": failed to resolve reference: dial tcp: lookup tp.local: no such host' };
  const start = opts.now().getTime();
  const e = await t.throwsAsync(install({ ...opts, timeoutMs: 120_000 }), { instanceOf: HelmError });
  t.is(e!.code, 'E_HELM_IMAGE_PULL');
  t.is(e!.message, 'the traffic manager\'s pod traffic-manager-7d4b9-x2x cannot pull its image tp.local/tp:0.1.0 (ErrImagePull: failed to pull and unpack image "tp.local/tp:0.1.0": failed to resolve reference: dial tcp: lookup tp.local: no such host)');
  t.regex(e!.hint!, /`tp helm install --set image\.repository=REGISTRY\/tp --set image\.tag=TAG`/);
  t.is(cluster.polls, 3, 'no waiting past the first sighting');
  t.true(opts.now().getTime() - start <= 3000, 'within seconds, not the 120 s timeout');
  const [rec] = records(cluster);
  t.is(rec!.labels.status, 'failed', 'the release is marked failed, as on a timeout');
});

test('#15: ImagePullBackOff on upgrade, CrashLoopBackOff and an unschedulable pod: each its own sentence and fix', async (t) => {
  const cases: Array<[PodBlocker, HelmErrorCode, RegExp, RegExp]> = [
    [{ kind: 'image', pod: 'p', container: 'manager', reason: 'ImagePullBackOff', image: 'reg.example/tp:9', message: 'Back-off pulling image "reg.example/tp:9"' }, 'E_HELM_IMAGE_PULL', /cannot pull its image reg\.example\/tp:9 \(ImagePullBackOff: Back-off pulling/, /`tp helm upgrade --set image\.repository=REGISTRY\/tp/],
    [{ kind: 'crash', pod: 'p', container: 'manager', reason: 'CrashLoopBackOff', exitCode: 1 }, 'E_HELM_MANAGER_CRASH', /^the traffic manager's pod p keeps crashing \(container manager exited with code 1, CrashLoopBackOff\)$/, /kubectl -n tp-system logs p -c manager --previous/],
    [{ kind: 'unschedulable', pod: 'p', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient memory.' }, 'E_HELM_UNSCHEDULABLE', /cannot be scheduled \(Unschedulable: 0\/3 nodes are available: 3 Insufficient memory\.\)$/, /resources, nodeSelector or tolerations/],
  ];
  for (const [blocked, code, message, hint] of cases) {
    const { cluster, opts } = setup();
    await install(opts);
    cluster.notReadyPolls = 1000;
    cluster.blockedFromPoll = 0;
    cluster.blocked = blocked;
    const e = await t.throwsAsync(upgrade({ ...opts, values: { set: ['logLevel=debug'] } }), { instanceOf: HelmError });
    t.is(e!.code, code);
    t.regex(e!.message, message);
    t.regex(e!.hint!, hint);
  }
});

test('#15: podBlocker reads the kubelet\'s and the scheduler\'s words off pods; pods being deleted do not count', (t) => {
  const pod = (name: string, status: V1Pod['status'], extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
    metadata: { name, ...extra }, spec: { containers: [{ name: 'manager', image: 'tp.local/tp:0.1.0' }] }, status,
  });
  const pulling = pod('a', { containerStatuses: [{ name: 'manager', image: 'tp.local/tp:0.1.0', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off' } } }] });
  t.like(podBlocker([pulling]), { kind: 'image', pod: 'a', container: 'manager', reason: 'ImagePullBackOff', image: 'tp.local/tp:0.1.0' });
  t.is(podBlocker([{ ...pulling, metadata: { name: 'a', deletionTimestamp: new Date() } }]), undefined);
  const creating = pod('b', { containerStatuses: [{ name: 'manager', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] });
  t.is(podBlocker([creating]), undefined, 'still starting: keep waiting');
  const crash = pod('c', { containerStatuses: [{ name: 'manager', image: 'x', imageID: '', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 137 } } }] });
  t.like(podBlocker([creating, crash]), { kind: 'crash', pod: 'c', exitCode: 137 });
  const pending = pod('d', { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 node(s) had untolerated taint.' }] });
  t.like(podBlocker([pending]), { kind: 'unschedulable', pod: 'd', message: '0/1 nodes are available: 1 node(s) had untolerated taint.' });
});

test('install with wait=false returns after applying', async (t) => {
  const { cluster, opts } = setup({ notReadyPolls: 1000 });
  const s = await install({ ...opts, wait: false });
  t.is(s.status, 'deployed');
  t.is(cluster.notReadyPolls, 1000);
});

// --- upgrade ----------------------------------------------------------------------------------

test('upgrade: new revision deployed, the old one superseded', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  const s = await upgrade({ ...opts, values: { set: ['image.tag=0.2.0'] } });
  t.is(s.revision, 2);
  const byVersion = new Map(records(cluster).map((r) => [r.rel.version, r]));
  t.is(byVersion.get(1)!.labels.status, 'superseded');
  t.is(byVersion.get(2)!.labels.status, 'deployed');
  t.like(byVersion.get(2)!.rel.info, { description: 'Upgrade complete', first_deployed: byVersion.get(1)!.rel.info.first_deployed });
  t.regex(byVersion.get(2)!.rel.manifest!, /image: "tp\.local\/tp:0\.2\.0"/);
});

test('upgrade without values keeps the last release\'s; with --reuse-values merges over them', async (t) => {
  const { opts } = setup();
  await install({ ...opts, values: { set: ['logLevel=debug'] } });
  await upgrade(opts);
  t.deepEqual((await getRelease(opts))!.config, { logLevel: 'debug' });
  await upgrade({ ...opts, reuseValues: true, values: { set: ['image.tag=x'] } });
  t.deepEqual((await getRelease(opts))!.config, { logLevel: 'debug', image: { tag: 'x' } });
  await upgrade({ ...opts, values: { set: ['apiPort=9000'] } });
  t.deepEqual((await getRelease(opts))!.config, { apiPort: 9000 });
});

test('upgrade deletes objects the new revision no longer renders', async (t) => {
  const { cluster, opts } = setup();
  await install({ ...opts, values: { set: ['managedNamespaces={a,b}'] } });
  t.truthy(await cluster.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: 'a', name: 'tp-traffic-manager-tp-system' }));
  cluster.log = [];
  await upgrade({ ...opts, values: { set: ['managedNamespaces={b}'] } });
  t.true(cluster.log.includes('delete Role/tp-traffic-manager-tp-system'));
  t.falsy(await cluster.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: 'a', name: 'tp-traffic-manager-tp-system' }));
  t.truthy(await cluster.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: 'b', name: 'tp-traffic-manager-tp-system' }));
});

test('upgrade refuses to adopt a new object that someone else owns', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role',
    metadata: { name: 'tp-traffic-manager-tp-system', namespace: 'a', annotations: { 'meta.helm.sh/release-name': 'other' } } });
  const e = await t.throwsAsync(upgrade({ ...opts, values: { set: ['managedNamespaces={a}'] } }), { instanceOf: HelmError });
  t.regex(e!.message, /Role "tp-traffic-manager-tp-system" in namespace "a" exists and does not belong/);
});

test('upgrade keeps at most 10 revisions, like helm upgrade\'s --history-max', async (t) => {
  const { opts } = setup();
  await install(opts);
  for (let i = 0; i < 11; i++) await upgrade(opts);
  const h = await releaseHistory(opts);
  t.deepEqual(h.map((x) => x.release.version), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

test('upgrade without a release fails and points at tp helm install; --install installs', async (t) => {
  const { opts } = setup();
  const e = await t.throwsAsync(upgrade(opts), { instanceOf: HelmError });
  t.is(e!.code, 'E_HELM_NO_RELEASE');
  t.regex(e!.hint!, /tp helm install/);
  t.is((await upgrade({ ...opts, install: true })).revision, 1);
});

test('upgrade fixes a failed install (Helm allows upgrading from a failed last revision)', async (t) => {
  const { cluster, opts } = setup({ notReadyPolls: 1000 });
  const failed = await t.throwsAsync(install({ ...opts, timeoutMs: 2000 }), { instanceOf: HelmError });
  t.is(failed!.code, 'E_HELM_TIMEOUT');
  cluster.notReadyPolls = 0;
  const s = await upgrade({ ...opts, values: { set: ['image.tag=fixed'] } });
  t.is(s.revision, 2);
  const byVersion = new Map(records(cluster).map((r) => [r.rel.version, r.labels.status]));
  t.deepEqual([...byVersion.entries()].sort(), [[1, 'failed'], [2, 'deployed']]);
});

test('upgrade while a revision is pending fails: another operation holds the release', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  const secret = [...cluster.secrets.values()][0]!;
  secret.metadata.labels.status = 'pending-upgrade';
  const rel = releaseFromSecret(secret);
  await cluster.replaceSecret(releaseSecret({ ...rel, info: { ...rel.info, status: 'pending-upgrade' } }));
  const e = await t.throwsAsync(upgrade(opts), { instanceOf: HelmError });
  t.regex(e!.message, /is pending-upgrade \(revision 1\): another operation is in progress/);
});

// --- uninstall --------------------------------------------------------------------------------

test('uninstall deletes objects in reverse install order, then every revision record', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  await upgrade(opts);
  cluster.log = [];
  const s = await uninstall(opts);
  t.deepEqual(cluster.log, [
    'update Secret/sh.helm.release.v1.traffic-manager.v2 uninstalling',
    'delete ValidatingAdmissionPolicyBinding/tp-owner-tp-system',
    'delete ValidatingAdmissionPolicy/tp-owner-tp-system',
    'delete MutatingWebhookConfiguration/tp-agent-injector-tp-system',
    'delete Deployment/traffic-manager',
    'delete Service/traffic-manager',
    'delete RoleBinding/traffic-manager',
    'delete Role/traffic-manager',
    'delete ClusterRoleBinding/tp-traffic-manager-tp-system',
    'delete ClusterRole/tp-admin',
    'delete ClusterRole/tp-user',
    'delete ClusterRole/tp-client',
    'delete ClusterRole/tp-traffic-manager-tp-system',
    'delete CustomResourceDefinition/engagements.tp.dev',
    'delete CustomResourceDefinition/sessions.tp.dev',
    'delete ServiceAccount/traffic-manager',
    'delete NetworkPolicy/traffic-manager',
    'delete Secret/sh.helm.release.v1.traffic-manager.v1',
    'delete Secret/sh.helm.release.v1.traffic-manager.v2',
  ]);
  t.is(s.deleted.length, 16);
  t.is(cluster.objects.size, 0);
  t.true(cluster.namespaces.has('tp-system'), 'the namespace stays, as with helm uninstall');
  const e = await t.throwsAsync(uninstall(opts), { instanceOf: HelmError });
  t.is(e!.code, 'E_HELM_NO_RELEASE');
});

test('uninstall --keep-history leaves the record marked uninstalled; install then takes the next revision', async (t) => {
  const { cluster, opts } = setup();
  await install(opts);
  await uninstall({ ...opts, keepHistory: true });
  const [rec] = records(cluster);
  t.like(rec!.rel.info, { status: 'uninstalled', description: 'Uninstallation complete' });
  t.not(rec!.rel.info.deleted, '');
  t.is((await install(opts)).revision, 2);
});

test('manifestRefs reads a stored manifest back into objects, namespaced ones defaulted', (t) => {
  const refs = manifestRefs('---\n# Source: x\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n'
    + '---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n  namespace: other\n'
    + '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr\n', 'ns');
  t.deepEqual(refs, [
    { apiVersion: 'v1', kind: 'ServiceAccount', name: 'sa', namespace: 'other' },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'cr' },
    { apiVersion: 'v1', kind: 'Service', name: 's', namespace: 'ns' },
  ]);
});

// --- the record against one Helm 3.22 wrote ---------------------------------------------------

/** Key paths in order, with JSON types: the shape Helm's Go structs give the record. */
function shape(v: unknown, path = ''): string[] {
  if (v === null) return [`${path}:null`];
  if (Array.isArray(v)) return v.length ? shape(v[0], `${path}[]`) : [`${path}:[]`];
  if (typeof v === 'object') {
    // Values maps are free-form; only their presence is part of the shape.
    if (/\.(values|config)$/.test(path) || path === '.config') return [`${path}:map`];
    return Object.entries(v as object).flatMap(([k, x]) => shape(x, `${path}.${k}`));
  }
  return [`${path}:${typeof v}`];
}

test('the release record has the shape, labels and type of one Helm 3.22 wrote for this chart', async (t) => {
  // fixtures/helm-3.22-install-secret.json: Helm's install action (helm-record/main.go) installing
  // this chart with logLevel=debug into a fake cluster.
  const helmSecret = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { type: string; metadata: { name: string; labels: Record<string, string> }; data: { release: string } };
  const theirs = releaseFromSecret(helmSecret);

  const { cluster, opts } = setup();
  await install({ ...opts, values: { set: ['logLevel=debug'] } });
  const ours = [...cluster.secrets.values()][0]!;
  const rel = releaseFromSecret(ours);

  t.is(ours.type, helmSecret.type);
  t.is(ours.metadata.name, helmSecret.metadata.name);
  t.deepEqual(Object.keys(ours.metadata.labels).sort(), Object.keys(helmSecret.metadata.labels).sort());
  t.deepEqual(shape(rel), shape(theirs));
  const mask = (r: Release) => ({ ...r, info: { ...r.info, first_deployed: 'T', last_deployed: 'T' } });
  t.deepEqual(mask(rel).info, mask(theirs).info);
  t.deepEqual(rel.config, theirs.config);
  t.deepEqual(rel.chart.metadata, theirs.chart.metadata);
});

test('decodeRelease reads Helm\'s payload and rejects garbage with a record error', (t) => {
  const helmSecret = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { data: { release: string } };
  const rel = decodeRelease(Buffer.from(helmSecret.data.release, 'base64').toString());
  t.is(rel.name, 'traffic-manager');
  t.throws(() => decodeRelease('not base64 json'), { instanceOf: HelmError, message: /cannot decode a Helm release record/ });
});
