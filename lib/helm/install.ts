// `tp helm install | upgrade | uninstall`: Helm 3's release life cycle for the embedded chart,
// without a helm binary. Each step writes the same release record Helm would, in the same order
// (pending-* first, then deployed / failed), so a real `helm` can take over at any point.

import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { loadChart, renderChart, splitDocuments, type Chart, type KubeObject } from './chart.js';
import { kubeCluster, type Cluster, type ObjRef, type PodBlocker } from './cluster.js';
import { HelmError } from './errors.js';
import { CLUSTER_SCOPED, sortByInstallOrder } from './kinds.js';
import {
  buildRelease, releaseFromSecret, releaseSecret, releaseSecretName, setStatus, type Release, type ReleaseStatus,
} from './release.js';
import { isMap } from './template/gofmt.js';
import { coalesce, mergeMaps, parseYaml, userValues, type ValueOptions, type Values } from './values.js';

export const DEFAULT_RELEASE = 'traffic-manager';
export const DEFAULT_NAMESPACE = 'tp-system';
/** Helm's default for `--history-max` on upgrade. */
const HISTORY_MAX = 10;

/** The chart shipped in the npm package: <pkg>/helm, next to <pkg>/dist. */
export function defaultChartDir(): string {
  return fileURLToPath(new URL('../../../helm/', import.meta.url));
}

export type Progress =
  | { phase: 'render'; message: string }
  | { phase: 'namespace'; message: string }
  | { phase: 'apply'; message: string; done: number; total: number }
  | { phase: 'delete'; message: string; done: number; total: number }
  | { phase: 'wait'; message: string; elapsedMs: number }
  | { phase: 'record'; message: string };

export interface CommonOptions {
  releaseName?: string;
  namespace?: string;
  /** Defaults to the kubeconfig's current context (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeConfig?: KubeConfig;
  /** Injected in tests; built from kubeConfig otherwise. */
  cluster?: Cluster;
  onProgress?: (p: Progress) => void;
  /** Injected clock for tests. */
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface InstallOptions extends CommonOptions {
  chartDir?: string;
  values?: ValueOptions;
  /** Create the release namespace when missing (default true, like `--create-namespace`). */
  createNamespace?: boolean;
  /** Wait for the traffic-manager Deployment to become Available (default true). */
  wait?: boolean;
  timeoutMs?: number;
  kubeVersion?: string;
}

export interface UpgradeOptions extends InstallOptions {
  /** Merge the given values over the last release's (Helm's --reuse-values). */
  reuseValues?: boolean;
  /** Start from the chart defaults even when no values are given (Helm's --reset-values). */
  resetValues?: boolean;
  /** Install when there is no release yet (Helm's upgrade --install). */
  install?: boolean;
}

export interface UninstallOptions extends CommonOptions {
  /** Keep the release records, marked uninstalled (Helm's --keep-history). */
  keepHistory?: boolean;
}

export interface ReleaseSummary {
  name: string;
  namespace: string;
  revision: number;
  status: ReleaseStatus;
  chart: string;
  appVersion: string;
  /** kind/name of every object, in install order. */
  resources: string[];
  namespaceCreated: boolean;
  /** The chart's NOTES.txt, rendered (Helm prints it after install and upgrade). */
  notes: string;
}

interface Ctx {
  name: string;
  namespace: string;
  cluster: Cluster;
  progress: (p: Progress) => void;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

function context(o: CommonOptions): Ctx {
  return {
    name: o.releaseName ?? DEFAULT_RELEASE,
    namespace: o.namespace ?? DEFAULT_NAMESPACE,
    cluster: o.cluster ?? kubeCluster(o.kubeConfig ?? defaultKubeConfig()),
    progress: o.onProgress ?? (() => {}),
    now: o.now ?? (() => new Date()),
    sleep: o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

// --- release history --------------------------------------------------------------------------

export interface StoredRelease { release: Release; secretName: string }

/** Every revision of the release, oldest first (Helm's `helm history`). */
export async function releaseHistory(o: CommonOptions): Promise<StoredRelease[]> {
  const c = context(o);
  return history(c);
}

async function history(c: Ctx): Promise<StoredRelease[]> {
  const secrets = await c.cluster.listSecrets(c.namespace, `owner=helm,name=${c.name}`);
  return secrets
    .map((s) => ({ release: releaseFromSecret(s), secretName: s.metadata.name }))
    .sort((a, b) => a.release.version - b.release.version);
}

/** The latest revision, or null when there is no release of that name. */
export async function getRelease(o: CommonOptions): Promise<Release | null> {
  const h = await releaseHistory(o);
  return h.length ? h[h.length - 1]!.release : null;
}

/** Create a revision's Secret, or replace it (as Helm's driver does: create vs update). */
async function writeRecord(c: Ctx, rel: Release, create: boolean): Promise<void> {
  const now = c.now();
  if (create) await c.cluster.createSecret(releaseSecret(rel, { created: now }));
  else await c.cluster.replaceSecret(releaseSecret(rel, { modified: now }));
}

// --- install ----------------------------------------------------------------------------------

export async function install(o: InstallOptions = {}): Promise<ReleaseSummary> {
  const c = context(o);
  const past = await history(c);
  const live = past.filter((h) => h.release.info.status !== 'uninstalled');
  if (live.length) {
    const last = live[live.length - 1]!.release;
    throw new HelmError('E_HELM_RELEASE_EXISTS',
      `release "${c.name}" already exists in namespace "${c.namespace}" (revision ${last.version}, ${last.info.status})`,
      { hint: 'change its values or chart version with `tp helm upgrade`, or remove it with `tp helm uninstall`' });
  }
  const chart = loadChart(o.chartDir ?? defaultChartDir());
  const config = userValues(o.values ?? {});
  const version = past.length ? past[past.length - 1]!.release.version + 1 : 1;
  return deploy(c, o, chart, config, version, null);
}

// --- upgrade ----------------------------------------------------------------------------------

export async function upgrade(o: UpgradeOptions = {}): Promise<ReleaseSummary> {
  const c = context(o);
  const past = await history(c);
  const last = past[past.length - 1]?.release;
  if (!last || last.info.status === 'uninstalled') {
    if (o.install) return install(o);
    throw new HelmError('E_HELM_NO_RELEASE', `release "${c.name}" is not installed in namespace "${c.namespace}"`,
      { hint: 'install it with `tp helm install`' });
  }
  // Helm's rule: a pending revision means another operation holds the release; otherwise upgrade
  // from the deployed revision, or from a failed/superseded last one when none is deployed (so a
  // failed install can be fixed with an upgrade).
  if (last.info.status?.startsWith('pending')) {
    throw new HelmError('E_HELM_NO_RELEASE',
      `release "${c.name}" in namespace "${c.namespace}" is ${last.info.status} (revision ${last.version}): another operation is in progress`,
      { hint: 'wait for it; if it was interrupted, `tp helm uninstall` and install again' });
  }
  const deployed = past.filter((h) => h.release.info.status === 'deployed');
  const current = deployed[deployed.length - 1] ?? past[past.length - 1]!;
  if (current.release.info.status !== 'deployed' && !['failed', 'superseded'].includes(current.release.info.status ?? '')) {
    throw new HelmError('E_HELM_NO_RELEASE', `release "${c.name}" has no deployed revision (last is ${last.version}, ${last.info.status})`,
      { hint: '`tp helm uninstall` it and run `tp helm install`' });
  }
  const chart = loadChart(o.chartDir ?? defaultChartDir());
  const given = userValues(o.values ?? {});
  const old = current.release.config ?? {};
  // Helm 3: no values given → keep the last release's; --reuse-values → merge over them.
  const noneGiven = Object.keys(given).length === 0;
  const config = o.resetValues ? given
    : o.reuseValues ? mergeMaps(old, given)
    : noneGiven ? old : given;
  return deploy(c, o, chart, config, last.version + 1, current);
}

// --- the shared apply path --------------------------------------------------------------------

async function deploy(c: Ctx, o: InstallOptions, chart: Chart, config: Values, version: number,
  previous: StoredRelease | null): Promise<ReleaseSummary> {
  const isUpgrade = previous !== null;
  c.progress({ phase: 'render', message: `rendering chart ${chart.metadata.name} ${chart.metadata.version}` });
  const rendered = renderChart(chart, {
    releaseName: c.name, namespace: c.namespace, values: config, isUpgrade, revision: version,
    ...(o.kubeVersion ? { kubeVersion: o.kubeVersion } : {}),
  });
  const objects = rendered.manifests.map((m) => owned(m.object, c));

  let namespaceCreated = false;
  if (o.createNamespace ?? true) {
    namespaceCreated = await c.cluster.ensureNamespace(c.namespace);
    if (namespaceCreated) c.progress({ phase: 'namespace', message: `created namespace ${c.namespace}` });
  }

  // Helm refuses to take over objects another release (or no release) owns; so do we. On upgrade
  // only objects new to this revision are checked: the others are the release's already.
  const known = new Set(previous ? manifestRefs(previous.release.manifest ?? '', c.namespace).map(key) : []);
  for (const obj of objects) if (!known.has(key(ref(obj)))) await checkOwnership(c, obj);

  const now = c.now();
  const first = previous ? new Date(previous.release.info.first_deployed ?? now.toISOString()) : now;
  let rel = buildRelease({
    chart, name: c.name, namespace: c.namespace, version, config, manifest: rendered.manifest, notes: rendered.notes,
    status: isUpgrade ? 'pending-upgrade' : 'pending-install',
    description: isUpgrade ? 'Preparing upgrade' : 'Initial install underway',
    firstDeployed: first, lastDeployed: now,
  });
  await writeRecord(c, rel, true);
  c.progress({ phase: 'record', message: `recorded release ${c.name} revision ${version} (${rel.info.status})` });

  try {
    let done = 0;
    for (const obj of objects) {
      c.progress({ phase: 'apply', message: `applying ${obj.kind} ${obj.metadata.name}`, done, total: objects.length });
      await c.cluster.apply(obj);
      done++;
    }
    c.progress({ phase: 'apply', message: `applied ${done} objects`, done, total: objects.length });
    if (previous) await deleteStale(c, previous.release, objects);
    if (o.wait ?? true) await waitForManager(c, objects, o.timeoutMs ?? 120_000, isUpgrade);
  } catch (e) {
    const msg = `Release "${c.name}" failed: ${(e as Error).message}`;
    rel = setStatus(rel, 'failed', msg, c.now());
    await writeRecord(c, rel, false).catch(() => {});
    throw e;
  }

  if (previous) {
    for (const h of await history(c)) {
      if (h.release.version !== version && h.release.info.status === 'deployed') {
        await writeRecord(c, setStatus(h.release, 'superseded', h.release.info.description ?? ''), false);
      }
    }
  }
  rel = setStatus(rel, 'deployed', isUpgrade ? 'Upgrade complete' : 'Install complete');
  await writeRecord(c, rel, false);
  if (previous) await pruneHistory(c);
  c.progress({ phase: 'record', message: `release ${c.name} revision ${version} deployed` });

  return {
    name: c.name, namespace: c.namespace, revision: version, status: 'deployed',
    chart: `${chart.metadata.name}-${chart.metadata.version}`,
    appVersion: String(chart.metadata.appVersion ?? ''),
    resources: objects.map((x) => `${x.kind}/${x.metadata.name}`),
    namespaceCreated,
    notes: rendered.notes,
  };
}

/**
 * What Helm adds to each object it installs (and checks before adopting one): the managed-by label
 * and the release annotations. Namespaced objects without a namespace get the release's.
 */
function owned(obj: KubeObject, c: Ctx): KubeObject {
  const metadata = { ...obj.metadata };
  if (!metadata.namespace && !CLUSTER_SCOPED.has(obj.kind)) metadata.namespace = c.namespace;
  metadata.labels = { ...(metadata.labels ?? {}), 'app.kubernetes.io/managed-by': 'Helm' };
  metadata.annotations = {
    ...(metadata.annotations ?? {}),
    'meta.helm.sh/release-name': c.name,
    'meta.helm.sh/release-namespace': c.namespace,
  };
  return { ...obj, metadata };
}

async function checkOwnership(c: Ctx, obj: KubeObject): Promise<void> {
  const cur = await c.cluster.read(ref(obj));
  if (!cur) return;
  const a = cur.metadata.annotations ?? {};
  if (a['meta.helm.sh/release-name'] === c.name && a['meta.helm.sh/release-namespace'] === c.namespace) return;
  const where = obj.metadata.namespace ? ` in namespace "${obj.metadata.namespace}"` : '';
  throw new HelmError('E_HELM_RELEASE_EXISTS',
    `${obj.kind} "${obj.metadata.name}"${where} exists and does not belong to release "${c.name}" in "${c.namespace}"`,
    { hint: 'another traffic manager or an old install owns it: remove it, or install into another namespace with `tp helm install --manager-namespace NAMESPACE`' });
}

/** Objects of the previous revision that the new one no longer renders are deleted, as Helm does. */
async function deleteStale(c: Ctx, previous: Release, current: KubeObject[]): Promise<void> {
  const keep = new Set(current.map((o) => key(ref(o))));
  const stale = manifestRefs(previous.manifest ?? '', c.namespace).filter((r) => !keep.has(key(r)));
  let done = 0;
  for (const r of stale.reverse()) {
    c.progress({ phase: 'delete', message: `deleting ${r.kind} ${r.name}`, done, total: stale.length });
    await c.cluster.delete(r);
    done++;
  }
}

/**
 * A manager pod that waiting cannot help, as one sentence with the fix (issue #15). The usual
 * one on a cluster that is not tp's own: the default image tp.local/tp exists nowhere else.
 */
export function blockedError(b: PodBlocker, ns: string, upgrading: boolean): HelmError {
  const why = `${b.reason}${b.message ? `: ${b.message.split('\n')[0]!.slice(0, 300)}` : ''}`;
  if (b.kind === 'image') {
    return new HelmError('E_HELM_IMAGE_PULL', `the traffic manager's pod ${b.pod} cannot pull its image${b.image ? ` ${b.image}` : ''} (${why})`, {
      hint: upgrading
        ? 'build tp\'s image from its Dockerfile, push it to a registry this cluster pulls from, and run `tp helm upgrade --set image.repository=REGISTRY/tp --set image.tag=TAG` (README: "Use tp with your own cluster")'
        : 'build tp\'s image from its Dockerfile, push it to a registry this cluster pulls from, and run `tp helm install --set image.repository=REGISTRY/tp --set image.tag=TAG` (README: "Use tp with your own cluster")',
    });
  }
  if (b.kind === 'crash') {
    return new HelmError('E_HELM_MANAGER_CRASH', `the traffic manager's pod ${b.pod} keeps crashing (container ${b.container ?? 'manager'}${b.exitCode !== undefined ? ` exited with code ${b.exitCode}` : ''}, ${b.reason})`, {
      hint: `its log says why: kubectl -n ${ns} logs ${b.pod} -c ${b.container ?? 'manager'} --previous`,
    });
  }
  return new HelmError('E_HELM_UNSCHEDULABLE', `the traffic manager's pod ${b.pod} cannot be scheduled (${why})`, {
    hint: `make room on a node, or change the chart's resources, nodeSelector or tolerations (--set); kubectl -n ${ns} describe pod ${b.pod} shows the scheduler's events`,
  });
}

async function waitForManager(c: Ctx, objects: KubeObject[], timeoutMs: number, upgrading = false): Promise<void> {
  const deps = objects.filter((o) => o.kind === 'Deployment');
  const start = c.now().getTime();
  for (const d of deps) {
    const ns = d.metadata.namespace ?? c.namespace;
    for (;;) {
      const st = await c.cluster.deploymentState(ns, d.metadata.name);
      const elapsedMs = c.now().getTime() - start;
      c.progress({ phase: 'wait', message: `deployment ${d.metadata.name}: ${st.summary}`, elapsedMs });
      if (st.ready) break;
      if (st.blocked) throw blockedError(st.blocked, ns, upgrading);
      if (elapsedMs >= timeoutMs) {
        const why = st.problems.length ? `: ${[...new Set(st.problems)].join('; ')}` : ` (${st.summary})`;
        throw new HelmError('E_HELM_TIMEOUT',
          `deployment ${ns}/${d.metadata.name} did not become available within ${Math.round(timeoutMs / 1000)}s${why}`,
          { hint: `look at \`kubectl -n ${ns} describe deployment ${d.metadata.name}\` and its pods; rerun with \`tp helm upgrade\` once fixed` });
      }
      await c.sleep(1000);
    }
  }
}

async function pruneHistory(c: Ctx): Promise<void> {
  const h = await history(c);
  // Helm keeps the newest HISTORY_MAX revisions and never drops the deployed one.
  const excess = h.slice(0, Math.max(0, h.length - HISTORY_MAX)).filter((x) => x.release.info.status !== 'deployed');
  for (const x of excess) await c.cluster.deleteSecret(c.namespace, x.secretName);
}

// --- uninstall --------------------------------------------------------------------------------

export interface UninstallSummary {
  name: string;
  namespace: string;
  revision: number;
  deleted: string[];
  alreadyGone: string[];
}

export async function uninstall(o: UninstallOptions = {}): Promise<UninstallSummary> {
  const c = context(o);
  const past = await history(c);
  const last = past[past.length - 1];
  if (!last || last.release.info.status === 'uninstalled') {
    throw new HelmError('E_HELM_NO_RELEASE', `release "${c.name}" is not installed in namespace "${c.namespace}"`,
      { hint: 'name its namespace with `tp helm uninstall --manager-namespace NAMESPACE`; `tp helm install` installs it' });
  }
  let rel = setStatus(last.release, 'uninstalling', 'Deletion in progress (or silently failed)');
  await writeRecord(c, rel, false);

  const refs = manifestRefs(rel.manifest ?? '', c.namespace).reverse();
  const deleted: string[] = [];
  const alreadyGone: string[] = [];
  let done = 0;
  for (const r of refs) {
    c.progress({ phase: 'delete', message: `deleting ${r.kind} ${r.name}`, done, total: refs.length });
    ((await c.cluster.delete(r)) ? deleted : alreadyGone).push(`${r.kind}/${r.name}`);
    done++;
  }

  if (o.keepHistory) {
    rel = setStatus(rel, 'uninstalled', 'Uninstallation complete');
    rel = { ...rel, info: { ...rel.info, deleted: c.now().toISOString() } };
    await writeRecord(c, rel, false);
    for (const h of past) {
      if (h.release.version !== rel.version && h.release.info.status === 'deployed') {
        await writeRecord(c, setStatus(h.release, 'superseded', h.release.info.description ?? ''), false);
      }
    }
  } else {
    for (const h of past) await c.cluster.deleteSecret(c.namespace, releaseSecretName(c.name, h.release.version));
  }
  c.progress({ phase: 'record', message: `release ${c.name} uninstalled` });
  return { name: c.name, namespace: c.namespace, revision: rel.version, deleted, alreadyGone };
}

// --- helpers ----------------------------------------------------------------------------------

function ref(o: KubeObject): ObjRef {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) };
}

const key = (r: ObjRef) => `${r.apiVersion}|${r.kind}|${r.namespace ?? ''}|${r.name}`;

/** The objects a stored manifest names, in install order (manifests written by Helm included). */
export function manifestRefs(manifest: string, namespace: string): ObjRef[] {
  const refs: ObjRef[] = [];
  for (const doc of splitDocuments(manifest)) {
    const o = parseYaml(doc);
    if (!isMap(o) || typeof o.kind !== 'string' || typeof o.apiVersion !== 'string' || !isMap(o.metadata)) continue;
    const name = o.metadata.name;
    if (typeof name !== 'string') continue;
    const ns = typeof o.metadata.namespace === 'string' ? o.metadata.namespace
      : CLUSTER_SCOPED.has(o.kind) ? undefined : namespace;
    refs.push({ apiVersion: o.apiVersion, kind: o.kind, name, ...(ns ? { namespace: ns } : {}) });
  }
  return sortByInstallOrder(refs, (r) => r.kind);
}

/** Values a release would render with, for `tp helm install --dry-run`-like previews. */
export function effectiveValues(chartDir: string, opts: ValueOptions): Values {
  return coalesce(userValues(opts), loadChart(chartDir).values);
}
