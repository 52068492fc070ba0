// The client API of the traffic manager: registers every control call and watch of
// lib/common/rpc/manager.ts on a TunnelServer. Pure wiring; each piece lives in its own module.
import type * as k8s from '@kubernetes/client-node';
import { TunnelServer } from '../proxy/tunnel/server.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { TUNNEL_PROTOCOL_VERSION, type HelloRequest } from '../proxy/tunnel/protocol.js';
import { validate } from '../common/rpc/manager.js';
import type { Dialer } from '../proxy/dialer.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { HEARTBEAT_INTERVAL_MS, type SessionRegistry } from './sessions.js';
import type { ClusterInfoSource } from './cluster-info.js';
import type { ClusterResolver } from './dns.js';
import { SessionDialer } from './session-dialer.js';
import { listWorkloads } from './workloads.js';
import type { EngagementService } from './engagement-service.js';
import { DialError } from '../proxy/dialer.js';
import { HEADERS } from '../proxy/tunnel/protocol.js';
import { workloadKey } from './engagements.js';
import { kubeError } from './kube-errors.js';

export interface ManagerApiDeps {
  kc: k8s.KubeConfig;
  sessions: SessionRegistry;
  clusterInfo: ClusterInfoSource;
  resolver: ClusterResolver;
  direct: Dialer;
  engagements: EngagementService;
  log: Logger;
}

const unknownSession = () =>
  new TunnelCallError('E_SESSION_UNKNOWN', 'the traffic manager does not know this session (it expired or the manager restarted)', 404, 'say hello again');

function validateHello(body: unknown): HelloRequest {
  if (typeof body !== 'object' || body === null) throw new Error('the request body must be a JSON object');
  const o = body as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name.length === 0 || o.name.length > 253) throw new Error('"name" must be a non-empty string');
  const info: Record<string, string> = {};
  if (o.info !== undefined) {
    if (typeof o.info !== 'object' || o.info === null) throw new Error('"info" must be an object of strings');
    for (const [k, v] of Object.entries(o.info)) if (typeof v === 'string') info[k] = v.slice(0, 256);
  }
  return { name: o.name, info };
}

export function createManagerApi(deps: ManagerApiDeps): TunnelServer {
  const { sessions, log } = deps;
  const dialers = new Map<string, SessionDialer>();
  const dialerFor = (sessionId: string | undefined): Dialer => {
    const s = sessions.get(sessionId);
    // Flows without a session (an agent, a client that has not said hello) resolve in 'default'.
    const key = s?.id ?? '';
    let d = dialers.get(key);
    if (!d) {
      d = new SessionDialer(deps.direct, deps.resolver, () => sessions.get(sessionId)?.namespace ?? 'default');
      dialers.set(key, d);
    }
    return d;
  };
  sessions.on('expire', (s) => {
    dialers.delete(s.id);
    log.info('session expired', { session: s.id, name: s.name });
  });
  sessions.on('depart', (s) => {
    dialers.delete(s.id);
    log.info('session departed', { session: s.id, name: s.name });
  });

  const { engagements } = deps;
  // A CONNECT that answers a 'dial' event, or asks for an engagement's volumes, meets an agent's
  // stream instead of dialling the cluster.
  const paired = (open: (signal?: AbortSignal) => Promise<import('node:stream').Duplex>): Dialer => ({
    dialTcp: (_h, _p, signal) => open(signal),
    dialUdp: () => Promise.reject(new DialError('other', 'this stream carries TCP only')),
  });
  const server = new TunnelServer({
    dialer: (ctx) => {
      const token = ctx.headers[HEADERS.rendezvous];
      if (typeof token === 'string') return paired((signal) => engagements.clientRendezvous(token, signal));
      const sftp = ctx.headers[HEADERS.sftp];
      if (typeof sftp === 'string') return paired((signal) => engagements.openSftp(ctx.sessionId, sftp, signal));
      return dialerFor(ctx.sessionId);
    },
  });

  server.handle(
    'hello',
    (req, ctx) => {
      const s = sessions.arrive(req.name, req.info ?? {}, req.info?.resumeSessionId);
      ctx.conn.sessionId = s.id;
      log.info('session arrived', { session: s.id, name: s.name, namespace: s.namespace, info: s.info });
      return { sessionId: s.id, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS };
    },
    validateHello,
  );
  server.handle('heartbeat', (req) => {
    if (!sessions.heartbeat(req.sessionId)) throw unknownSession();
    return {};
  }, (b) => validate.depart(b));
  server.handle('depart', (req) => {
    sessions.depart(req.sessionId);
    return {};
  }, validate.depart);
  server.handle('setNamespace', (req, ctx) => {
    const s = sessions.get(ctx.sessionId);
    if (!s) throw unknownSession();
    s.namespace = req.namespace;
    return {};
  }, validate.namespace);
  server.handle('clusterInfo', () => deps.clusterInfo.current, validate.empty);
  server.watch('clusterInfo', async (_req, emit, ctx) => {
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
  }, validate.empty);
  server.handle('dns', async (req, ctx) => {
    const ns = sessions.get(ctx.sessionId)?.namespace ?? 'default';
    return deps.resolver.resolve(req.name, req.type, ns);
  }, validate.dns);
  server.handle('listWorkloads', async (req) => {
    try {
      const workloads = await listWorkloads(deps.kc, req.namespace);
      for (const w of workloads) {
        const es = engagements.list(req.namespace).filter((e) => workloadKey(e.workload) === workloadKey(w));
        if (es.length) {
          w.engagements = es;
          w.state = es.map((e) => `${e.kind === 'replace' ? 'replaced' : e.kind === 'ingest' ? 'ingested' : e.kind === 'wiretap' ? 'wiretapped' : 'intercepted'} by ${e.client}${e.state === 'waiting' ? ' (waiting)' : ''}`).join(', ');
        } else if (w.agent) {
          w.state = 'agent installed';
        }
      }
      return { workloads };
    } catch (err) {
      throw kubeError(err, `list workloads in namespace ${req.namespace}`);
    }
  }, validate.namespace);
  const sessionOf = (id: string | undefined) => {
    const s = sessions.get(id);
    if (!s) throw unknownSession();
    return s;
  };
  server.watch('engage', async (req, emit, ctx) => {
    const s = sessionOf(ctx.sessionId);
    try {
      await engagements.engage(req, s, emit, ctx.signal);
    } catch (err) {
      throw kubeError(err, `engage ${req.workload} in namespace ${req.namespace}`);
    }
  }, validate.engage);
  server.watch('sessionEvents', async (_req, emit, ctx) => {
    const s = sessionOf(ctx.sessionId);
    const unsubscribe = engagements.subscribe(s.id, emit);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    unsubscribe();
  }, validate.empty);
  server.handle('leave', (req, ctx) => ({ engagement: engagements.leave(sessionOf(ctx.sessionId).id, req.name) }), validate.leave);
  server.handle('engagements', (req) => ({ engagements: engagements.list(req.namespace) }), validate.engagements);
  server.handle('uninstallAgents', async (req) => {
    try {
      return { workloads: await engagements.uninstall(req.namespace, req.workload) };
    } catch (err) {
      throw kubeError(err, `remove agents in namespace ${req.namespace}`);
    }
  }, validate.uninstall);
  server.handle('managerVersion', () => ({ version: TP_VERSION, protocol: TUNNEL_PROTOCOL_VERSION }), validate.empty);
  server.handle('sessions', () => ({ sessions: sessions.list() }), validate.empty);
  return server;
}
