// The few cluster operations the installer needs, behind one interface: the real one talks to
// the API server through @kubernetes/client-node; unit tests use an in-memory one.

import * as k8s from '@kubernetes/client-node';
import type { KubeObject } from './chart.js';
import { HelmError } from './errors.js';
import type { SecretObject } from './release.js';

export interface ObjRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface StoredSecret {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface DeploymentState {
  /** Rolled out: the new ReplicaSet is the current one and the Available condition is True. */
  ready: boolean;
  /** One line for progress output. */
  summary: string;
  /** Why it is not ready, when something can say (pod waiting reasons, condition messages). */
  problems: string[];
  /** A pod of the current rollout that will not become ready by waiting (issue #15): the wait
   * stops at once and says why, instead of running out its timeout. */
  blocked?: PodBlocker;
}

/** Why a pod cannot start, in the kubelet's and the scheduler's words. */
export interface PodBlocker {
  kind: 'image' | 'crash' | 'unschedulable';
  pod: string;
  container?: string;
  /** ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull, CrashLoopBackOff, Unschedulable. */
  reason: string;
  message?: string;
  image?: string;
  exitCode?: number;
}

const IMAGE_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/**
 * The first pod that will not start without a change: an image that cannot be pulled, a
 * container in CrashLoopBackOff, a pod the scheduler cannot place. Pods being deleted (an old
 * rollout going away) do not count.
 */
export function podBlocker(pods: k8s.V1Pod[]): PodBlocker | undefined {
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp) continue;
    const pod = p.metadata?.name ?? '?';
    const images = new Map([...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => [c.name, c.image]));
    for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = cs.state?.waiting;
      if (!w?.reason) continue;
      const image = images.get(cs.name) ?? cs.image;
      const base = { pod, container: cs.name, reason: w.reason, ...(w.message ? { message: w.message } : {}), ...(image ? { image } : {}) };
      if (IMAGE_REASONS.has(w.reason)) return { kind: 'image', ...base };
      if (w.reason === 'CrashLoopBackOff') {
        const code = cs.lastState?.terminated?.exitCode;
        return { kind: 'crash', ...base, ...(code !== undefined ? { exitCode: code } : {}) };
      }
    }
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (sched?.reason === 'Unschedulable') return { kind: 'unschedulable', pod, reason: 'Unschedulable', ...(sched.message ? { message: sched.message } : {}) };
  }
  return undefined;
}

export interface Cluster {
  /** Create or update an object as field manager `tp` (server-side apply, forced). */
  apply(obj: KubeObject): Promise<void>;
  read(ref: ObjRef): Promise<KubeObject | null>;
  /** false when the object was already gone. */
  delete(ref: ObjRef): Promise<boolean>;
  /** true when it had to be created. */
  ensureNamespace(name: string): Promise<boolean>;
  listSecrets(namespace: string, labelSelector: string): Promise<StoredSecret[]>;
  createSecret(secret: SecretObject): Promise<void>;
  replaceSecret(secret: SecretObject): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  deploymentState(namespace: string, name: string): Promise<DeploymentState>;
}

export const FIELD_MANAGER = 'tp';

const isNotFound = (e: unknown) => (e as { code?: number })?.code === 404;
const isConflict = (e: unknown) => (e as { code?: number })?.code === 409;

function apiError(what: string, e: unknown): HelmError {
  const code = (e as { code?: number })?.code;
  const body = (e as { body?: unknown })?.body;
  let reason = (e as Error)?.message ?? String(e);
  if (typeof body === 'string') {
    try { reason = (JSON.parse(body) as { message?: string }).message ?? reason; } catch { /* keep */ }
  } else if (body && typeof body === 'object' && 'message' in body) {
    reason = String((body as { message: unknown }).message);
  }
  const missingNs = code === 404 ? /namespaces "([^"]+)" not found/.exec(reason)?.[1] : undefined;
  const hint = code === 403 ? 'your kubeconfig user lacks the rights to install the traffic manager; ask a cluster admin'
    : missingNs ? `namespace "${missingNs}" does not exist: create it (kubectl create namespace ${missingNs}), or drop it from managedNamespaces if it is listed there`
    : undefined;
  return new HelmError('E_HELM_CLUSTER', `${what} failed${code ? ` (HTTP ${code})` : ''}: ${reason}`,
    hint ? { cause: e, hint } : { cause: e });
}

export function kubeCluster(kc: k8s.KubeConfig): Cluster {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const header = (r: ObjRef) => ({ apiVersion: r.apiVersion, kind: r.kind,
    metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) } });
  const describe = (r: ObjRef) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

  return {
    async apply(obj) {
      try {
        await objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
      } catch (e) {
        throw apiError(`applying ${describe({ ...obj, ...obj.metadata })}`, e);
      }
    },
    async read(ref) {
      try {
        return (await objects.read(header(ref))) as unknown as KubeObject;
      } catch (e) {
        if (isNotFound(e)) return null;
        throw apiError(`reading ${describe(ref)}`, e);
      }
    },
    async delete(ref) {
      try {
        await objects.delete(header(ref), undefined, undefined, undefined, undefined, 'Background');
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw apiError(`deleting ${describe(ref)}`, e);
      }
    },
    async ensureNamespace(name) {
      try {
        await core.readNamespace({ name });
        return false;
      } catch (e) {
        if (!isNotFound(e)) throw apiError(`reading namespace ${name}`, e);
      }
      try {
        await core.createNamespace({ body: { metadata: { name } }, fieldManager: FIELD_MANAGER });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw apiError(`creating namespace ${name}`, e);
      }
    },
    async listSecrets(namespace, labelSelector) {
      try {
        const list = await core.listNamespacedSecret({ namespace, labelSelector });
        return list.items.map((s) => ({
          metadata: { name: s.metadata!.name!, labels: s.metadata?.labels ?? {}, resourceVersion: s.metadata?.resourceVersion },
          data: s.data ?? {},
        }));
      } catch (e) {
        if (isNotFound(e)) return [];
        throw apiError(`listing Helm release records in ${namespace}`, e);
      }
    },
    async createSecret(secret) {
      try {
        await core.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret, fieldManager: FIELD_MANAGER });
      } catch (e) {
        if (isConflict(e)) {
          throw new HelmError('E_HELM_RELEASE_EXISTS', `release record ${secret.metadata.name} already exists`, {
            cause: e, hint: 'another install or upgrade is running, or ran at the same time; try again',
          });
        }
        throw apiError(`writing release record ${secret.metadata.name}`, e);
      }
    },
    async replaceSecret(secret) {
      try {
        await core.replaceNamespacedSecret({ name: secret.metadata.name, namespace: secret.metadata.namespace,
          body: secret, fieldManager: FIELD_MANAGER });
      } catch (e) {
        throw apiError(`updating release record ${secret.metadata.name}`, e);
      }
    },
    async deleteSecret(namespace, name) {
      try {
        await core.deleteNamespacedSecret({ name, namespace });
      } catch (e) {
        if (!isNotFound(e)) throw apiError(`deleting release record ${name}`, e);
      }
    },
    async deploymentState(namespace, name) {
      let d: k8s.V1Deployment;
      try {
        d = await apps.readNamespacedDeployment({ name, namespace });
      } catch (e) {
        if (isNotFound(e)) return { ready: false, summary: `deployment ${name} not found yet`, problems: [] };
        throw apiError(`reading deployment ${namespace}/${name}`, e);
      }
      const state = deploymentReadiness(d);
      if (!state.ready) {
        // Pod-level reasons are what users can act on (ImagePullBackOff, CrashLoopBackOff, …).
        try {
          const sel = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
          const pods = await core.listNamespacedPod({ namespace, labelSelector: sel });
          // Only the current rollout's pods: a crashing pod of the revision being replaced is no
          // reason to give up on the new one.
          const hash = await currentTemplateHash(apps, d, sel).catch(() => undefined);
          const current = hash ? pods.items.filter((p) => p.metadata?.labels?.['pod-template-hash'] === hash) : pods.items;
          state.problems.push(...podProblems(current));
          const blocked = podBlocker(current);
          if (blocked) state.blocked = blocked;
        } catch { /* the summary is still useful without pod details */ }
      }
      return state;
    },
  };
}

/** The pod-template-hash of the Deployment's newest ReplicaSet (the one with its revision). */
async function currentTemplateHash(apps: k8s.AppsV1Api, d: k8s.V1Deployment, selector: string): Promise<string | undefined> {
  const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
  if (!revision) return undefined;
  const sets = await apps.listNamespacedReplicaSet({ namespace: d.metadata!.namespace!, labelSelector: selector });
  const rs = sets.items.find((r) => r.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision
    && r.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid));
  return rs?.metadata?.labels?.['pod-template-hash'];
}

/** kubectl rollout status's rule: observed, all replicas updated and available. */
export function deploymentReadiness(d: k8s.V1Deployment): DeploymentState {
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  const cond = (t: string) => st.conditions?.find((c) => c.type === t);
  const available = cond('Available')?.status === 'True';
  const observed = (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  const updated = st.updatedReplicas ?? 0;
  const avail = st.availableReplicas ?? 0;
  const old = (st.replicas ?? 0) - updated;
  const ready = observed && available && updated >= want && avail >= want && old <= 0;
  const problems: string[] = [];
  const progressing = cond('Progressing');
  if (progressing?.status === 'False' && progressing.message) problems.push(progressing.message);
  if (cond('ReplicaFailure')?.message) problems.push(cond('ReplicaFailure')!.message!);
  return {
    ready,
    summary: `${updated}/${want} updated, ${avail}/${want} available${old > 0 ? `, ${old} old replica(s) terminating` : ''}`,
    problems,
  };
}

function podProblems(pods: k8s.V1Pod[]): string[] {
  const out: string[] = [];
  for (const p of pods) {
    const name = p.metadata?.name ?? '?';
    for (const c of p.status?.conditions ?? []) {
      if (c.type === 'PodScheduled' && c.status === 'False' && c.message) out.push(`pod ${name}: ${c.message}`);
    }
    for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const w = cs.state?.waiting;
      if (w?.reason && w.reason !== 'ContainerCreating' && w.reason !== 'PodInitializing') {
        out.push(`pod ${name} container ${cs.name}: ${w.reason}${w.message ? ` (${w.message})` : ''}`);
      }
      const t = cs.lastState?.terminated;
      if (t && t.exitCode !== 0) out.push(`pod ${name} container ${cs.name} exited ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`);
    }
  }
  return out;
}
