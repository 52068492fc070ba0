// The webhook's two cluster objects through client-node: the TLS Secret in the manager's
// namespace and the MutatingWebhookConfiguration. RBAC (helm/templates/role.yaml, clusterrole.yaml):
// secrets create, get/update/patch on this one name, get on the manager's Deployment; the
// configuration get/patch on its name.
//
// Uninstall leaves nothing (issue #15): the Secret is made at run time, so neither `helm
// uninstall` nor `tp helm uninstall` knows it. It carries an ownerReference to the manager's
// Deployment, and the garbage collector deletes it once the Deployment is gone. A Secret made by
// an older manager (no owner) is adopted when read. Not a Helm-owned placeholder: `helm upgrade`
// and tp's server-side apply would reset a templated Secret's data to the chart's (empty) one,
// and the webhook would serve without a certificate until the next check.
import * as k8s from '@kubernetes/client-node';
import { ConflictError, type CertBundle, type SecretStore, type WebhookConfigStore } from './cert.js';

const statusOf = (err: unknown) => (err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code);

const KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const;

function encode(data: CertBundle): Record<string, string> {
  return Object.fromEntries(KEYS.map((k) => [k, Buffer.from(data[k]).toString('base64')]));
}

/** The owner the Secret is collected with: the manager's Deployment (the chart's fixed name). */
export const SECRET_OWNER_DEPLOYMENT = 'traffic-manager';

export function k8sSecretStore(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  ownerDeployment = SECRET_OWNER_DEPLOYMENT,
): SecretStore {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const labels = {
    'app.kubernetes.io/name': 'traffic-manager',
    'app.kubernetes.io/component': 'agent-injector',
    'app.kubernetes.io/part-of': 'tp',
    'app.kubernetes.io/managed-by': 'tp',
  };
  // Read once: the Deployment's uid does not change while this manager (one of its pods) runs.
  let owner: Promise<k8s.V1OwnerReference | undefined> | undefined;
  const ownerRef = () =>
    (owner ??= apps.readNamespacedDeployment({ name: ownerDeployment, namespace }).then(
      (d) => (d.metadata?.uid ? secretOwnerReference(ownerDeployment, d.metadata.uid) : undefined),
      // Not allowed or not there (a manager run outside its chart): a Secret without an owner,
      // as before; uninstall then leaves it (helm/README.md says how to remove it).
      () => undefined,
    ));
  const owned = async () => {
    const ref = await ownerRef();
    return ref ? { ownerReferences: [ref] } : {};
  };
  const rethrow = (err: unknown): never => {
    if (statusOf(err) === 409) throw new ConflictError(`Secret ${namespace}/${name} changed meanwhile`);
    throw err;
  };
  let type = 'kubernetes.io/tls';
  return {
    async read() {
      try {
        const s = await core.readNamespacedSecret({ name, namespace });
        // A Secret's type is immutable: an update keeps whatever type it was created with.
        type = s.type ?? type;
        const ref = await ownerRef();
        if (ref && !(s.metadata?.ownerReferences ?? []).some((o) => o.uid === ref.uid)) {
          // Adopt a Secret an older manager made: a merge patch of the owner list alone.
          await core
            .patchNamespacedSecret(
              { name, namespace, body: { metadata: { ownerReferences: [...(s.metadata?.ownerReferences ?? []), ref] } } },
              k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
            )
            .catch(() => {});
        }
        const data: Partial<CertBundle> = {};
        for (const k of KEYS) if (s.data?.[k]) data[k] = Buffer.from(s.data[k], 'base64').toString('utf8');
        return { data, ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}) };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(data) {
      await core
        .createNamespacedSecret({
          namespace,
          body: { metadata: { name, namespace, labels, ...(await owned()) }, type: 'kubernetes.io/tls', data: encode(data) },
        })
        .catch(rethrow);
    },
    async replace(data, resourceVersion) {
      await core
        .replaceNamespacedSecret({
          name,
          namespace,
          body: {
            metadata: { name, namespace, labels, ...(await owned()), ...(resourceVersion ? { resourceVersion } : {}) },
            type,
            data: encode(data),
          },
        })
        .catch(rethrow);
    },
  };
}

/** Not the controller (the manager's pods are), and no blockOwnerDeletion: that would need rights on
 * the Deployment's finalizers, and nothing waits for the Secret to go. */
export function secretOwnerReference(deployment: string, uid: string): k8s.V1OwnerReference {
  return { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid, controller: false, blockOwnerDeletion: false };
}

export function k8sWebhookConfigStore(kc: k8s.KubeConfig, name: string): WebhookConfigStore {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  return {
    async read() {
      try {
        const c = await api.readMutatingWebhookConfiguration({ name });
        return (c.webhooks ?? []).map((w) => ({
          name: w.name,
          ...(w.clientConfig?.caBundle ? { caBundle: w.clientConfig.caBundle } : {}),
        }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async patch(ops) {
      await api.patchMutatingWebhookConfiguration({ name, body: ops }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    },
  };
}
