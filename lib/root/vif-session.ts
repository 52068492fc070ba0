// One VIF connection of the root daemon, set up in the order that keeps the machine usable when
// a step fails, and torn down in reverse: manager session over the user daemon's relay → TUN with
// the userspace stack → routes (a cluster subnet that overlaps a route of the machine is reached
// through a virtual subnet: vnat.ts) → local DNS server → DNS integration (systemd-resolved's
// per-link DNS when it runs, else the iptables redirect). Each change is recorded in the state file before
// it is made, so a crash at any point is undone by the guardian at once (main.ts), or by the next
// start if the guardian died too.
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { ManagerSession, type SessionCredentials } from '../proxy/manager-session.js';
import type { NetStack } from '../proxy/netstack/index.js';
import type { VifConnectRequest, VifStatus } from '../common/rpc/root.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { DaemonCallError } from '../common/rpc/daemon.js';
import { Tun } from './tun.js';
import { attachStack } from './vif.js';
import { RouteTable, subnetChanges } from './routes.js';
import { addAddress, linkIndex } from './address.js';
import { installRedirect, removeRedirect, systemNameservers, systemSearchDomains } from './dns-redirect.js';
import { mapAddresses, startLocalDns, type LocalDns, type LocalDnsOptions } from './local-dns.js';
import { configureLink, detectDnsMode, linkDomains, revertLink, setLinkDomains, uplinkNameservers } from './resolved.js';
import type { StateFile, RootState } from './state.js';
import { planVnat, Vnat } from './vnat.js';

/** The TUN's own address: from the benchmarking range (RFC 2544), which no cluster or LAN uses. */
export const TUN_ADDRESS = '198.18.0.1';
export const TUN_MTU = 65535;

export class VifSession {
  session: ManagerSession | undefined;
  tun: Tun | undefined;
  stack: NetStack | undefined;
  routes = new RouteTable();
  /** Cluster subnets reached at virtual addresses; the stack and the DNS server read it. */
  readonly vnat: Vnat;
  dns: LocalDns | undefined;
  #ifindex = 0;
  #state: RootState = { pid: process.pid, routes: [], dnsRedirect: false };
  #nameservers: string[] = [];
  #dnsMode: 'systemd-resolved' | 'iptables' | 'none' = 'none';
  /** The Session this VIF authenticates as; the user daemon replaces it when it renews. */
  credentials: SessionCredentials;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(
    readonly req: VifConnectRequest,
    readonly tunName: string,
    private readonly stateFile: StateFile,
    private readonly log: Logger,
  ) {
    this.credentials = req.session;
    this.vnat = new Vnat(req.neverProxy);
  }

  /** Sets everything up; a stop() meanwhile ends it at the next step (and undoes what was done). */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Throws once stop() was called: a setup that goes on after its teardown would leave its
   * later changes behind. */
  #continue(): void {
    if (this.#stopping)
      throw new DaemonCallError('E_ABORTED', 'the VIF setup was cancelled: the root daemon is stopping', 'run `tp connect` again');
  }

  async #start(): Promise<void> {
    const { req, log } = this;
    // 1. The manager, through the user daemon's relay (its port-forward, its credentials).
    this.session = new ManagerSession({
      open: async () => {
        const socket = connect(req.relaySocket);
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        socket.setNoDelay?.(true);
        return { socket };
      },
      peer: 'root',
      namespace: req.namespace,
      ...(req.mappedNamespaces?.length ? { mappedNamespaces: req.mappedNamespaces } : {}),
      // The user daemon's session: it hands the secret over (and a new one when it renews).
      credentials: () => this.credentials,
      log: log.child({ component: 'session' }),
    });
    await this.session.start();
    this.#continue();

    // 2. The TUN and the stack behind it.
    this.#state.tun = this.tunName;
    this.stateFile.write(this.#state);
    this.tun = Tun.open(this.tunName, { mtu: TUN_MTU });
    const ifindex = (this.#ifindex = await linkIndex(this.tunName));
    await addAddress(ifindex, TUN_ADDRESS);
    this.stack = attachStack(this.tun, { dialer: this.session.dialer, destinations: this.vnat.map });
    this.tun.onError((err) => log.error('tun error', { err }));
    this.#continue();

    // 3. Routes (overlaps are resolved, or refused, before anything is added).
    try {
      await this.#route(req.subnets, req.neverProxy, req.subnets);
    } finally {
      this.#state.routes = [...this.routes.added];
      this.stateFile.write(this.#state);
    }
    this.#continue();

    // 4. DNS: the local server, then systemd-resolved's per-link DNS for the TUN when resolved
    // runs, else the redirect of the system's nameservers to it.
    const { mode, why } = await detectDnsMode();
    log.info('dns integration', { mode, why });
    if (mode === 'systemd-resolved') {
      try {
        await this.#startResolved(ifindex);
      } catch (err) {
        // The iptables redirect works under resolved too (it catches the stub's address), so a
        // resolved that refuses us costs a hop, not the connection.
        log.warn('systemd-resolved integration failed; using the iptables redirect', {
          err: (err as Error).message,
          hint: (err as { hint?: string }).hint,
        });
        await this.#stopResolved();
      }
    }
    this.#continue();
    if (!this.dns) await this.#startRedirect();
    this.#continue();
    log.info('vif up', {
      tun: this.tunName,
      routes: req.subnets,
      neverProxy: req.neverProxy,
      vnat: this.vnat.list(),
      dns: this.dns!.address,
      dnsMode: this.#dnsMode,
      nameservers: this.#nameservers,
      host: hostname(),
    });
  }

  /** Routes `subnets` into the TUN, each overlapping one (or one --vnat names) through a virtual
   * subnet; `all` is every subnet the cluster has now (no virtual subnet may overlap one). */
  async #route(subnets: string[], neverProxy: string[], all: string[]): Promise<void> {
    const { req } = this;
    const plan = planVnat({
      subnets,
      existing: await this.routes.list(),
      ourDev: this.tunName,
      allowConflicting: req.allowConflicting,
      force: req.vnat ?? [],
      reserved: [`${TUN_ADDRESS}/32`, ...all, ...req.neverProxy, ...this.vnat.list().map((m) => m.virtual)],
    });
    // The map before the routes: the first packet to a virtual address may follow at once.
    this.vnat.add(plan.mappings);
    if (plan.mappings.length > 0) this.log.info('vnat', { mappings: plan.mappings });
    const throws = plan.mappings.flatMap((m) => this.vnat.neverProxyImages(m));
    await this.routes.apply({
      ifindex: this.#ifindex,
      dev: this.tunName,
      subnets: plan.routed,
      neverProxy,
      allowConflicting: req.allowConflicting,
      throws,
    });
  }

  #dnsOptions(): Omit<LocalDnsOptions, 'upstreams'> {
    const { req, log } = this;
    const session = this.session!;
    return {
      lookup: async (q, signal) => (await session.current(5_000)).call('dns', q, { signal }),
      // VNAT both ways: answers carry the virtual addresses, reverse names of virtual addresses
      // are asked by the real ones.
      mapAnswer: (r) => mapAddresses(r, (ip) => this.vnat.toVirtual(ip)),
      realAddress: (ip) => this.vnat.toReal(ip),
      reverse: this.#reverse(),
      clusterDomain: req.clusterDomain,
      namespaces: req.namespaces,
      include: req.dnsIncludeSuffixes,
      hostSearch: systemSearchDomains(),
      exclude: req.dnsExcludeSuffixes,
      log: log.child({ component: 'dns' }),
    };
  }

  /** The subnets whose reverse names the cluster answers, as the workstation addresses them: what
   * is routed into the TUN (a VNAT subnet by its virtual range) minus the --never-proxy holes. */
  #reverse(): { subnets: string[]; except: string[] } {
    const subnets = this.req.subnets.map((s) => this.vnat.virtualOf(s) ?? s);
    const except = [...this.req.neverProxy, ...this.vnat.list().flatMap((m) => this.vnat.neverProxyImages(m))];
    return { subnets, except };
  }

  #linkDomains() {
    const { req } = this;
    return linkDomains({
      clusterDomain: req.clusterDomain,
      namespace: req.namespace,
      namespaces: req.namespaces,
      include: req.dnsIncludeSuffixes,
      reverseSubnets: this.#reverse().subnets,
    });
  }

  /** resolved asks tp's server through the TUN link, so the server listens on the TUN's own
   * address (resolved.ts says why that reaches it); port 53 if free, for the widest resolved
   * support, else any port. Non-cluster names are relayed to the uplinks resolved itself uses. */
  async #startResolved(ifindex: number): Promise<void> {
    this.#nameservers = uplinkNameservers([TUN_ADDRESS]);
    this.dns = await startLocalDns({ ...this.#dnsOptions(), upstreams: this.#nameservers, listen: { host: TUN_ADDRESS, ports: [53, 0] } });
    this.#state.resolvedLink = { ifindex, name: this.tunName };
    this.stateFile.write(this.#state);
    const { skipped } = await configureLink({ ifindex, server: this.dns.address, domains: this.#linkDomains() });
    if (skipped.length > 0) this.log.info('systemd-resolved lacks some settings; skipped', { skipped });
    this.#dnsMode = 'systemd-resolved';
  }

  async #stopResolved(): Promise<void> {
    const rl = this.#state.resolvedLink;
    if (rl) {
      await revertLink(rl.ifindex).catch((err) =>
        this.log.warn('reverting the systemd-resolved link failed', { err: (err as Error).message }),
      );
      delete this.#state.resolvedLink;
      this.stateFile.write(this.#state);
    }
    await this.dns?.stop().catch(() => {});
    this.dns = undefined;
    this.#nameservers = [];
    this.#dnsMode = 'none';
  }

  async #startRedirect(): Promise<void> {
    this.#nameservers = systemNameservers();
    this.dns = await startLocalDns({ ...this.#dnsOptions(), upstreams: this.#nameservers });
    if (this.#nameservers.length > 0) {
      this.#state.dnsRedirect = true;
      this.stateFile.write(this.#state);
      await installRedirect({ nameservers: this.#nameservers, to: this.dns.address, upstreamSourcePorts: this.dns.upstreamSourcePorts });
      this.#dnsMode = 'iptables';
    }
  }

  /** The cluster's subnets changed (a node joined, a ServiceCIDR was added): route the new ones,
   * drop the gone ones, keep every flow that still has a route. */
  async setSubnets(subnets: string[]): Promise<void> {
    const { add, remove } = subnetChanges(this.req.subnets, subnets);
    if (add.length === 0 && remove.length === 0) return;
    try {
      if (add.length > 0) await this.#route(add, [], subnets);
      for (const r of remove) {
        // The route goes before the mapping: a flow still arriving meanwhile is dialed right.
        const m = this.vnat.virtualOf(r);
        await this.routes.removeSubnets([m ?? r]);
        if (m) {
          await this.routes.removeThrowsWithin(m);
          this.vnat.remove(r);
        }
      }
    } finally {
      this.#state.routes = [...this.routes.added];
      this.stateFile.write(this.#state);
    }
    this.req.subnets = subnets;
    this.log.info('routes updated', { added: add, removed: remove });
    // Reverse lookups follow the routes (issue #16).
    this.dns?.configure({ reverse: this.#reverse() });
    if (this.#dnsMode === 'systemd-resolved' && this.#state.resolvedLink) {
      await setLinkDomains(this.#ifindex, this.#linkDomains()).catch((err) =>
        this.log.warn("updating systemd-resolved's domains failed", { err: (err as Error).message }),
      );
    }
  }

  /** Undoes everything, in reverse order; once, however often it is called. A setup still in
   * progress is stopped at its next step first. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      await this.#teardown();
    })();
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    if (this.#state.dnsRedirect) await removeRedirect().catch((err) => this.log.warn('removing the DNS redirect failed', { err }));
    await this.#stopResolved();
    await this.routes.removeAdded();
    this.routes.close();
    this.stack?.close();
    this.tun?.close();
    // The machine is as it was: nothing is left for a guardian or the next start to undo. The
    // manager's goodbye may take a while and must not hold that up.
    this.stateFile.clear();
    await this.session?.stop();
  }

  status(): VifStatus {
    const st = this.stack?.stats();
    return {
      connected: this.session?.state === 'connected',
      interface: this.tunName,
      mtu: TUN_MTU,
      address: TUN_ADDRESS,
      routes: this.req.subnets,
      neverProxy: this.req.neverProxy,
      vnat: this.vnat.list(),
      ...(this.dns
        ? {
            dns: {
              listen: `${this.dns.address.host}:${this.dns.address.port}`,
              mode: this.#dnsMode,
              upstreams: this.#nameservers,
              clusterDomain: this.req.clusterDomain,
              ...this.dns.counters(),
            },
          }
        : {}),
      flows: {
        tcpActive: st?.tcpFlowsOpen ?? 0,
        tcpTotal: st?.tcpFlowsTotal ?? 0,
        udpActive: st?.udpFlowsOpen ?? 0,
        dialFailures: (st?.dialsRefused ?? 0) + (st?.dialsFailed ?? 0),
      },
      pid: process.pid,
      version: TP_VERSION,
    };
  }
}
