// Entry of the tp-agent sidecar (DESIGN.md §2, §6): `node dist/lib/agent/main.js`, configured by
// the env the webhook sets (lib/common/agent-config.ts AGENT_ENV). Forwards the redirected ports,
// keeps a session with the manager, reports the app's env and mounts, and serves the mounts over
// SFTP on request. Logs are JSON lines on stderr.
import { join } from 'node:path';
import { createLogger, isLevel } from '../common/log.js';
import { AGENT_ENV, APP_ENV_PREFIX, APP_MOUNT_ROOT, agentConfigHash, parseAgentConfig } from '../common/agent-config.js';
import { TP_VERSION } from '../common/version.js';
import { Forwarder } from './forwarder.js';
import { ManagerLink, type AgentEvent } from './manager-link.js';
import { serveSftp } from './sftp.js';
import { TrafficReporter } from './traffic-report.js';

const env = process.env;
const level = env[AGENT_ENV.logLevel];
const log = createLogger({ level: level && isLevel(level) ? level : 'info', fields: { component: 'tp-agent' } });
process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

let config;
try {
  config = parseAgentConfig(env[AGENT_ENV.config] ?? '');
} catch (err) {
  log.error(`tp-agent cannot start: ${(err as Error).message}`, {
    hint: `the webhook sets ${AGENT_ENV.config}; reinstall the agent with \`tp uninstall\``,
  });
  process.exit(2);
}

/** The app container's env, as Kubernetes resolved it into ours under the prefix. */
const appEnv: Record<string, string> = {};
for (const [k, v] of Object.entries(env)) if (k.startsWith(APP_ENV_PREFIX) && v !== undefined) appEnv[k.slice(APP_ENV_PREFIX.length)] = v;
let mounts: string[] = [];
try {
  mounts = JSON.parse(env[AGENT_ENV.appMounts] || '[]') as string[];
} catch {
  log.warn(`${AGENT_ENV.appMounts} is not a JSON list; no volumes are served`);
}

const link = new ManagerLink({
  host: config.manager.host,
  port: config.manager.port,
  hello: {
    podName: env[AGENT_ENV.podName] ?? '',
    podIP: env[AGENT_ENV.podIP] ?? '',
    configHash: agentConfigHash(config),
    env: appEnv,
    mounts,
    version: TP_VERSION,
  },
  log,
});
const forwarder = new Forwarder({ ports: config.ports, dial: (id, port, peer) => link.dialEngagement(id, port, peer), log });
await forwarder.listen();
const reporter = new TrafficReporter({ read: () => forwarder.traffic(), send: (t) => link.traffic(t) });
link.on('connected', () => reporter.reset());
reporter.start();

const mountRoot = join(APP_MOUNT_ROOT, config.container);
link.on('event', (e: AgentEvent) => {
  if (e.type === 'engagements') {
    forwarder.update(e.engagements);
    log.info('engagements', { revision: e.revision, engagements: e.engagements.map((x) => `${x.kind}:${x.ports.join(',')}:${x.client}`) });
    void link.applied(e.revision);
  } else if (e.type === 'sftp') {
    link.answer(e.token).then(
      (stream) => serveSftp(stream, { root: mountRoot, readOnly: e.readOnly, log }),
      (err) => log.warn('answering an SFTP request failed', { err: (err as Error).message }),
    );
  }
});
link.start();
log.info('tp-agent ready', {
  version: TP_VERSION,
  workload: `${config.workload.kind}/${config.workload.name}`,
  container: config.container,
  replace: config.replace,
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    log.info('shutting down', { signal: sig });
    reporter.stop();
    forwarder.close();
    void link.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
