// The user daemon's side of the root daemon: start it when needed (directly when we are root,
// through `sudo -n` otherwise) and call it over its unix socket.
import { existsSync } from 'node:fs';
import { startDaemon } from '../common/spawn-daemon.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonCallError, logDir } from '../common/rpc/daemon.js';
import { rootRuntimeDir, rootSocketPath, type RootCalls, type RootMethod } from '../common/rpc/root.js';
import { unixCall } from '../common/rpc/unix-http.js';

const ROOT_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'root', 'main.js');

export function callRoot<M extends RootMethod>(method: M, body: RootCalls[M]['request'], timeoutMs = 60_000): Promise<RootCalls[M]['response']> {
  return unixCall(rootSocketPath(), method, body, timeoutMs, 'root daemon');
}

export async function rootRunning(): Promise<boolean> {
  if (!existsSync(rootSocketPath())) return false;
  try {
    await callRoot('status', {}, 3_000);
    return true;
  } catch {
    return false;
  }
}

export async function ensureRootDaemon(): Promise<void> {
  if (await rootRunning()) return;
  const errLog = join(logDir(), 'root-daemon.stderr.log');
  const args = [ROOT_MAIN, '--runtime-dir', rootRuntimeDir(), '--log-dir', logDir()];
  const asRoot = process.getuid?.() === 0;
  // sudo -n: never prompt from a daemon; the CLI tells the user to run `sudo -v` instead.
  const { ready, child, spawnError } = asRoot
    ? await startDaemon(process.execPath, args, errLog, rootRunning)
    : await startDaemon('sudo', ['-n', process.execPath, ...args], errLog, rootRunning);
  if (ready) return;
  if (!asRoot && spawnError) {
    throw new DaemonCallError('E_NEED_ROOT', `tp connect needs root for the TUN device and sudo cannot be run (${spawnError.message})`, 'run tp as root, install sudo, or use `tp connect --socks` which needs no root');
  }
  if (!asRoot && child.exitCode === 1) {
    throw new DaemonCallError('E_NEED_ROOT', 'tp connect needs root for the TUN device and sudo asked for a password', 'run `sudo -v` first, or use `tp connect --socks` which needs no root');
  }
  throw new DaemonCallError('E_ROOT_DAEMON_START', 'the root daemon did not start', `see ${errLog}`);
}
