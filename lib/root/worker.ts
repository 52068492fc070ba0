// The root daemon's worker process, forked by its guardian (main.ts, which explains the design):
// the API socket, the watch socket its user daemon holds, the TUN, routes and DNS. It leaves —
// undoing everything first — on `quit`, on SIGTERM/SIGINT/SIGHUP (the guardian forwards them),
// when its user daemon has been gone for the grace period, and when its guardian is gone (a root
// daemon that nobody would clean up after must not keep the machine's DNS and routes).
import { chownSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, isLevel } from '../common/log.js';
import { logDir } from '../common/rpc/daemon.js';
import { rootSocketPath, rootStatePath, rootWatchSocketPath } from '../common/rpc/root.js';
import { TP_VERSION } from '../common/version.js';
import { RootDaemon } from './daemon.js';
import { FOLLOW_GRACE_MS, Followers } from './follow.js';
import { StateFile } from './state.js';
import { WatchServer } from './watch.js';

const flag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
if (flag('runtime-dir')) process.env.TP_ROOT_RUNTIME_DIR = flag('runtime-dir');
if (flag('log-dir')) process.env.TP_LOG_DIR = flag('log-dir');

const lvl = flag('log-level') ?? process.env.TP_LOG_LEVEL;
const log = createLogger({
  file: join(logDir(), 'root-daemon.log'),
  level: lvl && isLevel(lvl) ? lvl : 'info',
  fields: { pid: process.pid, role: 'worker' },
});
process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

if (!process.send) {
  process.stderr.write('tp: the root daemon worker runs under its guardian; start lib/root/main.js instead.\n');
  process.exit(1);
}
const guardianPid = process.ppid;

// Tests shorten the grace (sudo passes flags, not the environment); FOLLOW_GRACE_MS is the real one.
const graceFlag = Number(flag('follow-grace-ms'));
const graceMs = Number.isInteger(graceFlag) && graceFlag > 0 ? graceFlag : FOLLOW_GRACE_MS;

let stopping = false;
async function shutdown(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  followers.stop();
  log.info('root daemon stopping', { why });
  if (process.connected) process.send!({ exiting: why });
  setTimeout(() => process.exit(0), 5000).unref();
  await daemon.close().catch((err) => log.error('close failed', { err }));
  await watch.close(why).catch(() => {});
  log.info('root daemon stopped', { why });
  // Ends by itself once the log is written; a handle that lingers does not hold it up for long.
  if (process.connected) process.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
}

const followers = new Followers(graceMs, () => void shutdown(`its user daemon was gone for ${graceMs / 1000} s`));
const daemon = new RootDaemon(
  rootSocketPath(),
  new StateFile(rootStatePath()),
  flag('tun') ?? 'tp0',
  log,
  () => void shutdown('stopped by tp quit -s'),
  guardianPid,
);
const watch = new WatchServer(rootWatchSocketPath(), { type: 'hello', pid: process.pid, guardianPid, version: TP_VERSION }, followers, log);

process.on('disconnect', () => {
  log.warn('the guardian is gone; undoing everything', { guardian: guardianPid });
  void shutdown('its guardian process exited');
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void shutdown(`stopped by ${sig}`));

// The user who ran sudo owns the sockets: their user daemon connects to them.
const owner = Number(process.env.SUDO_UID);
const ownerGroup = Number(process.env.SUDO_GID);
await watch.listen(0o600);
await daemon.listen(0o600);
if (Number.isInteger(owner) && owner > 0) {
  for (const p of [rootWatchSocketPath(), rootSocketPath()]) chownSync(p, owner, Number.isInteger(ownerGroup) ? ownerGroup : -1);
}
log.info('root daemon ready', { version: TP_VERSION, socket: rootSocketPath(), guardian: guardianPid, followGraceMs: graceMs });
