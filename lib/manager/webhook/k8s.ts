// The webhook's two cluster objects through client-node: the TLS Secret in the manager's
// namespace and the MutatingWebhookConfiguration. RBAC (helm/templates/role.yaml, clusterrole.yaml):
// secrets create, get/update on this one name; the configuration get/patch on its name.
import * as k8s from '@kubernetes/client-node';
import { ConflictError, type CertBundle, type SecretStore, type WebhookConfigStore } from './cert.js';

const statusOf = (err: unknown) => (err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code);

const KEYS = ['ca.crt', 'tls.crt', 'tls.key'] as const;

function encode(data: CertBundle): Record<string, string> {
  return Object.fromEntries(KEYS.map((k) => [k, Buffer.from(data[k]).toString('base64')]));
}

export function k8sSecretStore(kc: k8s.KubeConfig, namespace: string, name: string): SecretStore {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const labels = { 'app.kubernetes.io/name': 'traffic-manager', 'app.kubernetes.io/component': 'agent-injector', 'app.kubernetes.io/managed-by': 'tp' };
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
        const data: Partial<CertBundle> = {};
        for (const k of KEYS) if (s.data?.[k]) data[k] = Buffer.from(s.data[k], 'base64').toString('utf8');
        return { data, ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}) };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(data) {
      await core.createNamespacedSecret({ namespace, body: { metadata: { name, namespace, labels }, type: 'kubernetes.io/tls', data: encode(data) } }).catch(rethrow);
    },
    async replace(data, resourceVersion) {
      await core.replaceNamespacedSecret({
        name, namespace,
        body: { metadata: { name, namespace, labels, ...(resourceVersion ? { resourceVersion } : {}) }, type, data: encode(data) },
      }).catch(rethrow);
    },
  };
}

export function k8sWebhookConfigStore(kc: k8s.KubeConfig, name: string): WebhookConfigStore {
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  return {
    async read() {
      try {
        const c = await api.readMutatingWebhookConfiguration({ name });
        return (c.webhooks ?? []).map((w) => ({ name: w.name, ...(w.clientConfig?.caBundle ? { caBundle: w.clientConfig.caBundle } : {}) }));
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
