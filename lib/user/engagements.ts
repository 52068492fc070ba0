// The workstation's side of engagements (DESIGN.md §2 user daemon, §3 intercept flow, §6). To
// engage, the daemon creates an Engagement object in the workload's namespace with the user's own
// credentials (RBAC decides; admission checks the owner), then follows its progress on the
// manager's `engagement` watch. It answers each 'dial' event by opening a PAIR stream and
// connecting it to the local handler, mounts the app's volumes with sshfs, and cleans up when the
// user leaves (it deletes the object), when someone else ends it (an admin's `kubectl delete`,
// the session's expiry: the manager says who), or when the daemon disconnects.
import * as k8s from '@kubernetes/client-node';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { codeOf } from '../common/errors.js';
import {
  DaemonCallError,
  runtimeDir,
  type EndedEngagement,
  type EngageCliRequest,
  type EngageCliResponse,
  type LocalEngagement,
} from '../common/rpc/daemon.js';
import { CLIENT_STREAMS, pairPath, sftpPath, type EngagementEvent, type ManagerApi, type SessionEvent } from '../common/rpc/manager.js';
import type { EngagementInfo } from '../common/rpc/engagement.js';
import {
  ENGAGEMENTS,
  MANAGER_LABEL,
  SESSION_LABEL,
  TP_API_VERSION,
  TP_GROUP,
  TP_VERSION_V1,
  nameFragment,
  type EngagementObject,
} from '../common/objects.js';
import type { Logger } from '../common/log.js';
import type { ManagerSession } from '../proxy/manager-session.js';
import type { TunnelClient } from '../proxy/tunnel/client.js';
import { splice } from '../proxy/splice.js';
import { APP_MOUNT_ROOT } from '../common/agent-config.js';
import { mountSftp, type SftpMount } from './mounts.js';
import { kubeFailure } from './kube.js';
import type { OwnSession } from './identity.js';

interface Held extends LocalEngagement {
  mount?: SftpMount;
  /** What was asked, to ask again when the session had to be renewed. */
  request: EngageCliRequest;
}

/** Engagements ended by someone else are remembered this long, for `tp list` and `tp status`. */
const ENDED_KEPT_MS = 10 * 60_000;

const statusOf = (err: unknown) => (err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code);
function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const o = typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string } | undefined);
    if (o?.message) return o.message;
  } catch {
    // not JSON
  }
  return (err as Error).message?.split('\n')[0] ?? String(err);
}

export interface ClientEngagementsDeps {
  session: ManagerSession;
  kc: k8s.KubeConfig;
  /** The connected namespace (default for -n). */
  namespace: string;
  managerNamespace: string;
  own: () => OwnSession;
  log: Logger;
}

export class ClientEngagements {
  /** By object name. */
  readonly #held = new Map<string, Held>();
  /** The name the CLI used (--name or the workload) → the object's name, while setting up. */
  readonly #aliases = new Map<string, string>();
  readonly #progress = new Map<string, string[]>();
  readonly #ended: EndedEngagement[] = [];
  #watching: TunnelClient<ManagerApi> | undefined;
  readonly #api: k8s.CustomObjectsApi;

  constructor(private readonly d: ClientEngagementsDeps) {
    this.#api = d.kc.makeApiClient(k8s.CustomObjectsApi);
    d.session.on('client', (c: TunnelClient<ManagerApi>) => this.#watch(c));
    // A new session means the old one and its engagements are gone: engage again, so intercepts
    // come back by themselves.
    d.session.on('renewed', () => void this.#reengage());
    if (d.session.client) this.#watch(d.session.client);
  }

  async #reengage(): Promise<void> {
    for (const held of [...this.#held.values()]) {
      await this.#release(held);
      try {
        await this.engage({ ...held.request, name: held.engagement.name });
        this.d.log.info('engaged again with a new session', { engagement: held.engagement.name });
      } catch (err) {
        this.d.log.warn('engaging again failed; the engagement is gone', { engagement: held.engagement.name, err: (err as Error).message });
        this.#remember(held.engagement, 'engaging again with a new session failed');
      }
    }
  }

  #watch(client: TunnelClient<ManagerApi>): void {
    if (this.#watching === client) return;
    this.#watching = client;
    const h = client.watch('sessionEvents', {}, (e) => this.#onEvent(client, e));
    h.done.catch((err) => this.d.log.debug('session event watch ended', { err: (err as Error).message }));
  }

  #onEvent(client: TunnelClient<ManagerApi>, e: SessionEvent): void {
    if (e.type === 'ended') {
      const held = [...this.#held.values()].find((h) => h.engagement.id === e.engagementId);
      if (held) {
        this.d.log.info('an engagement ended', { engagement: held.engagement.name, reason: e.reason, by: e.by });
        this.#remember(held.engagement, e.reason, e.by);
        void this.#release(held);
      }
      return;
    }
    void this.#answerDial(client, e);
  }

  #remember(e: EngagementInfo, reason: string, by?: string): void {
    const t = Date.now();
    while (this.#ended.length && (t - Date.parse(this.#ended[0]!.at) > ENDED_KEPT_MS || this.#ended.length > 50)) this.#ended.shift();
    this.#ended.push({
      name: e.name,
      namespace: e.workload.namespace,
      kind: e.kind,
      workload: e.workload.name,
      reason,
      ...(by ? { by } : {}),
      at: new Date(t).toISOString(),
    });
  }

  async #answerDial(client: TunnelClient<ManagerApi>, e: Extract<SessionEvent, { type: 'dial' }>): Promise<void> {
    const held = [...this.#held.values()].find((h) => h.engagement.id === e.engagementId);
    const fwd = held?.forwards.find((f) => f.remote === e.port);
    let stream: Duplex;
    try {
      // Answer first (the agent's side waits); a local handler that refuses then resets it.
      stream = await client.openStream(CLIENT_STREAMS.pair, pairPath(e.token), AbortSignal.timeout(10_000));
    } catch (err) {
      this.d.log.debug('answering an intercepted connection failed', { engagement: e.engagementId, err: (err as Error).message });
      return;
    }
    if (!fwd) {
      stream.destroy();
      return;
    }
    // allowHalfOpen: the handler's FIN must end only its direction (END_STREAM), not ours.
    const local = createConnection({ host: fwd.address, port: fwd.local, allowHalfOpen: true });
    local.setNoDelay(true);
    const refused = (err: Error) => {
      this.d.log.info('the local handler refused an intercepted connection', {
        engagement: held!.engagement.name,
        address: `${fwd.address}:${fwd.local}`,
        peer: e.peer,
        err: err.message,
      });
      stream.destroy();
    };
    local.once('error', refused);
    local.once('connect', () => {
      // From here an error is a reset mid-connection: the splice passes it on as RST_STREAM.
      local.off('error', refused);
      void splice(stream, local);
    });
  }

  progress(name: string): string[] {
    return this.#progress.get(name) ?? [];
  }

  list(): LocalEngagement[] {
    return [...this.#held.values()].map(({ mount: _m, request: _r, ...l }) => l);
  }

  ended(): EndedEngagement[] {
    return [...this.#ended];
  }

  async engage(req: EngageCliRequest): Promise<EngageCliResponse> {
    const client = await this.d.session.current(5_000).catch(() => {
      throw new DaemonCallError('E_NOT_CONNECTED', 'the traffic manager is unreachable right now', 'see `tp status`');
    });
    this.#watch(client);
    const asked = req.name ?? req.workload;
    if (
      this.#held.has(asked) ||
      this.#aliases.has(asked) ||
      [...this.#held.values()].some((h) => (h.request.name ?? h.request.workload) === asked)
    )
      throw new DaemonCallError(
        'E_ENGAGEMENT_EXISTS',
        `an engagement named ${asked} already exists`,
        `run \`tp leave ${asked}\` first, or pass --name`,
      );
    const remotes = req.ports.map((p) => p.remote).filter((r): r is string => r !== undefined);
    if (remotes.length < req.ports.length && req.ports.length > 1) {
      throw new DaemonCallError(
        'E_FLAG',
        'with several --port flags each needs its REMOTE part (LOCAL:REMOTE)',
        'for example --port 8080:http --port 9090:9090',
      );
    }
    const namespace = req.namespace || this.d.namespace;
    const messages: string[] = [];
    this.#progress.set(asked, messages);
    let obj: EngagementObject;
    try {
      obj = await this.#create(req, namespace, asked, remotes);
      this.#aliases.set(asked, obj.metadata.name!);
    } catch (err) {
      this.#progress.delete(asked);
      throw err;
    }
    const name = obj.metadata.name!;
    let active: Extract<EngagementEvent, { type: 'active' }> | undefined;
    try {
      const w = client.watch('engagement', { namespace, name, ...(req.timeoutMs ? { timeoutMs: req.timeoutMs } : {}) }, (e) => {
        if (e.type === 'progress') messages.push(e.message);
        else {
          active = e;
          w.cancel(); // active: the setup is done; 'ended' arrives on sessionEvents
        }
      });
      await w.done;
      if (!active) throw new DaemonCallError('E_ENGAGE', `the traffic manager ended engagement ${name} before it was active`);
    } catch (err) {
      // A refused or timed-out engagement leaves no object behind.
      await this.#deleteObject(namespace, name).catch(() => {});
      const e = err as { code?: string; message: string; hint?: string };
      throw e instanceof DaemonCallError ? e : new DaemonCallError(codeOf(e) ?? 'E_ENGAGE', e.message, e.hint);
    } finally {
      this.#aliases.delete(asked);
      setTimeout(() => this.#progress.delete(asked), 5_000).unref();
    }
    const info = active.engagement;
    const address = req.address ?? '127.0.0.1';
    const forwards = info.ports.map((p, i) => {
      const match =
        req.ports.find((x) => x.remote !== undefined && (x.remote === String(p.port) || x.remote === p.name)) ??
        (req.ports.length === 1 && req.ports[0]!.remote === undefined && i === 0 ? req.ports[0] : undefined);
      return { remote: p.port, ...(p.name ? { name: p.name } : {}), address, local: match?.local ?? p.port };
    });
    const held: Held = { engagement: info, forwards, agentPod: active.agentPod, request: req };
    this.#held.set(name, held);
    // The manager's (issue #13: TLS already seen on a filtered intercept's port), then ours.
    const warnings: string[] = [...(active.warnings ?? [])];
    if (req.mount !== false && active.mounts.length > 0) {
      try {
        const dir = req.mount || join(runtimeDir(), 'mounts', name);
        held.mount = await mountSftp({
          dir,
          remotePath: `${APP_MOUNT_ROOT}/${info.container}`,
          readOnly: info.kind === 'ingest' || info.kind === 'wiretap',
          open: async () =>
            (await this.d.session.current(5_000)).openStream(CLIENT_STREAMS.sftp, sftpPath(namespace, name), AbortSignal.timeout(15_000)),
          log: this.d.log,
        });
        held.mountPoint = held.mount.dir;
        void held.mount.closed.then(() => {
          if (held.mountPoint) this.d.log.info('the mount of an engagement ended', { engagement: name, dir: held.mountPoint });
        });
      } catch (err) {
        // The volumes are an extra (issue #15): the engagement stays; the user learns why there is
        // no mount and what to do, and can leave and engage again once it is fixed.
        const e = err as { code?: string; message: string; hint?: string };
        const warning = `the volumes of ${name} are not mounted: ${e.message.replace(/\.$/, '')}; ${e.hint ?? 'pass --mount false to engage without them'}`;
        this.d.log.warn('mount failed; the engagement stays', { engagement: name, code: e.code, err: e.message });
        warnings.push(warning);
      }
    }
    this.d.log.info('engaged', { engagement: name, kind: info.kind, workload: info.workload.name, forwards, mount: held.mountPoint });
    return { ...this.list().find((l) => l.engagement.name === name)!, env: active.env, ...(warnings.length ? { warnings } : {}) };
  }

  /** Creates the Engagement object. Without --name, a name another user already took becomes
   * `<workload>-<user>`, so teammates intercepting one workload with filters need no flags. */
  async #create(req: EngageCliRequest, namespace: string, asked: string, remotes: string[]): Promise<EngagementObject> {
    const own = this.d.own();
    const body = (name: string): EngagementObject => ({
      apiVersion: TP_API_VERSION,
      kind: 'Engagement',
      metadata: { name, namespace, labels: { [SESSION_LABEL]: own.session, [MANAGER_LABEL]: this.d.managerNamespace } },
      spec: {
        type: req.kind,
        workload: { name: req.workload },
        ...(req.container ? { container: req.container } : {}),
        ports: remotes,
        ...(req.filter ? { filter: req.filter } : {}),
        owner: own.owner,
        session: { name: own.session, namespace: this.d.managerNamespace },
      },
    });
    const candidates = req.name ? [asked] : [asked, `${asked}-${nameFragment(own.owner.username)}`.slice(0, 63).replace(/-+$/, '')];
    for (let i = 0; i < candidates.length; i++) {
      const name = candidates[i]!;
      try {
        return (await this.#api.createNamespacedCustomObject({
          group: TP_GROUP,
          version: TP_VERSION_V1,
          namespace,
          plural: ENGAGEMENTS.plural,
          body: body(name),
        })) as EngagementObject;
      } catch (err) {
        if (statusOf(err) === 409 && i + 1 < candidates.length) continue;
        throw await this.#createError(err, namespace, name, own.owner.username);
      }
    }
    throw new DaemonCallError('E_ENGAGE', 'no free engagement name'); // not reached
  }

  async #createError(err: unknown, namespace: string, name: string, user: string): Promise<DaemonCallError> {
    const code = statusOf(err);
    const msg = apiMessage(err);
    if (code === 409) {
      const other = await this.#get(namespace, name).catch(() => undefined);
      const whose = other ? ` (${other.spec.owner.username}'s ${other.spec.type} of ${other.spec.workload.name})` : '';
      return new DaemonCallError(
        'E_ENGAGEMENT_EXISTS',
        `an engagement named ${name} already exists in namespace ${namespace}${whose}`,
        'pass --name to choose another name',
      );
    }
    if (code === 403) {
      if (/denied request|owner/i.test(msg)) return new DaemonCallError('E_FORBIDDEN', `the cluster refused the engagement: ${msg}`);
      return new DaemonCallError(
        'E_FORBIDDEN',
        `${user} may not engage workloads in namespace ${namespace}: creating engagements.tp.dev there is forbidden`,
        `ask your cluster admin for the tp-user role in that namespace: kubectl -n ${namespace} create rolebinding tp-user-${nameFragment(user)} --clusterrole=tp-user --user=${user}`,
      );
    }
    if (code === 404 && /namespaces "[^"]+" not found/.test(msg))
      return new DaemonCallError(
        'E_KUBE_NO_NAMESPACE',
        `namespace ${namespace} does not exist`,
        'check -n/--namespace (`kubectl get namespaces` lists them)',
      );
    if (code === 404)
      return new DaemonCallError(
        'E_NO_MANAGER',
        `the cluster does not know engagements.tp.dev (${msg})`,
        'install or upgrade the traffic manager with `tp helm upgrade --install`',
      );
    if (code === 422) return new DaemonCallError('E_FLAG', `the cluster refused the engagement: ${msg}`);
    const f = kubeFailure(
      err,
      { kc: this.d.kc, context: this.d.kc.getCurrentContext() },
      { verb: 'create', resource: 'engagements.tp.dev', namespace },
    );
    return f instanceof DaemonCallError ? f : new DaemonCallError('E_CLUSTER', `creating the engagement failed: ${msg}`);
  }

  async #get(namespace: string, name: string): Promise<EngagementObject | undefined> {
    try {
      return (await this.#api.getNamespacedCustomObject({
        group: TP_GROUP,
        version: TP_VERSION_V1,
        namespace,
        plural: ENGAGEMENTS.plural,
        name,
      })) as EngagementObject;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async #deleteObject(namespace: string, name: string): Promise<void> {
    try {
      await this.#api.deleteNamespacedCustomObject({
        group: TP_GROUP,
        version: TP_VERSION_V1,
        namespace,
        plural: ENGAGEMENTS.plural,
        name,
      });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /** Ends an engagement: ours by deleting its object; someone else's is refused with who owns it. */
  async leave(asked: string, namespace?: string): Promise<EngagementInfo> {
    // By the object's name, or by the name this daemon was asked to engage as (`tp intercept echo`
    // then `tp leave echo`, even when the object had to be called echo-<user>).
    const name =
      this.#aliases.get(asked) ??
      (this.#held.has(asked)
        ? asked
        : ([...this.#held.values()].find((h) => (h.request.name ?? h.request.workload) === asked)?.engagement.name ?? asked));
    const held = this.#held.get(name);
    const ns = held?.engagement.workload.namespace ?? namespace ?? this.d.namespace;
    if (held) {
      await this.#deleteObject(ns, name).catch((err) => {
        throw new DaemonCallError(
          'E_CLUSTER',
          `deleting engagement ${name} failed: ${apiMessage(err)}`,
          'retry, or `kubectl delete engagement` it',
        );
      });
      await this.#release(held);
      return held.engagement;
    }
    const obj = await this.#get(ns, name).catch((err) => {
      throw new DaemonCallError('E_CLUSTER', `reading engagement ${name} in namespace ${ns} failed: ${apiMessage(err)}`);
    });
    if (!obj)
      throw new DaemonCallError('E_NO_ENGAGEMENT', `no engagement named ${name} in namespace ${ns}`, 'see `tp list`, or pass -n NAMESPACE');
    const me = this.d.own().owner.username;
    if (obj.spec.owner.username !== me) {
      throw new DaemonCallError(
        'E_NOT_YOURS',
        `${name} belongs to ${obj.spec.owner.username}; ask them or an admin (kubectl delete engagement ${name} -n ${ns})`,
      );
    }
    // Ours, from an earlier session (a daemon that crashed): delete it.
    await this.#deleteObject(ns, name);
    return {
      id: obj.metadata.uid ?? '',
      name,
      kind: obj.spec.type,
      owner: me,
      client: obj.spec.session.name,
      workload: { kind: 'Deployment', name: obj.spec.workload.name, namespace: ns },
      container: obj.status?.container ?? obj.spec.container ?? '',
      ports: [],
      state: 'active',
      createdAt: String(obj.metadata.creationTimestamp ?? ''),
    };
  }

  async #release(held: Held): Promise<void> {
    this.#held.delete(held.engagement.name);
    const m = held.mount;
    delete held.mountPoint;
    await m?.unmount().catch((err) => this.d.log.warn('unmounting failed', { dir: m.dir, err }));
  }

  /** On disconnect: the manager ends the engagements with the session; mounts go here. */
  async closeAll(): Promise<void> {
    for (const h of [...this.#held.values()]) await this.#release(h);
  }
}
