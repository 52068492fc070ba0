// The CLI's side of the CLI↔user-daemon seam: typed calls over the unix socket, and starting the
// daemon on demand (detached, logging to its own file) when it is not running.
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonCallError, daemonSocketPath, logDir, type DaemonCalls, type DaemonMethod } from '../common/rpc/daemon.js';
import { rootSocketPath, type VifStatus } from '../common/rpc/root.js';
import { startDaemon } from '../common/spawn-daemon.js';
import { rotateIfLarge } from '../common/log.js';
import { daemonCall } from './daemon-call.js';

const USER_DAEMON_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'user', 'main.js');

export async function callDaemon<M extends DaemonMethod>(
  method: M,
  body: DaemonCalls[M]['request'],
  timeoutMs = 120_000,
): Promise<DaemonCalls[M]['response']> {
  try {
    return await daemonCall<DaemonCalls[M]['response']>(daemonSocketPath(), method, body, timeoutMs, 'user daemon');
  } catch (err) {
    if (err instanceof DaemonCallError && err.code === 'E_TIMEOUT')
      throw new DaemonCallError(err.code, err.message, `see ${join(logDir(), 'user-daemon.log')}`);
    throw err;
  }
}

/** Whether the user daemon runs: it answers a status call within 3 s. */
export async function daemonRunning(): Promise<boolean> {
  return (await callDaemonIfRunning('status', {})) !== undefined;
}

/** The answer of a running daemon; undefined when there is no daemon, or none that answers
 * within `timeoutMs` (what daemonRunning() says). For commands that would otherwise ask twice
 * — once whether it runs, then the call — which costs a connection and a round trip. */
export async function callDaemonIfRunning<M extends DaemonMethod>(
  method: M,
  body: DaemonCalls[M]['request'],
  timeoutMs = 3_000,
): Promise<DaemonCalls[M]['response'] | undefined> {
  if (!existsSync(daemonSocketPath())) return undefined;
  try {
    return await callDaemon(method, body, timeoutMs);
  } catch {
    return undefined;
  }
}

/** The root daemon's status when one runs and answers within 3 s (`tp version` shows its
 * version; the root daemon answers its user's CLI too). One call, as callDaemonIfRunning. */
export async function rootStatusIfRunning(): Promise<VifStatus | undefined> {
  if (!existsSync(rootSocketPath())) return undefined;
  return daemonCall<VifStatus>(rootSocketPath(), 'status', {}, 3_000, 'root daemon').catch(() => undefined);
}

/** Starts the user daemon unless it runs; resolves once it answers. */
export async function ensureDaemon(): Promise<void> {
  if (await daemonRunning()) return;
  const errLog = join(logDir(), 'user-daemon.stderr.log');
  // The daemon's raw output is appended by the kernel, not by our logger: rotate it here.
  rotateIfLarge(errLog);
  const { ready } = await startDaemon(process.execPath, [USER_DAEMON_MAIN], errLog, daemonRunning);
  if (!ready) throw new DaemonCallError('E_DAEMON_START', 'the user daemon did not start', `see ${errLog}`);
}
