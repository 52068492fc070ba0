// The manager's API for traffic agents, on the agent port (DESIGN.md §3 Auth). An agent proves
// who it is with its projected ServiceAccount token: TokenReview says which pod the token was
// issued for, and the manager reads that pod's agent config itself — it trusts nothing else the
// agent claims. Until agentHello succeeds on a connection, nothing else on it works.
import * as k8s from '@kubernetes/client-node';
import { randomUUID } from 'node:crypto';
import { AGENT_CONFIG_ANNOTATION, AGENT_TOKEN_AUDIENCE, parseAgentConfig } from '../common/agent-config.js';
import { validateAgentHello } from '../common/rpc/agent.js';
import type { Logger } from '../common/log.js';
import { DialError, type Dialer } from '../proxy/dialer.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { HEADERS } from '../proxy/tunnel/protocol.js';
import { TunnelServer, type PeerConnection, type StreamContext } from '../proxy/tunnel/server.js';
import type { AgentRegistry, AgentRecord } from './agents.js';
import type { EngagementService } from './engagement-service.js';
import { workloadKey } from './engagements.js';

const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const AGENT_ATTR = 'agentId';

export interface AgentApiDeps {
  kc: k8s.KubeConfig;
  agents: AgentRegistry;
  service: EngagementService;
  log: Logger;
}

const unauthenticated = () => new TunnelCallError('E_AGENT_UNAUTHENTICATED', 'this connection has not said agentHello with a valid token', 401);

export function createAgentApi(deps: AgentApiDeps): TunnelServer {
  const { agents, service, log } = deps;
  const agentOf = (conn: PeerConnection): AgentRecord | undefined => agents.get(conn.attrs.get(AGENT_ATTR) as string | undefined);

  const refuse: Dialer = {
    dialTcp: () => Promise.reject(new DialError('forbidden', 'agents do not dial the cluster through the manager')),
    dialUdp: () => Promise.reject(new DialError('forbidden', 'agents do not dial the cluster through the manager')),
  };
  const dialerFor = (ctx: StreamContext): Dialer => {
    const agent = agentOf(ctx.conn);
    if (!agent) return refuse;
    const token = ctx.headers[HEADERS.rendezvous];
    const engagement = ctx.headers[HEADERS.engagement];
    return {
      dialTcp: (_host, port, signal) => {
        if (typeof token === 'string') return service.clientRendezvous(token, signal);
        if (typeof engagement === 'string') {
          const peer = ctx.headers[HEADERS.peer];
          return service.agentDial(agent, engagement, port, typeof peer === 'string' ? peer.slice(0, 64) : '', signal);
        }
        return refuse.dialTcp('', 0);
      },
      dialUdp: refuse.dialUdp,
    };
  };

  const server = new TunnelServer({ dialer: dialerFor });
  server.on('connection-close', (conn: PeerConnection) => {
    const a = agentOf(conn);
    if (!a) return;
    agents.remove(a.id);
    log.info('agent left', { pod: a.podName, namespace: a.namespace });
  });

  server.handle('agentHello', async (req, ctx) => {
    let who: { namespace: string; pod: string };
    try {
      who = await tokenReview(deps.kc, req.token);
    } catch (err) {
      log.warn('agent token refused', { pod: req.podName, err: (err as Error).message });
      throw new TunnelCallError('E_AGENT_UNAUTHENTICATED', `the agent's token was refused: ${(err as Error).message}`, 401);
    }
    if (who.namespace !== req.podNamespace || who.pod !== req.podName) {
      throw new TunnelCallError('E_AGENT_UNAUTHENTICATED', `the token belongs to pod ${who.namespace}/${who.pod}, not ${req.podNamespace}/${req.podName}`, 403);
    }
    const core = deps.kc.makeApiClient(k8s.CoreV1Api);
    const pod = await core.readNamespacedPod({ name: who.pod, namespace: who.namespace });
    const annotation = pod.metadata?.annotations?.[AGENT_CONFIG_ANNOTATION];
    if (!annotation) throw new TunnelCallError('E_AGENT_NO_CONFIG', `pod ${who.namespace}/${who.pod} has no agent config`, 409);
    const config = parseAgentConfig(annotation);
    const agent: AgentRecord = {
      id: randomUUID(),
      podName: who.pod,
      namespace: who.namespace,
      podIP: req.podIP,
      configHash: req.configHash,
      workloadKey: workloadKey(config.workload),
      env: req.env,
      mounts: req.mounts,
      appliedRevision: 0,
    };
    const previous = agentOf(ctx.conn);
    if (previous) agents.remove(previous.id);
    ctx.conn.attrs.set(AGENT_ATTR, agent.id);
    agents.add(agent);
    log.info('agent arrived', { pod: who.pod, namespace: who.namespace, workload: agent.workloadKey, version: req.version });
    return { agentId: agent.id };
  }, validateAgentHello);

  server.handle('agentApplied', (req, ctx) => {
    const a = agentOf(ctx.conn);
    if (!a) throw unauthenticated();
    agents.applied(a.id, req.revision);
    return {};
  }, (b) => {
    const r = (b as { revision?: unknown } | null)?.revision;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0) throw new Error('"revision" must be a non-negative integer');
    return { revision: r };
  });

  server.watch('agentEvents', async (_req, emit, ctx) => {
    const a = agentOf(ctx.conn);
    if (!a) throw unauthenticated();
    a.send = emit;
    if (!emit(service.snapshotFor(a))) return;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    if (a.send === emit) delete a.send;
  });
  return server;
}

/** Who a projected token belongs to, by TokenReview with the agents' audience. */
async function tokenReview(kc: k8s.KubeConfig, token: string): Promise<{ namespace: string; pod: string }> {
  const auth = kc.makeApiClient(k8s.AuthenticationV1Api);
  const r = await auth.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [AGENT_TOKEN_AUDIENCE] } } });
  if (!r.status?.authenticated) throw new Error(r.status?.error || 'not authenticated');
  const user = r.status.user?.username ?? '';
  const m = /^system:serviceaccount:([^:]+):[^:]+$/.exec(user);
  const pod = r.status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  if (!m || !pod) throw new Error(`the token of ${user || 'nobody'} is not bound to a pod`);
  return { namespace: m[1]!, pod };
}
