// Discovers what the workstation must route: the Service CIDR (ServiceCIDR API where served, else
// the invalid-ClusterIP probe) and the pod CIDRs (nodes' podCIDRs, else a cover of pod IPs).
// Refreshed periodically; watchers get the new value only when it changed.
import * as k8s from '@kubernetes/client-node';
import { EventEmitter } from 'node:events';
import type { ClusterInfo } from '../common/rpc/manager.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { cidrFromProbeError, coveringCidr } from '../common/cidr.js';

export interface ClusterInfoOptions {
  kc: k8s.KubeConfig;
  managerNamespace: string;
  clusterDomain: string;
  log: Logger;
  refreshMs?: number;
}

/** Events: 'change' (ClusterInfo). */
export class ClusterInfoSource extends EventEmitter {
  #current: ClusterInfo;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ClusterInfoOptions) {
    super();
    this.#current = {
      serviceCIDRs: [],
      podCIDRs: [],
      serviceCIDRSource: 'none',
      podCIDRSource: 'none',
      clusterDomain: opts.clusterDomain,
      managerNamespace: opts.managerNamespace,
      managerVersion: TP_VERSION,
    };
  }

  get current(): ClusterInfo {
    return this.#current;
  }

  async start(): Promise<void> {
    await this.refresh();
    // Watches make a new node's podCIDR or a new ServiceCIDR reach clients within a second; the
    // periodic refresh covers clusters (or RBAC) where a watch cannot run.
    this.#watch('/api/v1/nodes', () => this.opts.kc.makeApiClient(k8s.CoreV1Api).listNode());
    this.#watch('/apis/networking.k8s.io/v1/servicecidrs', () => this.opts.kc.makeApiClient(k8s.NetworkingV1Api).listServiceCIDR());
    this.#timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? 30_000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    for (const i of this.#informers) void i.stop();
  }

  #informers: Array<k8s.Informer<k8s.KubernetesObject>> = [];
  #debounce: NodeJS.Timeout | undefined;

  #watch<T extends k8s.KubernetesObject>(path: string, list: () => Promise<k8s.KubernetesListObject<T>>): void {
    const informer = k8s.makeInformer(this.opts.kc, path, list);
    const changed = () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.refresh(), 300);
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    // A watch that fails (no RBAC, API not served) is retried later; the poll keeps things right.
    informer.on('error', () => setTimeout(() => void informer.start().catch(() => {}), 10_000).unref());
    informer.start().catch((err) => this.opts.log.debug('watch not available', { path, err }));
    this.#informers.push(informer as unknown as k8s.Informer<k8s.KubernetesObject>);
  }

  async refresh(): Promise<ClusterInfo> {
    const [svc, pods, dnsIP] = await Promise.all([this.#serviceCIDRs(), this.#podCIDRs(), this.#dnsIP()]);
    const next: ClusterInfo = {
      ...this.#current,
      serviceCIDRs: svc.cidrs,
      serviceCIDRSource: svc.source,
      podCIDRs: pods.cidrs,
      podCIDRSource: pods.source,
      ...(dnsIP ? { dnsIP } : {}),
    };
    if (JSON.stringify(next) !== JSON.stringify(this.#current)) {
      this.#current = next;
      this.opts.log.info('cluster info', { ...next });
      this.emit('change', next);
    }
    return next;
  }

  async #serviceCIDRs(): Promise<{ cidrs: string[]; source: string }> {
    try {
      const api = this.opts.kc.makeApiClient(k8s.NetworkingV1Api);
      const list = await api.listServiceCIDR();
      const cidrs = list.items.flatMap((i) => i.spec?.cidrs ?? []);
      if (cidrs.length > 0) return { cidrs: [...new Set(cidrs)].sort(), source: 'servicecidr-api' };
    } catch (err) {
      this.opts.log.debug('ServiceCIDR API not usable, probing', { err });
    }
    // An impossible ClusterIP makes the API server name the valid range in its refusal.
    try {
      const core = this.opts.kc.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedService({
        namespace: this.opts.managerNamespace,
        dryRun: 'All',
        body: {
          metadata: { name: 'tp-cidr-probe' },
          spec: { clusterIP: '0.0.0.1', ports: [{ port: 443 }] },
        },
      });
    } catch (err) {
      const body = (err as { body?: unknown }).body;
      const text = typeof body === 'string' ? body : JSON.stringify(body ?? (err as Error).message);
      const cidrs = cidrFromProbeError(text);
      if (cidrs.length > 0) return { cidrs, source: 'probe' };
      this.opts.log.warn('service CIDR probe gave no range', { err: text.slice(0, 300) });
    }
    return { cidrs: [], source: 'none' };
  }

  async #podCIDRs(): Promise<{ cidrs: string[]; source: string }> {
    const core = this.opts.kc.makeApiClient(k8s.CoreV1Api);
    try {
      const nodes = await core.listNode();
      const cidrs = nodes.items.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []));
      if (cidrs.length > 0) return { cidrs: [...new Set(cidrs)].sort(), source: 'nodes' };
    } catch (err) {
      this.opts.log.debug('cannot list nodes for podCIDRs', { err });
    }
    try {
      const pods = await core.listPodForAllNamespaces({ limit: 500 });
      const ips = pods.items
        .filter((p) => !p.spec?.hostNetwork)
        .flatMap((p) => (p.status?.podIPs ?? []).map((i) => i.ip))
        .filter((ip): ip is string => typeof ip === 'string');
      const v4 = ips.filter((ip) => !ip.includes(':'));
      const v6 = ips.filter((ip) => ip.includes(':'));
      const cidrs = [coveringCidr(v4, 16), coveringCidr(v6, 64)].filter((c): c is string => c !== undefined);
      if (cidrs.length > 0) return { cidrs, source: 'pod-ips' };
    } catch (err) {
      this.opts.log.warn('cannot list pods to cover their IPs', { err });
    }
    return { cidrs: [], source: 'none' };
  }

  async #dnsIP(): Promise<string | undefined> {
    try {
      const core = this.opts.kc.makeApiClient(k8s.CoreV1Api);
      const svc = await core.readNamespacedService({ name: 'kube-dns', namespace: 'kube-system' });
      return svc.spec?.clusterIP;
    } catch {
      return undefined;
    }
  }
}

/** The cluster's namespaces, listed with the manager's own rights (its ClusterRole may list them;
 * a namespace-only user may not, issue #16). Callers filter them by what each session's owner may
 * see. Listed afresh at each call, not cached: a client asks once per connect, and a namespace
 * created a moment before `tp connect` must be among its DNS pseudo-TLDs (a 5 s cache here once
 * made the namespace a test had just created unresolvable for the whole connection). Concurrent
 * calls share one request. */
export function namespaceLister(kc: k8s.KubeConfig): () => Promise<string[]> {
  let inFlight: Promise<string[]> | undefined;
  return () => {
    inFlight ??= kc
      .makeApiClient(k8s.CoreV1Api)
      .listNamespace()
      .then((l) =>
        l.items
          .map((n) => n.metadata?.name ?? '')
          .filter(Boolean)
          .sort(),
      )
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
}
