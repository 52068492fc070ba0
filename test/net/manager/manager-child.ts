// The traffic manager's two tunnel ports — the client API and the agent port with its health
// side — exactly as lib/manager/main.ts wires them, with the Kubernetes side faked (a Session the
// parent knows the secret of; no agent token passes). In its own process, so a test can attack it
// and read its memory. IPC:
//   → { apiPort, agentPort, session, secret }   once listening
//   ← { cmd: 'mem' } → { mem: NodeJS.MemoryUsage }
// Exits when the parent disconnects.
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import { createLogger } from '../../../lib/common/log.js';
import { newSessionSecret, type SessionObject } from '../../../lib/common/objects.js';
import type { ClusterInfo } from '../../../lib/common/rpc/manager.js';
import { createAgentApi } from '../../../lib/manager/agent-api.js';
import { AgentAuthenticator } from '../../../lib/manager/agent-auth.js';
import { AgentRegistry } from '../../../lib/manager/agents.js';
import { createManagerApi } from '../../../lib/manager/api.js';
import type { ClusterInfoSource } from '../../../lib/manager/cluster-info.js';
import { ClusterResolver } from '../../../lib/manager/dns.js';
import { EngagementController, type EngagementCluster } from '../../../lib/manager/engagement-controller.js';
import { createPortMux } from '../../../lib/manager/port-mux.js';
import { SessionStore } from '../../../lib/manager/sessions.js';
import { DirectDialer } from '../../../lib/proxy/direct-dialer.js';

const log = createLogger({ level: 'error', fields: {} });
const { secret, hash } = newSessionSecret();
const session: SessionObject = {
  apiVersion: 'tp.dev/v1',
  kind: 'Session',
  metadata: { name: 'alice-1', namespace: 'tp-system', uid: 'u1' },
  spec: { owner: { username: 'alice', groups: [] }, label: 'alice@laptop', secretHash: hash, clientVersion: 't' },
};
const sessions = new SessionStore({ read: async () => undefined, delete: async () => {}, writeLastSeen: async () => {} });
sessions.upsert(session);
sessions.markSynced();
const info: ClusterInfo = {
  serviceCIDRs: ['10.96.0.0/16'],
  podCIDRs: [],
  serviceCIDRSource: 't',
  podCIDRSource: 't',
  clusterDomain: 'cluster.local',
  managerNamespace: 'tp-system',
  managerVersion: 't',
};
const clusterInfo = Object.assign(new EventEmitter(), { current: info }) as unknown as ClusterInfoSource;
const nothing = async () => {
  throw new Error('no cluster here');
};
const cluster = {
  findWorkload: nothing,
  writeAgentConfig: nothing,
  podsNeedRestart: nothing,
  restartPods: nothing,
  listPods: nothing,
  warningEvents: nothing,
  workloadsWithAgents: nothing,
  setStatus: nothing,
  deleteEngagement: nothing,
} as unknown as EngagementCluster;
const agents = new AgentRegistry();
const engagements = new EngagementController({
  cluster,
  sessions,
  agents,
  log,
  managerNamespace: 'tp-system',
  manager: { host: 'm', port: 1 },
});
// A short authentication deadline so a test can watch it fire (the real one is AUTH_TIMEOUT_MS).
const limits = { authTimeoutMs: Number(process.env.TEST_AUTH_TIMEOUT_MS ?? 10_000) };
const api = createManagerApi({
  limits,
  sessions,
  clusterInfo,
  resolver: new ClusterResolver('cluster.local', ['127.0.0.1']),
  direct: new DirectDialer({ connectTimeoutMs: 2000 }),
  engagements,
  authorizer: { can: async () => true },
  listWorkloads: async () => [],
  log,
});
const auth = new AgentAuthenticator({
  tokenReview: async () => ({ authenticated: false, error: 'no such token' }),
  readPod: async () => undefined,
  readWorkload: async () => undefined,
});
const agentApi = createAgentApi({ limits, auth, agents, engagements, log });
const health = createServer((_req, res) => res.end('{"status":"ok"}'));
const mux = createPortMux(
  (s) => agentApi.accept(s),
  (s) => health.emit('connection', s),
);
const { port: apiPort } = await api.listen(0, '127.0.0.1');
await new Promise<void>((r) => mux.listen(0, '127.0.0.1', r));
const agentPort = (mux.address() as { port: number }).port;
process.send!({ apiPort, agentPort, session: 'alice-1', secret });
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'mem') {
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ mem: process.memoryUsage(), stats: { api: api.stats, agent: agentApi.stats } });
  }
});
process.on('disconnect', () => process.exit(0));
