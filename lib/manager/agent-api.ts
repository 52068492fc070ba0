// The manager's API for traffic agents, on the agent port (lib/common/rpc/agent.ts is its seam).
// An agent proves who it is with its projected ServiceAccount token; agent-auth.ts turns that into
// the workload the agent serves. Until agentHello succeeds on a connection, nothing else on it is
// served (the tunnel server refuses it unread), and every later stream acts for that agent only.
import { randomUUID } from 'node:crypto';
import { agentApi, AGENT_STREAMS, parseEngagedPath, type AgentApi } from '../common/rpc/agent.js';
import { parseStreamPath } from '../common/rpc/manager.js';
import type { Logger } from '../common/log.js';
import { DialError } from '../proxy/dialer.js';
import { TunnelCallError } from '../proxy/tunnel/errors.js';
import { TunnelServer, type PeerConnection, type TunnelServerLimits } from '../proxy/tunnel/server.js';
import { AgentAuthError, type AgentAuthenticator } from './agent-auth.js';
import type { AgentRegistry, AgentRecord } from './agents.js';
import type { EngagementController } from './engagement-controller.js';
import { workloadKey } from './engagements.js';

export interface AgentApiDeps {
  auth: AgentAuthenticator;
  limits?: Partial<TunnelServerLimits>;
  agents: AgentRegistry;
  engagements: EngagementController;
  log: Logger;
}

export type AgentServer = TunnelServer<AgentApi, AgentRecord>;

export function createAgentApi(deps: AgentApiDeps): AgentServer {
  const { agents, engagements, log } = deps;
  const agentOf = (conn: PeerConnection<AgentRecord>): AgentRecord => {
    const a = conn.auth;
    if (!a || agents.get(a.id) !== a)
      throw new TunnelCallError('E_UNAUTHENTICATED', 'this agent connection is no longer registered; say agentHello again', 401);
    return a;
  };

  // Agents never dial the cluster through the manager: a plain CONNECT is refused (no dialer).
  const server: AgentServer = new TunnelServer<AgentApi, AgentRecord>({ api: agentApi, ...(deps.limits ? { limits: deps.limits } : {}) });
  server.on('connection-close', (conn: PeerConnection<AgentRecord>) => {
    const a = conn.auth;
    if (!a) return;
    agents.remove(a.id);
    log.info('agent left', { pod: a.podName, namespace: a.namespace });
  });

  server.handle('agentHello', async (req, ctx) => {
    let who;
    try {
      who = await deps.auth.authenticate(req.token, ctx.conn.remoteAddress ?? 'unknown');
    } catch (err) {
      const status = err instanceof AgentAuthError ? err.status : 401;
      log.warn('agent refused', { claimedPod: req.podName.slice(0, 253), peer: ctx.conn.remoteAddress, reason: (err as Error).message });
      throw new TunnelCallError(
        status === 429 ? 'E_RATE_LIMITED' : 'E_AGENT_UNAUTHENTICATED',
        status === 429 ? (err as Error).message : `the agent was refused: ${(err as Error).message}`,
        status,
      );
    }
    const agent: AgentRecord = {
      id: randomUUID(),
      podName: who.pod,
      namespace: who.namespace,
      podIP: req.podIP,
      configHash: req.configHash,
      workloadKey: workloadKey(who.workload),
      env: req.env,
      mounts: req.mounts,
      appliedRevision: 0,
    };
    if (ctx.conn.auth) agents.remove(ctx.conn.auth.id);
    ctx.conn.auth = agent;
    agents.add(agent);
    log.info('agent arrived', { pod: who.pod, namespace: who.namespace, workload: agent.workloadKey, version: req.version });
    return { agentId: agent.id };
  });

  server.handle('agentApplied', (req, ctx) => {
    agents.applied(agentOf(ctx.conn).id, req.revision);
    return {};
  });

  server.handle('agentTraffic', (req, ctx) => {
    engagements.agentTraffic(agentOf(ctx.conn), req.traffic);
    return {};
  });

  server.watch('agentEvents', async (_req, emit, ctx) => {
    const a = agentOf(ctx.conn);
    a.send = emit;
    if (!emit(engagements.snapshotFor(a))) return;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    if (a.send === emit) delete a.send;
  });

  // An accepted in-cluster connection of an engagement of the agent's own workload.
  server.connectKind(AGENT_STREAMS.engaged, (path, ctx) => {
    const agent = agentOf(ctx.conn);
    const p = parseEngagedPath(path);
    if (!p) return Promise.reject(new DialError('other', `bad engaged-stream path ${path.slice(0, 100)}`));
    return engagements.agentDial(agent, p.engagementId, p.port, p.peer, ctx.signal);
  });
  // The answer to an 'sftp' event issued to this agent.
  server.connectKind(AGENT_STREAMS.pair, async (path, ctx, accept) => {
    const agent = agentOf(ctx.conn);
    const p = parseStreamPath(path);
    if (p?.kind !== 'pair') throw new DialError('other', `bad pair-stream path ${path.slice(0, 100)}`);
    engagements.answerAsAgent(agent, p.token, accept);
    return undefined;
  });
  return server;
}
