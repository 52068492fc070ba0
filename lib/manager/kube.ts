// The manager's side of the Kubernetes API, through client-node: the cluster interfaces of the
// session store, the engagement controller, the agent authenticator and the authorizer, and the
// watches that feed Session and Engagement objects into them. Everything above this file is
// testable with fakes; everything here is a thin translation of API calls.
import * as k8s from '@kubernetes/client-node';
import { AGENT_CONFIG_ANNOTATION } from '../common/agent-config.js';
import type { Logger } from '../common/log.js';
import {
  ENGAGEMENTS,
  MANAGER_LABEL,
  SESSIONS,
  TP_GROUP,
  TP_VERSION_V1,
  type EngagementObject,
  type EngagementStatus,
  type Owner,
  type SessionObject,
} from '../common/objects.js';
import type { AgentAuthCluster, OwnerRef } from './agent-auth.js';
import type { Authorizer } from './api.js';
import type { EngagementCluster, EngagementController } from './engagement-controller.js';
import type { SessionCluster, SessionStore } from './sessions.js';
import {
  findWorkload,
  listPods,
  listServices,
  podSecurityEnforce,
  podsNeedRestart,
  restartPods,
  warningEvents,
  workloadsWithAgents,
  writeAgentConfig,
} from './workload-k8s.js';

const statusOf = (err: unknown) => (err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export function kubeSessionCluster(kc: k8s.KubeConfig, namespace: string): SessionCluster {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const at = { group: TP_GROUP, version: TP_VERSION_V1, namespace, plural: SESSIONS.plural };
  return {
    async read(name) {
      try {
        return (await api.getNamespacedCustomObject({ ...at, name })) as SessionObject;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async delete(name) {
      try {
        await api.deleteNamespacedCustomObject({ ...at, name });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
    async writeLastSeen(name, lastSeen, expiresAt) {
      await api.patchNamespacedCustomObjectStatus(
        { ...at, name, body: { status: { lastSeen: lastSeen.toISOString(), expiresAt: expiresAt.toISOString() } } },
        mergePatch,
      );
    },
  };
}

export function kubeEngagementCluster(kc: k8s.KubeConfig, managerNamespace: string): EngagementCluster {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const at = (namespace: string) => ({ group: TP_GROUP, version: TP_VERSION_V1, namespace, plural: ENGAGEMENTS.plural });
  return {
    findWorkload: (ns, name) => findWorkload(kc, ns, name),
    podSecurityEnforce: (ns) => podSecurityEnforce(kc, ns),
    listServices: (ns) => listServices(kc, ns),
    writeAgentConfig: (wl, config) => writeAgentConfig(kc, wl, config, managerNamespace),
    podsNeedRestart: (wl, config) => podsNeedRestart(kc, wl, config),
    restartPods: (wl) => restartPods(kc, wl),
    listPods: (wl) => listPods(kc, wl),
    warningEvents: (wl, pods) => warningEvents(kc, wl, pods),
    workloadsWithAgents: (ns) => workloadsWithAgents(kc, ns, managerNamespace),
    async setStatus(namespace, name, status: EngagementStatus) {
      await api.patchNamespacedCustomObjectStatus({ ...at(namespace), name, body: { status } }, mergePatch);
    },
    async deleteEngagement(namespace, name) {
      await api.deleteNamespacedCustomObject({ ...at(namespace), name });
    },
  };
}

export function kubeAgentAuthCluster(kc: k8s.KubeConfig, audience: string): AgentAuthCluster {
  const auth = kc.makeApiClient(k8s.AuthenticationV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const owners = (m: k8s.V1ObjectMeta | undefined): OwnerRef[] =>
    (m?.ownerReferences ?? []).map((o) => ({ kind: o.kind, name: o.name, ...(o.controller ? { controller: true } : {}) }));
  const missing = (err: unknown) => {
    if (statusOf(err) === 404) return undefined;
    throw err;
  };
  return {
    async tokenReview(token) {
      const r = await auth.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
      });
      return {
        authenticated: r.status?.authenticated === true,
        ...(r.status?.user?.username ? { username: r.status.user.username } : {}),
        ...(r.status?.user?.extra ? { extra: r.status.user.extra } : {}),
        ...(r.status?.error ? { error: r.status.error } : {}),
      };
    },
    async readPod(namespace, name) {
      const p = await core.readNamespacedPod({ namespace, name }).catch(missing);
      if (!p) return undefined;
      const config = p.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
      return { uid: p.metadata?.uid ?? '', namespace, name, owners: owners(p.metadata), ...(config ? { agentConfig: config } : {}) };
    },
    async readWorkload(namespace, kind, name) {
      const o =
        kind === 'Deployment'
          ? await apps.readNamespacedDeployment({ namespace, name }).catch(missing)
          : kind === 'StatefulSet'
            ? await apps.readNamespacedStatefulSet({ namespace, name }).catch(missing)
            : await apps.readNamespacedReplicaSet({ namespace, name }).catch(missing);
      if (!o) return undefined;
      const config = o.spec?.template?.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
      return { owners: owners(o.metadata), ...(config ? { agentConfig: config } : {}) };
    },
  };
}

/** SubjectAccessReview for a session's owner, cached briefly (RBAC changes show within seconds). */
export function kubeAuthorizer(kc: k8s.KubeConfig, cacheMs = 10_000): Authorizer {
  const api = kc.makeApiClient(k8s.AuthorizationV1Api);
  const cache = new Map<string, { at: number; allowed: boolean }>();
  return {
    async can(owner: Owner, c) {
      const key = JSON.stringify([owner.username, owner.groups, c.verb, c.group, c.resource, c.namespace]);
      const hit = cache.get(key);
      if (hit && Date.now() - hit.at < cacheMs) return hit.allowed;
      const r = await api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: owner.username,
            groups: owner.groups,
            resourceAttributes: { verb: c.verb, group: c.group, resource: c.resource, namespace: c.namespace },
          },
        },
      });
      const allowed = r.status?.allowed === true;
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: Date.now(), allowed });
      return allowed;
    },
  };
}

/** Watches this manager's Sessions and the Engagements of the namespaces it manages (all, when
 * `namespaces` is empty) and feeds them in; sweeps orphans once both lists arrived. */
export async function watchObjects(o: {
  kc: k8s.KubeConfig;
  managerNamespace: string;
  namespaces: string[];
  sessions: SessionStore;
  engagements: EngagementController;
  log: Logger;
}): Promise<{ stop(): void }> {
  const api = o.kc.makeApiClient(k8s.CustomObjectsApi);
  const informers: Array<k8s.Informer<k8s.KubernetesObject>> = [];
  const selector = `${MANAGER_LABEL}=${o.managerNamespace}`;
  const start = async <T extends k8s.KubernetesObject>(what: string, informer: k8s.Informer<T>) => {
    // A watch that fails (the API server restarted, RBAC changed) starts again with a fresh list.
    informer.on('error', (err: unknown) => {
      o.log.warn('watch failed; restarting it', { what, err: (err as Error)?.message ?? String(err) });
      setTimeout(() => void informer.start().catch(() => {}), 2_000).unref();
    });
    await informer.start();
    informers.push(informer as unknown as k8s.Informer<k8s.KubernetesObject>);
  };

  const sessions = k8s.makeInformer<SessionObject & k8s.KubernetesObject>(
    o.kc,
    `/apis/${TP_GROUP}/${TP_VERSION_V1}/namespaces/${o.managerNamespace}/${SESSIONS.plural}`,
    () =>
      api.listNamespacedCustomObject({
        group: TP_GROUP,
        version: TP_VERSION_V1,
        namespace: o.managerNamespace,
        plural: SESSIONS.plural,
      }) as Promise<k8s.KubernetesListObject<SessionObject & k8s.KubernetesObject>>,
  );
  sessions.on('add', (s) => o.sessions.upsert(s));
  sessions.on('update', (s) => o.sessions.upsert(s));
  sessions.on('delete', (s) => o.sessions.remove(s.metadata!.name!));
  await start('sessions', sessions);
  o.sessions.markSynced();

  const feed = (inf: k8s.Informer<EngagementObject & k8s.KubernetesObject>) => {
    inf.on('add', (e) => o.engagements.onObject(e));
    inf.on('update', (e) => o.engagements.onObject(e));
    inf.on('delete', (e) => o.engagements.onDeleted(e));
  };
  const paths = o.namespaces.length
    ? o.namespaces.map((ns) => ({
        path: `/apis/${TP_GROUP}/${TP_VERSION_V1}/namespaces/${ns}/${ENGAGEMENTS.plural}`,
        list: () =>
          api.listNamespacedCustomObject({
            group: TP_GROUP,
            version: TP_VERSION_V1,
            namespace: ns,
            plural: ENGAGEMENTS.plural,
            labelSelector: selector,
          }),
      }))
    : [
        {
          path: `/apis/${TP_GROUP}/${TP_VERSION_V1}/${ENGAGEMENTS.plural}`,
          list: () =>
            api.listClusterCustomObject({ group: TP_GROUP, version: TP_VERSION_V1, plural: ENGAGEMENTS.plural, labelSelector: selector }),
        },
      ];
  for (const p of paths) {
    const inf = k8s.makeInformer<EngagementObject & k8s.KubernetesObject>(
      o.kc,
      p.path,
      p.list as () => Promise<k8s.KubernetesListObject<EngagementObject & k8s.KubernetesObject>>,
      selector,
    );
    feed(inf);
    await start(`engagements ${p.path}`, inf);
  }
  await o.engagements.sweepOrphans();
  const sweep = setInterval(() => void o.engagements.sweepOrphans(), 60_000);
  sweep.unref();
  return {
    stop() {
      clearInterval(sweep);
      for (const i of informers) void i.stop();
    },
  };
}

/** Whether the cluster enforces tp's owner policy (helm/templates/admission-policy.yaml). Without
 * it anyone who may create Sessions could claim to be someone else, so the manager serves no
 * session (fail closed) and says why. */
export async function ownerPolicyPresent(kc: k8s.KubeConfig, name: string): Promise<string | undefined> {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  try {
    await api.readValidatingAdmissionPolicy({ name });
    await api.readValidatingAdmissionPolicyBinding({ name });
    return undefined;
  } catch (err) {
    if (statusOf(err) === 404)
      return `the cluster does not enforce tp's owner policy (ValidatingAdmissionPolicy ${name} is missing), so sessions cannot be trusted`;
    return `the traffic manager cannot read its owner policy ${name}: ${(err as Error).message?.split('\n')[0]}`;
  }
}
