// The traffic manager process (a Deployment installed by the chart in helm/). Reads its settings
// from the environment the chart sets, serves the client API, and stays up whatever peers send.
import * as k8s from '@kubernetes/client-node';
import { createServer } from 'node:http';
import { createLogger, isLevel } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { DirectDialer } from '../proxy/direct-dialer.js';
import { ClusterInfoSource } from './cluster-info.js';
import { ClusterResolver } from './dns.js';
import { SessionRegistry } from './sessions.js';
import { createManagerApi } from './api.js';

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

const sessions = new SessionRegistry();
sessions.start();
const clusterInfo = new ClusterInfoSource({ kc, managerNamespace: namespace, clusterDomain, log });
await clusterInfo.start();
const resolver = new ClusterResolver(clusterDomain);
const server = createManagerApi({ kc, sessions, clusterInfo, resolver, direct: new DirectDialer(), log });
// Loopback only: port-forwards reach it (the kubelet dials localhost inside the pod), other pods
// cannot, so Kubernetes RBAC on pods/portforward is what admits a client.
await server.listen(apiPort, env.TP_API_HOST || '127.0.0.1');

// The kubelet's probes speak HTTP/1.1, which an h2c server cannot answer: health is served on the
// agent port (the agents' API joins it there in a later issue).
const health = createServer((req, res) => {
  const ok = req.url === healthPath;
  res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(ok ? { status: 'ok', version: TP_VERSION, sessions: sessions.list().length } : { error: 'not found' }));
});
await new Promise<void>((resolve) => health.listen(agentPort, '0.0.0.0', resolve));
log.info('traffic manager ready', { version: TP_VERSION, namespace, apiPort });

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    log.info('shutting down', { signal: sig });
    sessions.stop();
    clusterInfo.stop();
    void server.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
