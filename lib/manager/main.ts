// The traffic manager process (a Deployment installed by the chart in helm/). Reads its settings
// from the environment the chart sets, serves the client API, and stays up whatever peers send.
import * as k8s from '@kubernetes/client-node';
import { createServer } from 'node:http';
import { createLogger, isLevel } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { DirectDialer } from '../proxy/direct-dialer.js';
import { ClusterInfoSource, namespaceLister } from './cluster-info.js';
import { ClusterResolver } from './dns.js';
import { SessionStore } from './sessions.js';
import { createManagerApi } from './api.js';
import { AgentRegistry } from './agents.js';
import { createAgentApi } from './agent-api.js';
import { AgentAuthenticator } from './agent-auth.js';
import { EngagementController } from './engagement-controller.js';
import {
  kubeAgentAuthCluster,
  kubeAuthorizer,
  kubeEngagementCluster,
  kubeSessionCluster,
  ownerPolicyPresent,
  watchObjects,
} from './kube.js';
import { listWorkloads } from './workloads.js';
import { AGENT_TOKEN_AUDIENCE } from '../common/agent-config.js';
import { createPortMux } from './port-mux.js';
import { DirectRoute } from './direct-route.js';
import { startWebhook, DEFAULT_WEBHOOK_PORT, type RunningWebhook } from './webhook/index.js';

const env = process.env;
const level = env.TP_LOG_LEVEL && isLevel(env.TP_LOG_LEVEL) ? env.TP_LOG_LEVEL : 'info';
const log = createLogger({ level, fields: { component: 'traffic-manager' } });
const namespace = env.TP_NAMESPACE || 'tp-system';
const apiPort = Number(env.TP_API_PORT || 8081);
const agentPort = Number(env.TP_AGENT_PORT || 8082);
const healthPath = env.TP_HEALTH_PATH || '/healthz';
const clusterDomain = env.TP_CLUSTER_DOMAIN || 'cluster.local';

process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

const kc = new k8s.KubeConfig();
kc.loadFromDefault();

const managedNamespaces = (env.TP_MANAGED_NAMESPACES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const policyName = env.TP_OWNER_POLICY_NAME || `tp-owner-${namespace}`;
const slog = log.child({ component: 'sessions' });
const sessions = new SessionStore(kubeSessionCluster(kc, namespace), { log: (msg, fields) => slog.info(msg, fields) });
sessions.start();
const clusterInfo = new ClusterInfoSource({ kc, managerNamespace: namespace, clusterDomain, log });
await clusterInfo.start();
const resolver = new ClusterResolver(clusterDomain);
const agents = new AgentRegistry();
// Agents reach the manager by its Service (the chart names it traffic-manager).
const serviceName = env.TP_SERVICE_NAME || 'traffic-manager';
const engagements = new EngagementController({
  cluster: kubeEngagementCluster(kc, namespace),
  sessions,
  agents,
  managerNamespace: namespace,
  log: log.child({ component: 'engagements' }),
  manager: { host: `${serviceName}.${namespace}`, port: agentPort },
});
// Fail closed: without the owner policy nobody's session is served (checked again every minute).
let policyRefusal = await ownerPolicyPresent(kc, policyName);
if (policyRefusal) log.error(policyRefusal, { hint: 'reinstall the chart: tp helm upgrade' });
setInterval(
  () =>
    void ownerPolicyPresent(kc, policyName).then((r) => {
      if (r !== policyRefusal) (r ? log.error : log.info).call(log, r ?? 'the owner policy is in place', {});
      policyRefusal = r;
    }),
  60_000,
).unref();
const watches = await watchObjects({
  kc,
  managerNamespace: namespace,
  namespaces: managedNamespaces,
  sessions,
  engagements,
  log: log.child({ component: 'watch' }),
});
// Budgets of both tunnel ports (issue #12): chart values limits.* through the environment.
const positive = (v: string | undefined) => (v && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : undefined);
const limits = {
  ...(positive(env.TP_MAX_STREAMS) ? { maxStreams: positive(env.TP_MAX_STREAMS)! } : {}),
  ...(positive(env.TP_MAX_CONNECTIONS) ? { maxConnections: positive(env.TP_MAX_CONNECTIONS)! } : {}),
};
const server = createManagerApi({
  limits,
  sessions,
  clusterInfo,
  resolver,
  direct: new DirectDialer(),
  engagements,
  authorizer: kubeAuthorizer(kc),
  listWorkloads: (ns) => listWorkloads(kc, ns),
  listNamespaces: namespaceLister(kc),
  refusal: () => policyRefusal,
  log,
});
// Loopback only: port-forwards reach it (the kubelet dials localhost inside the pod), other pods
// cannot, so Kubernetes RBAC on pods/portforward is what admits a client.
await server.listen(apiPort, env.TP_API_HOST || '127.0.0.1');

// The agent port carries the agents' HTTP/2 API and, for the kubelet's probes, HTTP/1.1 health.
const agentApi = createAgentApi({
  limits,
  auth: new AgentAuthenticator(kubeAgentAuthCluster(kc, AGENT_TOKEN_AUDIENCE)),
  agents,
  engagements,
  log: log.child({ component: 'agents' }),
});
const health = createServer((req, res) => {
  const ok = req.url === healthPath;
  res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(ok ? { status: 'ok', version: TP_VERSION } : { error: 'not found' }));
});
const agentPortServer = createPortMux(
  (s) => agentApi.accept(s),
  (s) => health.emit('connection', s),
);
await new Promise<void>((resolve) => agentPortServer.listen(agentPort, '0.0.0.0', resolve));
// The agent injector. Without it nothing can be engaged, but connect, DNS and dialling still work,
// so a failure to start it (no RBAC for its Secret, say) is logged and retried, never fatal.
// The direct route (chart value directRoute.enabled): the client API over TLS on its own port.
const directPort = Number(env.TP_DIRECT_PORT || 0);
const directRoute =
  directPort > 0
    ? new DirectRoute({ port: directPort, accept: (s) => server.accept(s), kc, namespace, log: log.child({ component: 'direct-route' }) })
    : undefined;
let webhook: RunningWebhook | undefined;
const startInjector = async (attempt: number): Promise<void> => {
  try {
    webhook = await startWebhook({
      kc,
      namespace,
      serviceName: env.TP_WEBHOOK_SERVICE_NAME || serviceName,
      clusterDomain,
      port: Number(env.TP_WEBHOOK_PORT || DEFAULT_WEBHOOK_PORT),
      secretName: env.TP_WEBHOOK_SECRET_NAME || 'tp-agent-injector-tls',
      webhookConfigName: env.TP_WEBHOOK_CONFIG_NAME || `tp-agent-injector-${namespace}`,
      agentImage: env.TP_AGENT_IMAGE || 'tp.local/tp:0.1.0',
      ...(env.TP_AGENT_IMAGE_PULL_POLICY ? { imagePullPolicy: env.TP_AGENT_IMAGE_PULL_POLICY } : {}),
      logLevel: level,
      onEngagementDeleted: (uid, by) => engagements.noteDeletion(uid, by),
      ...(directRoute
        ? {
            onServing: (b) =>
              void directRoute.serve(b).catch((err) => log.error('the direct route did not start', { err: (err as Error).message })),
          }
        : {}),
      log,
    });
  } catch (err) {
    const retryMs = Math.min(2 ** attempt * 1000, 30_000);
    log.error('the agent injector did not start; engagements cannot inject agents until it does', { err: (err as Error).message, retryMs });
    setTimeout(() => void startInjector(attempt + 1), retryMs).unref();
  }
};
await startInjector(0);
log.info('traffic manager ready', { version: TP_VERSION, namespace, apiPort });

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    log.info('shutting down', { signal: sig });
    sessions.stop();
    watches.stop();
    engagements.stop();
    clusterInfo.stop();
    agentPortServer.close();
    directRoute?.close();
    void webhook?.close();
    void Promise.all([server.close(), agentApi.close()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
