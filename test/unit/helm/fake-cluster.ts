// An in-memory Cluster for installer tests: objects by apiVersion/kind/namespace/name, release
// Secrets by namespace/name, and a Deployment that becomes ready when the test says so.

import type { KubeObject } from '../../../lib/helm/chart.js';
import type { Cluster, DeploymentState, ObjRef, PodBlocker, StoredSecret } from '../../../lib/helm/cluster.js';
import type { SecretObject } from '../../../lib/helm/release.js';

export class FakeCluster implements Cluster {
  objects = new Map<string, KubeObject>();
  secrets = new Map<string, SecretObject>();
  namespaces = new Set<string>(['default']);
  /** Every call, for asserting order: "apply Deployment/traffic-manager", "delete Role/x", … */
  log: string[] = [];
  /** How many deploymentState polls answer "not ready" before "ready". */
  notReadyPolls = 0;
  problems: string[] = [];
  /** From this poll on (counted from 1), the pod shows `blocked`: the image cannot be pulled… */
  blockedFromPoll = Infinity;
  blocked: PodBlocker | undefined;
  polls = 0;

  static key(r: ObjRef): string {
    return `${r.kind}|${r.namespace ?? ''}|${r.name}`;
  }

  async apply(obj: KubeObject): Promise<void> {
    this.log.push(`apply ${obj.kind}/${obj.metadata.name}`);
    this.objects.set(FakeCluster.key({ ...obj, ...obj.metadata }), structuredClone(obj));
  }
  async read(ref: ObjRef): Promise<KubeObject | null> {
    return this.objects.get(FakeCluster.key(ref)) ?? null;
  }
  async delete(ref: ObjRef): Promise<boolean> {
    this.log.push(`delete ${ref.kind}/${ref.name}`);
    return this.objects.delete(FakeCluster.key(ref));
  }
  async ensureNamespace(name: string): Promise<boolean> {
    if (this.namespaces.has(name)) return false;
    this.namespaces.add(name);
    this.log.push(`create Namespace/${name}`);
    return true;
  }
  async listSecrets(namespace: string, labelSelector: string): Promise<StoredSecret[]> {
    const want = labelSelector.split(',').map((kv) => kv.split('=') as [string, string]);
    return [...this.secrets.values()]
      .filter((s) => s.metadata.namespace === namespace && want.every(([k, v]) => s.metadata.labels[k] === v))
      .map((s) => structuredClone({ metadata: s.metadata, data: s.data }));
  }
  async createSecret(secret: SecretObject): Promise<void> {
    const k = `${secret.metadata.namespace}/${secret.metadata.name}`;
    if (this.secrets.has(k)) throw Object.assign(new Error('exists'), { code: 409 });
    this.log.push(`create Secret/${secret.metadata.name} ${secret.metadata.labels.status}`);
    this.secrets.set(k, structuredClone(secret));
  }
  async replaceSecret(secret: SecretObject): Promise<void> {
    this.log.push(`update Secret/${secret.metadata.name} ${secret.metadata.labels.status}`);
    this.secrets.set(`${secret.metadata.namespace}/${secret.metadata.name}`, structuredClone(secret));
  }
  async deleteSecret(namespace: string, name: string): Promise<void> {
    this.log.push(`delete Secret/${name}`);
    this.secrets.delete(`${namespace}/${name}`);
  }
  async deploymentState(namespace: string, name: string): Promise<DeploymentState> {
    if (!this.objects.has(FakeCluster.key({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name }))) {
      return { ready: false, summary: 'not found', problems: [] };
    }
    this.polls++;
    if (this.notReadyPolls > 0) {
      this.notReadyPolls--;
      const blocked = this.polls >= this.blockedFromPoll ? this.blocked : undefined;
      return { ready: false, summary: '0/1 available', problems: [...this.problems], ...(blocked ? { blocked } : {}) };
    }
    return { ready: true, summary: '1/1 available', problems: [] };
  }
}

/** A clock that moves only when the installer sleeps. */
export function fakeClock(start = Date.parse('2026-01-02T03:04:05.000Z')) {
  let t = start;
  return {
    now: () => new Date(t),
    sleep: async (ms: number) => { t += ms; },
  };
}
