// A daemon's connection to the traffic manager (the user daemon's, and the root daemon's):
// port-forward → HTTP/2 tunnel → hello with the session's secret, then heartbeats and the
// cluster-info watch. When the port-forward or the manager goes away it reconnects by itself
// (finding the manager's new pod) with the same secret, so the session — and with it every
// engagement — survives; users never reconnect by hand. If the manager says the session is gone
// (it expired while the laptop slept, an admin deleted it), `renew` makes a new one. Flows ask for
// the tunnel through `dialer`, which waits briefly for a reconnection instead of failing at once.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { TunnelClient } from './tunnel/client.js';
import { DialError, type Dialer, type UdpFlow } from './dialer.js';
import type { ClusterInfo, ManagerApi } from '../common/rpc/manager.js';
import type { ConnectionState } from '../common/rpc/daemon.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
/** The manager pod a session reached, when the opener knows it (for `tp status`). */
export interface ManagerPod {
  name: string;
  namespace: string;
  ip?: string;
}

/** Which Session a connection authenticates as: the object's name and the secret only this
 * workstation knows (never logged). */
export interface SessionCredentials {
  session: string;
  secret: string;
}

/** Opens one byte stream to the manager's client API: a kube port-forward in the user daemon,
 * the user daemon's relay in the root daemon. */
export type ManagerOpener = () => Promise<{ socket: Duplex; pod?: ManagerPod; route?: string }>;

export interface ManagerSessionOptions {
  open: ManagerOpener;
  /** Who we are in the manager's logs: 'client' for the user daemon, 'root' for the root daemon. */
  peer?: 'client' | 'root';
  namespace: string;
  /** `--mapped-namespaces`, sent with every hello (issue #16). */
  mappedNamespaces?: string[];
  /** The session to authenticate as (read at every connection: it may have been renewed). */
  credentials: () => SessionCredentials;
  /** Called when the manager no longer knows the session: makes a new one (the user daemon
   * creates a Session object) and returns its credentials. Without it, reconnection retries with
   * whatever credentials() returns next. */
  renew?: () => Promise<SessionCredentials>;
  log: Logger;
  /** How long a flow waits for a reconnection before it fails. */
  dialWaitMs?: number;
}

/** Events: 'state' (ConnectionState), 'clusterInfo' (ClusterInfo), 'client' (TunnelClient) after each (re)connection. */
export class ManagerSession extends EventEmitter {
  state: ConnectionState = 'disconnected';
  client: TunnelClient<ManagerApi> | undefined;
  pod: ManagerPod | undefined;
  /** How the connection reached the manager (port-forward, or the direct route), for `tp status`. */
  route: string | undefined;
  /** Who the manager says the session belongs to. */
  owner: string | undefined;
  managerVersion: string | undefined;
  clusterInfo: ClusterInfo | undefined;
  lastError: string | undefined;
  reconnects = 0;
  #stopped = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  constructor(private readonly opts: ManagerSessionOptions) {
    super();
  }

  /** The first connection: fails with the reason (no manager, unreachable cluster...), so that
   * `tp connect` can tell the user; later losses are repaired in the background. */
  async start(): Promise<void> {
    this.#setState('connecting');
    await this.#connectOnce();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#retry);
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => {});
    this.#setState('disconnected');
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Ends the session for good (tp quit): the manager deletes it and its engagements. */
  async depart(): Promise<void> {
    const c = this.client;
    if (c && !c.closed) await c.call('depart', {}, { signal: AbortSignal.timeout(5000) });
  }

  async #connectOnce(): Promise<void> {
    const { log } = this.opts;
    const { socket, pod, route } = await this.opts.open();
    let client: TunnelClient<ManagerApi>;
    try {
      client = await TunnelClient.connect<ManagerApi>({ socket, peer: this.opts.peer ?? 'client', connectTimeoutMs: 15_000 });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    let hello;
    try {
      hello = await this.#hello(client, this.opts.credentials());
    } catch (err) {
      if ((err as { code?: string }).code !== 'E_SESSION_UNKNOWN' || !this.opts.renew) {
        await client.close();
        throw err;
      }
      // The manager forgot us (the session expired while we slept, or someone deleted it).
      log.warn('the traffic manager does not know this session any more; starting a new one', { err: (err as Error).message });
      try {
        hello = await this.#hello(client, await this.opts.renew());
      } catch (err2) {
        await client.close();
        throw err2;
      }
      this.emit('renewed');
    }
    const version = await client.call('managerVersion', {});
    this.clusterInfo = await client.call('clusterInfo', {});
    this.client = client;
    if (pod) this.pod = pod;
    this.route = route;
    this.owner = hello.owner;
    this.managerVersion = version.version;
    this.lastError = undefined;
    log.info('connected to the traffic manager', {
      pod: pod?.name,
      session: this.opts.credentials().session,
      owner: hello.owner,
      managerVersion: version.version,
    });
    this.emit('clusterInfo', this.clusterInfo);
    this.#watchClusterInfo(client);
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => void this.#beat(client), hello.heartbeatIntervalMs);
    this.#heartbeat.unref();
    client.once('close', (err?: Error) => this.#lost(client, err));
    this.#setState('connected');
    this.emit('client', client);
    for (const w of this.#waiters.splice(0)) w();
  }

  #hello(client: TunnelClient<ManagerApi>, c: SessionCredentials) {
    const mapped = this.opts.mappedNamespaces;
    return client.call('hello', {
      session: c.session,
      secret: c.secret,
      peer: this.opts.peer ?? 'client',
      namespace: this.opts.namespace,
      version: TP_VERSION,
      ...(mapped?.length ? { mappedNamespaces: mapped } : {}),
    });
  }

  #watchClusterInfo(client: TunnelClient<ManagerApi>): void {
    const h = client.watch('clusterInfo', {}, (info) => {
      this.clusterInfo = info;
      this.emit('clusterInfo', info);
    });
    h.done.catch(() => {});
  }

  async #beat(client: TunnelClient<ManagerApi>): Promise<void> {
    if (client !== this.client) return;
    try {
      await client.call('heartbeat', {}, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'E_SESSION_UNKNOWN') {
        // The session ended under us (expired, deleted): reconnecting says hello again, and
        // renews it if the manager still does not know it.
        this.opts.log.warn('the traffic manager ended this session; reconnecting');
        void client.close();
      }
    }
  }

  #lost(client: TunnelClient<ManagerApi>, err?: Error): void {
    if (client !== this.client) return;
    this.client = undefined;
    clearInterval(this.#heartbeat);
    if (this.#stopped) return;
    this.lastError = err?.message ?? 'the connection to the traffic manager closed';
    this.opts.log.warn('lost the traffic manager; reconnecting', { err: this.lastError });
    this.#setState('reconnecting');
    this.#scheduleReconnect(250);
  }

  #scheduleReconnect(delayMs: number): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.#connectOnce();
        this.reconnects++;
      } catch (err) {
        this.lastError = (err as Error).message;
        this.opts.log.debug('reconnect failed', { err: this.lastError });
        this.#scheduleReconnect(Math.min(delayMs * 2, 5_000));
      }
    }, delayMs);
  }

  #setState(s: ConnectionState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /** The current tunnel client, waiting up to `ms` for a reconnection. */
  async current(ms: number): Promise<TunnelClient<ManagerApi>> {
    const deadline = Date.now() + ms;
    while (!this.client || this.client.closed) {
      if (this.#stopped) throw new DialError('other', 'tp is disconnected from the cluster');
      const left = deadline - Date.now();
      if (left <= 0) throw new DialError('unreachable', `the traffic manager is unreachable: ${this.lastError ?? 'reconnecting'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.client;
  }

  /** A Dialer over whatever tunnel is current; what the SOCKS proxy and the netstack use. */
  readonly dialer: Dialer = {
    dialTcp: async (host: string, port: number, signal?: AbortSignal): Promise<Duplex> =>
      (await this.current(this.opts.dialWaitMs ?? 10_000)).dialTcp(host, port, signal),
    dialUdp: async (host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> =>
      (await this.current(this.opts.dialWaitMs ?? 10_000)).dialUdp(host, port, signal),
  };
}
