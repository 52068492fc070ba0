// The user daemon process: started on demand by the CLI, runs as the user, holds the connection
// to the cluster. Logs to <logDir>/user-daemon.log; never dies on a bad request or a lost peer.
import { join } from 'node:path';
import { createLogger, isLevel } from '../common/log.js';
import { daemonSocketPath, logDir } from '../common/rpc/daemon.js';
import { TP_VERSION } from '../common/version.js';
import { UserDaemon } from './daemon.js';

const level = process.env.TP_LOG_LEVEL && isLevel(process.env.TP_LOG_LEVEL) ? process.env.TP_LOG_LEVEL : 'info';
const log = createLogger({ file: join(logDir(), 'user-daemon.log'), level, fields: { pid: process.pid } });
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
