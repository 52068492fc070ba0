// The root daemon (VIF mode), started by the user daemon — through `sudo -n` when the user is not
// root. Logs to <logDir>/root-daemon.log.
//
// Crash safety (issue 18): whatever kills a tp process, the workstation resolves and routes as
// before `tp connect` within 2 s. The root daemon is two processes:
//
//   sudo ─▶ guardian (this file, guardian.ts) ──fork, IPC──▶ worker (worker.ts: API socket,
//           small, changes nothing itself                    watch socket, TUN, routes, DNS)
//
// - The worker writes the revert plan — the state file (state.ts): TUN, routes that are not bound
//   to the TUN, the iptables redirect (nat OUTPUT hook and chain TP-DNS), the systemd-resolved
//   link — synchronously before each change lands.
// - The guardian is the worker's parent, so the kernel tells it the instant the worker dies
//   (SIGCHLD), kill -9 and the OOM killer included, and tells it how (waitpid: the signal or the
//   exit code). It then writes the exit record (root-exit.json, for the user daemon's status) and
//   applies what the plan still lists (revertState, the same code as the next start's recovery).
//   A worker that cleaned up itself leaves an empty plan and the guardian has nothing to do.
//   Measured on a 2-core machine: kill -9 of the worker → DNS redirect and routes gone in
//   ~0.1–0.3 s (test/net/root/crash.test.ts logs each case).
// - Worker and guardian are in different process groups, so no group signal takes both; the
//   guardian forwards SIGTERM/SIGINT/SIGHUP. If the guardian dies, the worker sees its IPC channel
//   close and reverts and exits itself: no change stays unguarded.
// - The worker follows its user daemon (follow.ts): the user daemon holds a connection to the
//   watch socket; when none is held for FOLLOW_GRACE_MS (10 s), the worker reverts and exits. The
//   same connection tells the user daemon at once that the worker died (lib/user/root-link.ts).
// - If both die at once (power loss, a kill of both pids), the next start applies the stale plan
//   before anything else — after waiting for any predecessor that is still reverting, so that an
//   old revert never removes a new daemon's rules.
//
// Why not rules that fail open by construction: routes into the TUN and the resolved link do
// (the kernel drops them with the TUN, resolved forgets a link that goes away), but the iptables
// DNAT to tp's DNS port outlives the process, and no netfilter match ties a rule to a process's
// life (an ipset entry with a timeout refreshed by the daemon would fail open after the timeout,
// yet leave the rule and set behind). A guardian undoes everything, and sooner.
import { join } from 'node:path';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLogger, isLevel } from '../common/log.js';
import { logDir } from '../common/rpc/daemon.js';
import { rootExitPath, rootRuntimeDir, rootSocketPath, rootStatePath, rootWatchSocketPath } from '../common/rpc/root.js';
import { TP_VERSION } from '../common/version.js';
import { Guardian, guardianPidPath, readPid, waitForPredecessors } from './guardian.js';
import { StateFile } from './state.js';

// Flags rather than environment: sudo does not pass the environment through. The worker gets the
// same flags.
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
  fields: { pid: process.pid, role: 'guardian' },
});
process.on('uncaughtException', (err) => log.error('uncaught exception', { err, stack: err.stack }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));

if (process.getuid?.() !== 0) {
  log.error('the root daemon must run as root');
  process.stderr.write('tp: the root daemon must run as root; start it through `tp connect`, which uses sudo.\n');
  process.exit(1);
}

const state = new StateFile(rootStatePath());
const pidPath = guardianPidPath();
const predecessors = [readPid(pidPath), state.read()?.pid ?? 0];
if (!(await waitForPredecessors(predecessors, 8_000))) {
  log.error('another root daemon is still running', { pids: predecessors });
  process.stderr.write(
    `tp: another root daemon is still running (pid ${predecessors.filter(Boolean).join(', ')}); stop it with \`tp quit -s\`.\n`,
  );
  process.exit(1);
}
mkdirSync(rootRuntimeDir(), { recursive: true, mode: 0o755 });
writeFileSync(pidPath, `${process.pid}\n`);
const undone = await state.restore();
if (undone.length > 0) log.warn('undid changes left by a previous root daemon', { undone });

const guardian = new Guardian({
  workerMain: join(fileURLToPath(new URL('.', import.meta.url)), 'worker.js'),
  args: process.argv.slice(2),
  stateFile: state,
  exitPath: rootExitPath(),
  sockets: [rootSocketPath(), rootWatchSocketPath()],
  log,
});
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => guardian.stop(sig));
const worker = guardian.start();
log.info('root daemon guardian ready', { version: TP_VERSION, worker });
process.exitCode = await guardian.done;
if (readPid(pidPath) === process.pid) rmSync(pidPath, { force: true });
