// The workstation's side of engagements (DESIGN.md §2 user daemon, §3 intercept flow): asks the
// manager for one and relays its progress, answers each 'dial' event by opening the paired stream
// and connecting it to the local handler, mounts the app's volumes with sshfs, and cleans up when
// the user leaves, the manager ends it, or the daemon disconnects.
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { DaemonCallError, runtimeDir, type EngageCliRequest, type EngageCliResponse, type LocalEngagement } from '../common/rpc/daemon.js';
import type { EngageEvent, EngageRequest, SessionEvent } from '../common/rpc/manager.js';
import type { Logger } from '../common/log.js';
import type { ManagerSession } from '../proxy/manager-session.js';
import type { TunnelClient } from '../proxy/tunnel/client.js';
import { HEADERS } from '../proxy/tunnel/protocol.js';
import { splice } from '../proxy/tunnel/splice.js';
import { APP_MOUNT_ROOT } from '../common/agent-config.js';
import { mountSftp, type SftpMount } from './mounts.js';

interface Held extends LocalEngagement {
  mount?: SftpMount;
  /** What was asked of the manager, to ask again when the manager forgot the session. */
  request: EngageRequest;
}

export class ClientEngagements {
  readonly #held = new Map<string, Held>();
  readonly #progress = new Map<string, string[]>();
  #watching: TunnelClient | undefined;
  #sessionId: string | undefined;

  constructor(
    private readonly session: ManagerSession,
    private readonly namespace: string,
    private readonly log: Logger,
  ) {
    const onClient = (c: TunnelClient) => {
      this.#watch(c);
      // A new session id means the manager forgot the old one (it restarted, or we slept past
      // the expiry) and with it our engagements: ask for them again, so intercepts come back.
      const renewed = this.#sessionId !== undefined && session.sessionId !== this.#sessionId;
      this.#sessionId = session.sessionId;
      if (renewed && this.#held.size > 0) void this.#reengage(c);
    };
    session.on('client', onClient);
    if (session.client) onClient(session.client);
  }

  async #reengage(client: TunnelClient): Promise<void> {
    for (const held of [...this.#held.values()]) {
      try {
        let active: Extract<EngageEvent, { type: 'active' }> | undefined;
        await client.watch('engage', held.request, (e) => {
          if (e.type === 'active') active = e;
        }).done;
        if (!active) throw new Error('the manager ended it before it was active');
        held.engagement = active.engagement;
        this.log.info('engaged again after the manager forgot the session', { engagement: held.engagement.name });
      } catch (err) {
        this.log.warn('engaging again failed; the engagement is gone', { engagement: held.engagement.name, err: (err as Error).message });
        await this.#release(held);
      }
    }
  }

  #watch(client: TunnelClient): void {
    if (this.#watching === client) return;
    this.#watching = client;
    const h = client.watch('sessionEvents', {}, (e) => this.#onEvent(client, e));
    h.done.catch((err) => this.log.debug('session event watch ended', { err: (err as Error).message }));
  }

  #onEvent(client: TunnelClient, e: SessionEvent): void {
    if (e.type === 'ended') {
      const held = [...this.#held.values()].find((h) => h.engagement.id === e.engagementId);
      if (held) {
        this.log.info('the traffic manager ended an engagement', { engagement: held.engagement.name, reason: e.reason });
        void this.#release(held);
      }
      return;
    }
    void this.#answerDial(client, e);
  }

  async #answerDial(client: TunnelClient, e: Extract<SessionEvent, { type: 'dial' }>): Promise<void> {
    const held = [...this.#held.values()].find((h) => h.engagement.id === e.engagementId);
    const fwd = held?.forwards.find((f) => f.remote === e.port);
    let stream: Duplex;
    try {
      // Answer first (the agent's side waits); a local handler that refuses then resets it.
      stream = await client.dialTcp('127.0.0.1', fwd?.local ?? e.port, AbortSignal.timeout(10_000), { [HEADERS.rendezvous]: e.token });
    } catch (err) {
      this.log.debug('answering an intercepted connection failed', { engagement: e.engagementId, err: (err as Error).message });
      return;
    }
    if (!fwd) {
      stream.destroy();
      return;
    }
    const local = createConnection({ host: fwd.address, port: fwd.local });
    local.setNoDelay(true);
    local.once('connect', () => void splice(stream as Http2Stream, local));
    local.once('error', (err) => {
      this.log.info('the local handler refused an intercepted connection', { engagement: held!.engagement.name, address: `${fwd.address}:${fwd.local}`, peer: e.peer, err: err.message });
      stream.destroy();
    });
  }

  progress(name: string): string[] {
    return this.#progress.get(name) ?? [];
  }

  list(): LocalEngagement[] {
    return [...this.#held.values()].map(({ mount: _m, request: _r, ...l }) => l);
  }

  async engage(req: EngageCliRequest): Promise<EngageCliResponse> {
    const client = await this.session.current(5_000).catch(() => {
      throw new DaemonCallError('E_NOT_CONNECTED', 'the traffic manager is unreachable right now', 'see `tp status`');
    });
    this.#watch(client);
    const name = req.name ?? req.workload;
    if (this.#held.has(name)) throw new DaemonCallError('E_ENGAGEMENT_EXISTS', `an engagement named ${name} already exists`, `run \`tp leave ${name}\` first, or pass --name`);
    const remotes = req.ports.map((p) => p.remote).filter((r): r is string => r !== undefined);
    if (remotes.length < req.ports.length && req.ports.length > 1) {
      throw new DaemonCallError('E_FLAG', 'with several --port flags each needs its REMOTE part (LOCAL:REMOTE)', 'for example --port 8080:http --port 9090:9090');
    }
    const messages: string[] = [];
    this.#progress.set(name, messages);
    let active: Extract<EngageEvent, { type: 'active' }> | undefined;
    const request: EngageRequest = {
      kind: req.kind, workload: req.workload, namespace: req.namespace || this.namespace, name, remotePorts: remotes,
      ...(req.container ? { container: req.container } : {}), ...(req.filter ? { filter: req.filter } : {}), ...(req.timeoutMs ? { timeoutMs: req.timeoutMs } : {}),
    };
    try {
      const w = client.watch('engage', request, (e) => {
        if (e.type === 'progress') messages.push(e.message);
        else active = e;
      });
      await w.done;
    } finally {
      setTimeout(() => this.#progress.delete(name), 5_000).unref();
    }
    if (!active) throw new DaemonCallError('E_ENGAGE', `the traffic manager ended engagement ${name} before it was active`);
    const info = active.engagement;
    const address = req.address ?? '127.0.0.1';
    const forwards = info.ports.map((p, i) => {
      const asked = req.ports.find((x) => x.remote !== undefined && (x.remote === String(p.port) || x.remote === p.name)) ?? (req.ports.length === 1 && req.ports[0]!.remote === undefined && i === 0 ? req.ports[0] : undefined);
      return { remote: p.port, ...(p.name ? { name: p.name } : {}), address, local: asked?.local ?? p.port };
    });
    const held: Held = { engagement: info, forwards, agentPod: active.agentPod, request };
    this.#held.set(name, held);
    if (req.mount !== false && active.mounts.length > 0) {
      try {
        const dir = req.mount || join(runtimeDir(), 'mounts', name);
        held.mount = await mountSftp({
          dir,
          remotePath: `${APP_MOUNT_ROOT}/${info.container}`,
          readOnly: info.kind === 'ingest' || info.kind === 'wiretap',
          open: async () => (await this.session.current(5_000)).dialTcp('127.0.0.1', 22, AbortSignal.timeout(15_000), { [HEADERS.sftp]: info.id }),
          log: this.log,
        });
        held.mountPoint = held.mount.dir;
        void held.mount.closed.then(() => {
          if (held.mountPoint) this.log.info('the mount of an engagement ended', { engagement: name, dir: held.mountPoint });
        });
      } catch (err) {
        await this.leave(name).catch(() => {});
        const e = err as { code?: string; message: string; hint?: string };
        throw new DaemonCallError(e.code?.startsWith('E_') ? e.code : 'E_MOUNT_FAILED', `mounting the volumes of ${name} failed: ${e.message}`, e.hint ?? 'pass --mount false to engage without them');
      }
    }
    this.log.info('engaged', { engagement: name, kind: info.kind, workload: info.workload.name, forwards, mount: held.mountPoint });
    return { ...this.list().find((l) => l.engagement.name === name)!, env: active.env };
  }

  async leave(name: string): Promise<LocalEngagement['engagement']> {
    const client = await this.session.current(5_000).catch(() => undefined);
    const held = this.#held.get(name);
    let engagement = held?.engagement;
    if (client) {
      try {
        engagement = (await client.call('leave', { name })).engagement;
      } catch (err) {
        if (!held) throw err;
      }
    }
    if (held) await this.#release(held);
    if (!engagement) throw new DaemonCallError('E_NO_ENGAGEMENT', `no engagement named ${name}`, 'see `tp list`');
    return engagement;
  }

  async #release(held: Held): Promise<void> {
    this.#held.delete(held.engagement.name);
    const m = held.mount;
    delete held.mountPoint;
    await m?.unmount().catch((err) => this.log.warn('unmounting failed', { dir: m.dir, err }));
  }

  /** On disconnect: the manager ends the engagements with the session; mounts go here. */
  async closeAll(): Promise<void> {
    for (const h of [...this.#held.values()]) await this.#release(h);
  }
}
