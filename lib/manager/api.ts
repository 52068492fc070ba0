// The client API of the traffic manager (lib/common/rpc/manager.ts is its seam): registers every
// call, watch and stream kind on a TunnelServer. A connection is nobody until its hello presents a
// Session's secret; from then on every stream of the connection acts for that session alone —
// there is no session id on the wire that another client could present.
import type { Owner } from '../common/objects.js';
import { CLIENT_STREAMS, managerApi, notMappedRefusal, parseStreamPath, type ManagerApi } from '../common/rpc/manager.js';
import type { Dialer } from '../proxy/dialer.js';
import { DialError } from '../proxy/dialer.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { TUNNEL_PROTOCOL_VERSION } from '../proxy/tunnel/protocol.js';
import { TunnelServer, type PeerConnection, type TunnelServerLimits } from '../proxy/tunnel/server.js';
import type { ClusterInfoSource } from './cluster-info.js';
import { NamespaceAccess, type ClusterResolver, type DnsScope } from './dns.js';
import type { EngagementController } from './engagement-controller.js';
import { workloadKey } from './engagements.js';
import { kubeError } from './kube-errors.js';
import { HEARTBEAT_INTERVAL_MS, type LiveSession, type SessionStore } from './sessions.js';
import { SessionDialer } from './session-dialer.js';
import type { Workload } from '../common/rpc/manager.js';

/** May this user do this in this namespace? (SubjectAccessReview in the cluster; a fake in tests.) */
export interface Authorizer {
  can(owner: Owner, check: { verb: string; group: string; resource: string; namespace: string }): Promise<boolean>;
}

export interface ManagerApiDeps {
  sessions: SessionStore;
  clusterInfo: ClusterInfoSource;
  resolver: ClusterResolver;
  direct: Dialer;
  engagements: EngagementController;
  authorizer: Authorizer;
  listWorkloads: (namespace: string) => Promise<Workload[]>;
  /** Every namespace of the cluster, read with the manager's rights (the `namespaces` call
   * filters them for the session). Without it the call knows only the session's own. */
  listNamespaces?: () => Promise<string[]>;
  limits?: Partial<TunnelServerLimits>;
  /** Why sessions cannot be served right now (the owner policy is missing), if so. */
  refusal?: () => string | undefined;
  log: Logger;
}

/** What a client connection proved at hello. */
export interface ClientAuth {
  session: LiveSession;
  peer: 'client' | 'root';
  dialer: SessionDialer;
}

export type ClientServer = TunnelServer<ManagerApi, ClientAuth>;

const stateWord = { replace: 'replaced', ingest: 'ingested', wiretap: 'wiretapped', intercept: 'intercepted' } as const;

/** Namespace checks of the `namespaces` call at once: one review each, bounded in flight. */
const NAMESPACE_CHECKS_IN_FLIGHT = 16;

/** The refusal for a namespace outside the session's mapped namespaces (issue #16). */
function notMapped(namespace: string, mapped: readonly string[]): TunnelCallError {
  const r = notMappedRefusal(namespace, mapped);
  return new TunnelCallError(r.code, r.message, 403, r.hint);
}

export function createManagerApi(deps: ManagerApiDeps): ClientServer {
  const { sessions, engagements, log } = deps;
  // Who may see names where (issue #16): the owner may `get services` in the namespace.
  const access = new NamespaceAccess((owner, namespace) =>
    deps.authorizer.can(owner, { verb: 'get', group: '', resource: 'services', namespace }),
  );
  // The mapped namespaces a session's hello named, kept with the session (both of its peers send
  // them; the latest hello wins). Gone with the session object.
  const mappedOf = new WeakMap<LiveSession, string[]>();
  const scopeOf = (s: LiveSession): DnsScope => ({
    namespace: s.namespace,
    allows: async (ns) => {
      const mapped = mappedOf.get(s);
      if (mapped && !mapped.includes(ns)) return false;
      return access.allows(s.owner, ns);
    },
  });
  const requireMapped = (s: LiveSession, namespace: string) => {
    const mapped = mappedOf.get(s);
    if (mapped && !mapped.includes(namespace)) throw notMapped(namespace, mapped);
  };
  const authOf = (conn: PeerConnection<ClientAuth>): ClientAuth => {
    const a = conn.auth;
    // The session may have ended (expired, deleted by an admin) while the connection stayed.
    if (!a || sessions.get(a.session.name) !== a.session) {
      throw new TunnelCallError(
        'E_SESSION_UNKNOWN',
        'the traffic manager does not know this session any more (it expired or was deleted)',
        401,
        'tp reconnects by itself; run `tp status`',
      );
    }
    return a;
  };

  const server: ClientServer = new TunnelServer<ManagerApi, ClientAuth>({
    api: managerApi,
    ...(deps.limits ? { limits: deps.limits } : {}),
    // Flows dial from inside the cluster, resolving names in the session's namespace.
    dialer: (ctx) => {
      try {
        return authOf(ctx.conn).dialer;
      } catch {
        return undefined;
      }
    },
  });
  server.on('connection-close', (conn: PeerConnection<ClientAuth>) => {
    if (conn.auth) sessions.disconnected(conn.auth.session);
  });

  server.handle('hello', async (req, ctx) => {
    const refusal = deps.refusal?.();
    if (refusal) throw new TunnelCallError('E_POLICY_MISSING', refusal, 503, 'reinstall the traffic manager with `tp helm upgrade`');
    const s = await sessions.authenticate(req.session, req.secret);
    if (!s) {
      log.info('hello refused', { session: req.session, peer: ctx.conn.remoteAddress });
      throw new TunnelCallError(
        'E_SESSION_UNKNOWN',
        `no live session ${req.session} with that secret`,
        401,
        'tp creates a new session by itself; run `tp connect` again if it does not',
      );
    }
    if (ctx.conn.auth) sessions.disconnected(ctx.conn.auth.session);
    s.namespace = req.namespace;
    if (req.mappedNamespaces?.length) mappedOf.set(s, req.mappedNamespaces);
    else mappedOf.delete(s);
    // Names the SOCKS proxy asks the manager to dial resolve within the session's scope too.
    const scoped = { resolve: (name: string, type: 'A' | 'AAAA') => deps.resolver.query(name, type, scopeOf(s)) };
    ctx.conn.auth = { session: s, peer: req.peer, dialer: new SessionDialer(deps.direct, scoped, () => s.namespace) };
    sessions.connected(s);
    log.info('session connected', { session: s.name, owner: s.owner.username, label: s.label, peer: req.peer, version: req.version });
    return { heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, owner: s.owner.username };
  });
  server.handle('heartbeat', (_req, ctx) => {
    sessions.heartbeat(authOf(ctx.conn).session);
    return {};
  });
  server.handle('depart', async (_req, ctx) => {
    const { session } = authOf(ctx.conn);
    log.info('session departing', { session: session.name });
    await sessions.end(session).catch((err) => {
      throw kubeError(err, `delete session ${session.name}`);
    });
    return {};
  });
  server.handle('setNamespace', (req, ctx) => {
    authOf(ctx.conn).session.namespace = req.namespace;
    return {};
  });
  server.handle('clusterInfo', (_req, ctx) => {
    authOf(ctx.conn);
    return deps.clusterInfo.current;
  });
  server.watch('clusterInfo', async (_req, emit, ctx) => {
    authOf(ctx.conn);
    if (!emit(deps.clusterInfo.current)) return;
    await new Promise<void>((resolve) => {
      const onChange = (info: typeof deps.clusterInfo.current) => {
        if (!emit(info)) done();
      };
      const done = () => {
        deps.clusterInfo.off('change', onChange);
        resolve();
      };
      deps.clusterInfo.on('change', onChange);
      ctx.signal.addEventListener('abort', done, { once: true });
    });
  });
  server.handle('dns', async (req, ctx) => deps.resolver.query(req.name, req.type, scopeOf(authOf(ctx.conn).session)));
  server.handle('namespaces', async (_req, ctx) => {
    const { session } = authOf(ctx.conn);
    const mapped = mappedOf.get(session);
    let all: string[];
    try {
      all = deps.listNamespaces ? await deps.listNamespaces() : [session.namespace];
    } catch (err) {
      throw kubeError(err, 'list namespaces');
    }
    const scope = scopeOf(session);
    const wanted = mapped ? all.filter((n) => mapped.includes(n)) : all;
    const visible: string[] = [];
    for (let i = 0; i < wanted.length; i += NAMESPACE_CHECKS_IN_FLIGHT) {
      const batch = wanted.slice(i, i + NAMESPACE_CHECKS_IN_FLIGHT);
      const ok = await Promise.all(batch.map((n) => scope.allows(n).catch(() => false)));
      visible.push(...batch.filter((_, j) => ok[j]));
    }
    return { namespaces: visible, ...(mapped ? { mapped } : {}) };
  });
  server.handle('listWorkloads', async (req, ctx) => {
    const { session } = authOf(ctx.conn);
    requireMapped(session, req.namespace);
    // The manager lists with its own rights: it answers only where the user may list too.
    if (!(await deps.authorizer.can(session.owner, { verb: 'list', group: 'apps', resource: 'deployments', namespace: req.namespace }))) {
      throw new TunnelCallError(
        'E_FORBIDDEN',
        `${session.owner.username} may not list deployments in namespace ${req.namespace}`,
        403,
        'ask your cluster admin for the tp-user role (and edit or view) in that namespace',
      );
    }
    try {
      const workloads = await deps.listWorkloads(req.namespace);
      const all = engagements.list(req.namespace);
      for (const w of workloads) {
        const es = all.filter((e) => workloadKey(e.workload) === workloadKey(w));
        if (es.length) {
          w.engagements = es;
          w.state = es
            .map(
              (e) =>
                `${e.state === 'failed' ? 'refused: ' : ''}${stateWord[e.kind]} by ${e.owner}${e.state === 'waiting' ? ' (waiting)' : ''}`,
            )
            .join(', ');
        } else if (w.agent) {
          w.state = 'agent installed';
        }
      }
      return { workloads };
    } catch (err) {
      throw kubeError(err, `list workloads in namespace ${req.namespace}`);
    }
  });
  server.watch('engagement', async (req, emit, ctx) => {
    requireMapped(authOf(ctx.conn).session, req.namespace);
    await engagements.watch(authOf(ctx.conn).session, req, emit, ctx.signal);
  });
  server.watch('sessionEvents', async (_req, emit, ctx) => {
    const { session } = authOf(ctx.conn);
    const unsubscribe = engagements.subscribe(session.name, emit);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    unsubscribe();
  });
  server.handle('uninstallAgents', async (req, ctx) => {
    const { session } = authOf(ctx.conn);
    // Removing an agent restarts the workload's pods: the user must be allowed to change it; and
    // when it ends other users' engagements, to end those (tp-admin).
    const can = (verb: string, group: string, resource: string) =>
      deps.authorizer.can(session.owner, { verb, group, resource, namespace: req.namespace });
    if (!(await can('patch', 'apps', 'deployments'))) {
      throw new TunnelCallError(
        'E_FORBIDDEN',
        `${session.owner.username} may not change workloads in namespace ${req.namespace}`,
        403,
        'ask for the edit role in that namespace',
      );
    }
    const others = engagements.othersOn(req.namespace, session.name, req.workload);
    if (others.length && !(await can('deletecollection', 'tp.dev', 'engagements'))) {
      const list = others.map((e) => `${e.name} (${e.owner})`).join(', ');
      throw new TunnelCallError(
        'E_FORBIDDEN',
        `removing the agent would end engagements of other users: ${list}`,
        403,
        'ask them to leave, or an admin with the tp-admin role to remove it',
      );
    }
    try {
      return { workloads: await engagements.uninstall(req.namespace, req.workload) };
    } catch (err) {
      throw kubeError(err, `remove agents in namespace ${req.namespace}`);
    }
  });
  server.handle('managerVersion', (_req, ctx) => {
    authOf(ctx.conn);
    return { version: TP_VERSION, protocol: TUNNEL_PROTOCOL_VERSION };
  });

  // The answer to a 'dial' event, with the token issued to this session.
  server.connectKind(CLIENT_STREAMS.pair, async (path, ctx, accept) => {
    const { session } = authOf(ctx.conn);
    const p = parseStreamPath(path);
    if (p?.kind !== 'pair') throw new DialError('other', `bad pair-stream path ${path.slice(0, 100)}`);
    engagements.answerAsSession(session, p.token, accept);
    return undefined;
  });
  // The volumes of one of this session's engagements.
  server.connectKind(CLIENT_STREAMS.sftp, (path, ctx) => {
    const { session } = authOf(ctx.conn);
    const p = parseStreamPath(path);
    if (p?.kind !== 'sftp') return Promise.reject(new DialError('other', `bad sftp-stream path ${path.slice(0, 100)}`));
    return engagements.openSftp(session, p.namespace, p.name, ctx.signal);
  });
  return server;
}
