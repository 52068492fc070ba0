// One connection to one cluster: the manager session plus, with --socks, the local proxy. The
// user daemon holds at most one; `tp quit` ends it.
import { ProxyServer, ProxyListenError } from '../proxy/socks/server.js';
import { DaemonCallError, type ConnectRequest, type DaemonStatus } from '../common/rpc/daemon.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { checkCredentials, kubeFailure, loadKube, type KubeTarget } from './kube.js';
import { ManagerSession } from '../proxy/manager-session.js';
import { kubeOpener } from './manager-opener.js';
import { findManagerPod } from './manager-link.js';
import { ManagerRelay } from './relay.js';
import { attachRootDaemon, callRoot, type RootWatch } from './root-link.js';
import { join } from 'node:path';
import { runtimeDir } from '../common/rpc/daemon.js';
import type { VifStatus } from '../common/rpc/root.js';
import { notMappedRefusal } from '../common/rpc/manager.js';
import { ClientEngagements } from './engagements.js';
import { createSession, deleteSession, type OwnSession } from './identity.js';

export const DEFAULT_MANAGER_NAMESPACE = 'tp-system';
export const DEFAULT_SOCKS = '127.0.0.1:1080';

export function parseHostPort(s: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(s) ?? /^(\d{1,5})$/.exec(s);
  if (!m) throw new DaemonCallError('E_FLAG', `${flag} "${s}" is not HOST:PORT`, `for example ${flag} ${DEFAULT_SOCKS}`);
  const port = Number(m[3] ?? m[1]);
  const host = m[3] ? (m[1] ?? m[2] ?? '127.0.0.1') : '127.0.0.1';
  if (port < 1 || port > 65535) throw new DaemonCallError('E_FLAG', `${flag} port ${port} is out of range 1-65535`);
  return { host, port };
}

/** The kubeconfig the CLI asked for (its flags and its KUBECONFIG, not the daemon's). */
function kubeOptions(req: ConnectRequest): { kubeconfig?: string; kubeconfigEnv?: string; context?: string } {
  return {
    ...(req.kubeconfig ? { kubeconfig: req.kubeconfig } : {}),
    ...(req.kubeconfigEnv !== undefined ? { kubeconfigEnv: req.kubeconfigEnv } : {}),
    ...(req.context ? { context: req.context } : {}),
  };
}

export class Connection {
  readonly session: ManagerSession;
  proxy: ProxyServer | undefined;
  socksAddress: string | undefined;
  relay: ManagerRelay | undefined;
  vif: VifStatus | undefined;
  engagements: ClientEngagements | undefined;
  /** --mapped-namespaces; undefined: every namespace the user may see. */
  readonly mappedNamespaces: string[] | undefined;
  /** The namespaces whose names resolve (the manager's answer), for `tp status`. */
  dnsNamespaces: string[] | undefined;
  /** This workstation's Session object and its secret (never logged or returned). */
  own: OwnSession;
  /** The manager's direct route, when asked for (--manager-address). */
  readonly direct: { host: string; port: number } | undefined;
  #rootWatch: RootWatch | undefined;

  private constructor(
    readonly request: ConnectRequest,
    readonly target: KubeTarget,
    readonly namespace: string,
    readonly managerNamespace: string,
    own: OwnSession,
    private readonly log: Logger,
  ) {
    this.own = own;
    this.direct = request.managerAddress ? parseHostPort(request.managerAddress, '--manager-address') : undefined;
    this.mappedNamespaces = request.mappedNamespaces?.length ? request.mappedNamespaces : undefined;
    this.session = new ManagerSession({
      open: kubeOpener(target.kc, managerNamespace, this.direct, log.child({ component: 'route' })),
      namespace,
      ...(this.mappedNamespaces ? { mappedNamespaces: this.mappedNamespaces } : {}),
      credentials: () => this.own,
      renew: () => this.#renew(),
      log: log.child({ component: 'session' }),
    });
  }

  static async open(req: ConnectRequest, log: Logger): Promise<Connection> {
    const target = loadKube(kubeOptions(req));
    const socks = req.socks !== undefined ? parseHostPort(req.socks, '--socks') : undefined;
    if (req.managerAddress) parseHostPort(req.managerAddress, '--manager-address'); // before anything is made
    const managerNamespace = req.managerNamespace || DEFAULT_MANAGER_NAMESPACE;
    const namespace = req.namespace || target.namespace;
    // Single-label names resolve in the connection's namespace: with mapped namespaces that do not
    // hold it, they would resolve nowhere.
    if (req.mappedNamespaces?.length && !req.mappedNamespaces.includes(namespace)) {
      throw new DaemonCallError(
        'E_FLAG',
        `the connection's namespace ${namespace} is not one of --mapped-namespaces (${req.mappedNamespaces.join(', ')})`,
        `pass -n ${req.mappedNamespaces[0]}, or add ${namespace} to --mapped-namespaces`,
      );
    }
    // VIF mode: the root daemon the CLI just started follows us only from when we hold its
    // watch, and leaves after its grace without one: hold it before the slow steps (credential
    // plugins, the session, the port-forward).
    const watch = socks ? undefined : await attachRootDaemon();
    let own: OwnSession;
    try {
      await checkCredentials(target);
      // A missing manager is the likeliest first-contact problem: say that, not that sessions 404.
      await findManagerPod(target.kc, managerNamespace);
      own = await createSession(target.kc, managerNamespace).catch((err) => {
        throw kubeFailure(err, target, { verb: 'create', resource: 'sessions.tp.dev', namespace: managerNamespace });
      });
    } catch (err) {
      watch?.close();
      throw err;
    }
    log.info('session created', { session: own.session, owner: own.owner.username });
    const conn = new Connection(req, target, namespace, managerNamespace, own, log);
    conn.#rootWatch = watch;
    try {
      await conn.session.start();
      conn.dnsNamespaces = await conn.#namespaces();
    } catch (err) {
      watch?.close();
      await deleteSession(target.kc, managerNamespace, own.session).catch(() => {});
      throw err;
    }
    conn.engagements = new ClientEngagements({
      session: conn.session,
      kc: target.kc,
      namespace: conn.namespace,
      managerNamespace,
      own: () => conn.own,
      log: log.child({ component: 'engagements' }),
    });
    try {
      if (socks) await conn.#startProxy(socks, req);
      else await conn.#startVif(req);
    } catch (err) {
      await conn.close();
      throw err;
    }
    return conn;
  }

  /** VIF mode: a relay for the root daemon, then the root daemon's TUN, routes and DNS. */
  async #startVif(req: ConnectRequest): Promise<void> {
    const info = this.session.clusterInfo;
    if (!info) throw new DaemonCallError('E_NO_CLUSTER_INFO', 'the traffic manager sent no cluster information');
    const subnets = [...info.serviceCIDRs, ...info.podCIDRs, ...(req.alsoProxy ?? [])];
    if (subnets.length === 0) {
      throw new DaemonCallError(
        'E_NO_SUBNETS',
        'the traffic manager found neither the service nor the pod subnets of the cluster',
        'pass them with --also-proxy CIDR',
      );
    }
    this.relay = new ManagerRelay(
      join(runtimeDir(), 'manager-relay.sock'),
      kubeOpener(this.target.kc, this.managerNamespace, this.direct, this.log.child({ component: 'route' })),
      this.log.child({ component: 'relay' }),
    );
    await this.relay.start();
    // Held from before the connect: the root daemon follows this connection, and its closing
    // tells us at once that the VIF is gone (root-link.ts).
    this.#rootWatch ??= await attachRootDaemon();
    this.#rootWatch.on('down', (why: string) => this.log.warn('the VIF is down', { why }));
    this.vif = await callRoot(
      'connect',
      {
        relaySocket: this.relay.path,
        session: { session: this.own.session, secret: this.own.secret },
        namespace: this.namespace,
        subnets,
        neverProxy: req.neverProxy ?? [],
        allowConflicting: req.allowConflictingSubnets === true,
        ...(req.vnat?.length ? { vnat: req.vnat } : {}),
        clusterDomain: info.clusterDomain,
        ...(info.dnsIP ? { clusterDnsIP: info.dnsIP } : {}),
        dnsIncludeSuffixes: req.dnsIncludeSuffixes ?? [],
        dnsExcludeSuffixes: req.dnsExcludeSuffixes ?? [],
        // The root daemon's DNS rules: the mapped namespaces as asked (names there the user may not
        // see answer NXDOMAIN from the manager), else those the manager says the user may see.
        namespaces: this.mappedNamespaces ?? this.dnsNamespaces ?? [this.namespace],
        ...(this.mappedNamespaces ? { mappedNamespaces: this.mappedNamespaces } : {}),
      },
      90_000,
    );
    // The manager pushes cluster info as it changes; keep the routes in step while connected.
    this.session.on('clusterInfo', (next: typeof info) => {
      if (!this.vif) return;
      const wanted = [...next.serviceCIDRs, ...next.podCIDRs, ...(req.alsoProxy ?? [])];
      if (wanted.length === 0 || wanted.join(',') === this.vif.routes.join(',')) return;
      void callRoot('setSubnets', { subnets: wanted })
        .then((status) => (this.vif = status))
        .catch((err) => this.log.warn('updating the routes failed', { err }));
    });
  }

  /** Namespaces as DNS pseudo-TLDs (`svc.ns`): the manager says which the user may see (issue
   * #16: a namespace-only user may not list namespaces, and need not). The connection's own
   * namespace when the manager cannot say (one before issue #16). */
  async #namespaces(): Promise<string[]> {
    try {
      const client = await this.session.current(10_000);
      const r = await client.call('namespaces', {});
      const hidden = (this.mappedNamespaces ?? []).filter((n) => !r.namespaces.includes(n));
      if (hidden.length > 0)
        this.log.warn('mapped namespaces that do not exist or whose Services you may not see: names there do not resolve', {
          namespaces: hidden,
        });
      return r.namespaces;
    } catch (err) {
      this.log.info("the traffic manager did not list namespaces; only the connection's own is a DNS pseudo-TLD", {
        err: (err as Error).message,
      });
      return [this.namespace];
    }
  }

  /** Refuses a namespace outside --mapped-namespaces (issue #16), with the way out. */
  requireMapped(namespace: string): void {
    const mapped = this.mappedNamespaces;
    if (mapped && !mapped.includes(namespace)) {
      const r = notMappedRefusal(namespace, mapped);
      throw new DaemonCallError(r.code, r.message, r.hint);
    }
  }

  async #startProxy(addr: { host: string; port: number }, req: ConnectRequest): Promise<void> {
    const plog = this.log.child({ component: 'proxy' });
    this.proxy = new ProxyServer({
      dialer: this.session.dialer,
      host: addr.host,
      port: addr.port,
      ...(req.socksUser ? { credentials: { username: req.socksUser, password: req.socksPassword ?? '' } } : {}),
      log: (level, msg, fields) => plog[level](msg, fields),
    });
    try {
      const a = await this.proxy.start();
      this.socksAddress = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    } catch (err) {
      this.proxy = undefined;
      if (err instanceof ProxyListenError) {
        throw new DaemonCallError(
          err.code,
          err.message,
          err.code === 'E_PROXY_ADDRESS_IN_USE' ? 'pass another address with --socks HOST:PORT, or stop what uses it' : undefined,
        );
      }
      throw err;
    }
  }

  /** Whether a new connect request asks for the same thing as this connection. */
  sameAs(req: ConnectRequest): boolean {
    const t = loadKube(kubeOptions(req));
    const wantSocks = req.socks !== undefined; // VIF when false
    return (
      t.context === this.target.context &&
      t.cluster === this.target.cluster &&
      (req.namespace || t.namespace) === this.namespace &&
      (req.managerNamespace || DEFAULT_MANAGER_NAMESPACE) === this.managerNamespace &&
      [...(req.mappedNamespaces ?? [])].sort().join(',') === [...(this.mappedNamespaces ?? [])].sort().join(',') &&
      wantSocks === (this.proxy !== undefined)
    );
  }

  /** The manager no longer knows our session (it expired while we slept, an admin deleted it): a
   * new one, handed to the root daemon too. The engagements of the old one are gone with it. */
  async #renew(): Promise<OwnSession> {
    const own = await createSession(this.target.kc, this.managerNamespace);
    this.log.info('session renewed', { session: own.session, previous: this.own.session });
    this.own = own;
    if (this.vif)
      await callRoot('setSession', { session: own.session, secret: own.secret }).catch((err) =>
        this.log.warn('handing the new session to the root daemon failed', { err }),
      );
    return own;
  }

  async close(): Promise<void> {
    await this.engagements?.closeAll().catch((err) => this.log.warn('releasing engagements failed', { err }));
    // The manager deletes the Session and its engagements; if it cannot be told, we delete the
    // Session ourselves (the manager ends its engagements when it sees that).
    await this.session.depart().catch(async (err) => {
      this.log.info('the traffic manager could not be told; deleting the session directly', { err: (err as Error).message });
      await deleteSession(this.target.kc, this.managerNamespace, this.own.session).catch((e) =>
        this.log.warn('deleting the session failed', { err: e }),
      );
    });
    await this.proxy?.stop().catch(() => {});
    if (this.vif || this.relay) {
      if (!this.vifDown) await callRoot('disconnect', {}).catch((err) => this.log.warn('root daemon disconnect failed', { err }));
      this.vif = undefined;
    }
    this.#rootWatch?.close();
    await this.relay?.stop().catch(() => {});
    await this.session.stop();
  }

  /** Why the VIF is gone (one sentence with the fix), while it is; undefined while it is up. */
  get vifDown(): string | undefined {
    return this.vif ? this.#rootWatch?.down : undefined;
  }

  /** Whether the root daemon still holds this connection's VIF. */
  async vifAlive(): Promise<boolean> {
    if (this.vifDown) return false;
    try {
      return (await callRoot('status', {}, 3_000)).connected;
    } catch {
      return false;
    }
  }

  async vifStatus(): Promise<VifStatus | undefined> {
    if (!this.vif) return undefined;
    const down = this.vifDown;
    if (down) return this.#vifDownStatus(down);
    return callRoot('status', {}, 5_000).catch((err: Error) =>
      this.#vifDownStatus(`the VIF is not answering: ${err.message}; run tp quit -s and tp connect`),
    );
  }

  /** Nothing of the gone VIF is reported as if it were there: no interface, routes or DNS. */
  #vifDownStatus(down: string): VifStatus {
    return {
      connected: false,
      down,
      routes: [],
      neverProxy: [],
      flows: { tcpActive: 0, tcpTotal: 0, udpActive: 0, dialFailures: 0 },
      pid: this.#rootWatch?.pid ?? 0,
      version: this.vif?.version ?? TP_VERSION,
    };
  }

  status(): DaemonStatus {
    const s = this.session;
    const stats = this.proxy?.stats;
    // In VIF mode the VIF is the connection: with it gone nothing reaches the cluster, whatever
    // the manager session says.
    const down = this.vifDown;
    return {
      state: down ? 'disconnected' : s.state,
      daemonVersion: TP_VERSION,
      daemonPid: process.pid,
      kubeconfig: this.target.kubeconfig,
      context: this.target.context,
      cluster: this.target.cluster,
      namespace: this.namespace,
      managerNamespace: this.managerNamespace,
      ...(s.managerVersion ? { managerVersion: s.managerVersion } : {}),
      ...(s.pod ? { managerPod: s.pod.name } : {}),
      ...(s.route ? { managerRoute: s.route } : {}),
      session: this.own.session,
      ...(s.owner ? { user: s.owner } : {}),
      ...(this.socksAddress ? { socks: this.socksAddress } : {}),
      ...(this.mappedNamespaces ? { mappedNamespaces: this.mappedNamespaces } : {}),
      ...(this.dnsNamespaces ? { dnsNamespaces: this.dnsNamespaces } : {}),
      ...(this.vif ? { vif: down ? this.#vifDownStatus(down) : this.vif } : {}),
      ...(s.clusterInfo ? { clusterInfo: s.clusterInfo } : {}),
      ...(down ? { lastError: down } : s.lastError && s.state !== 'connected' ? { lastError: s.lastError } : {}),
      reconnects: s.reconnects,
      flows: { active: stats?.flowsActive ?? 0, total: stats?.flowsTotal ?? 0, failed: stats?.dialFailures ?? 0 },
    };
  }
}
