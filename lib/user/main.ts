// The user daemon process: started on demand by the CLI, runs as the user, holds the connection
// to the cluster. Logs to <logDir>/user-daemon.log; never dies on a bad request or a lost peer.
import { join } from 'node:path';
import { createLogger, isLevel } from '../common/log.js';
import { loadConfig } from '../common/config.js';
import { daemonSocketPath, logDir } from '../common/rpc/daemon.js';
import { TP_VERSION } from '../common/version.js';
import { UserDaemon } from './daemon.js';

// The level: TP_LOG_LEVEL, else logLevels.userDaemon of the config file; a bad config file is
// the CLI's to report (it reads the same file), the daemon starts with the defaults.
let configError: string | undefined;
const configured = (() => {
  try {
    return loadConfig().config.logLevels.userDaemon;
  } catch (err) {
    configError = (err as Error).message;
    return 'info' as const;
  }
})();
const level = process.env.TP_LOG_LEVEL && isLevel(process.env.TP_LOG_LEVEL) ? process.env.TP_LOG_LEVEL : configured;
const log = createLogger({ file: join(logDir(), 'user-daemon.log'), level, fields: { pid: process.pid } });
if (configError) log.warn('the config file is not usable; using the defaults', { err: configError });
process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

const daemon = new UserDaemon(daemonSocketPath(), log, () => shutdown('quit'));
let stopping = false;
async function shutdown(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('user daemon stopping', { why });
  setTimeout(() => process.exit(0), 5000).unref();
  await daemon.close().catch(() => {});
  process.exit(0);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig));

await daemon.listen();
log.info('user daemon ready', { version: TP_VERSION, socket: daemonSocketPath() });
