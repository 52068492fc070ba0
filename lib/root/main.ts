// The root daemon process (VIF mode): started by the user daemon — through `sudo` when the user is
// not root — it owns the TUN device, the routes and the DNS redirect, and undoes a crashed
// predecessor's changes before it does anything. Logs to <logDir>/root-daemon.log.
import { join } from 'node:path';
import { createLogger, isLevel } from '../common/log.js';
import { logDir } from '../common/rpc/daemon.js';
import { rootSocketPath, rootStatePath } from '../common/rpc/root.js';
import { TP_VERSION } from '../common/version.js';
import { RootDaemon } from './daemon.js';
import { StateFile } from './state.js';

// Flags rather than environment: sudo does not pass the environment through.
const flag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
if (flag('runtime-dir')) process.env.TP_ROOT_RUNTIME_DIR = flag('runtime-dir');
if (flag('log-dir')) process.env.TP_LOG_DIR = flag('log-dir');

const lvl = flag('log-level') ?? process.env.TP_LOG_LEVEL;
const log = createLogger({ file: join(logDir(), 'root-daemon.log'), level: lvl && isLevel(lvl) ? lvl : 'info', fields: { pid: process.pid } });
process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

if (process.getuid?.() !== 0) {
  log.error('the root daemon must run as root');
  process.stderr.write('tp: the root daemon must run as root; start it through `tp connect`, which uses sudo.\n');
  process.exit(1);
}

const state = new StateFile(rootStatePath());
const undone = await state.restore();
if (undone.length > 0) log.warn('undid changes left by a previous root daemon', { undone });

const daemon = new RootDaemon(rootSocketPath(), state, flag('tun') ?? 'tp0', log, () => void shutdown('quit'));
let stopping = false;
async function shutdown(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('root daemon stopping', { why });
  setTimeout(() => process.exit(0), 5000).unref();
  await daemon.close().catch((err) => log.error('close failed', { err }));
  process.exit(0);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig));

await daemon.listen();
log.info('root daemon ready', { version: TP_VERSION, socket: rootSocketPath() });
