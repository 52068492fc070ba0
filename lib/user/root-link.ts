// The user daemon's side of the root daemon: start it when needed (directly when we are root,
// through `sudo -n` otherwise), call it over its unix socket, and hold its watch socket.
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { startDaemon } from '../common/spawn-daemon.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonCallError, logDir } from '../common/rpc/daemon.js';
import {
  describeRootExit, rootExitPath, rootRuntimeDir, rootSocketPath, rootWatchSocketPath, vifDownSentence,
  type RootCalls, type RootExit, type RootMethod, type RootWatchEvent,
} from '../common/rpc/root.js';
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

/** Starts the root daemon if needed and holds its watch. One that was about to leave (its grace
 * for a previous user daemon ran out as we came) refuses the watch: then a fresh one is started. */
export async function attachRootDaemon(): Promise<RootWatch> {
  await ensureRootDaemon();
  try {
    return await RootWatch.open();
  } catch {
    await new Promise((r) => setTimeout(r, 500));
    await ensureRootDaemon();
    return RootWatch.open();
  }
}

/**
 * The user daemon's held connection to the root daemon's watch socket (lib/root/watch.ts). While
 * it is open the root daemon keeps the VIF (it follows us); when the root daemon dies the kernel
 * closes it, so `down` is set the same instant — no polling — and then refined with the cause
 * from the guardian's exit record ("killed by signal 9").
 * Events: 'down' (sentence), once, and again if the cause arrives later.
 */
export class RootWatch extends EventEmitter {
  down: string | undefined;
  #closing = false;
  #stated: string | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly pid: number,
    readonly guardianPid: number,
    private readonly exitPath: string,
  ) {
    super();
  }

  /** Connects and waits for the root daemon's hello. */
  static async open(timeoutMs = 5_000): Promise<RootWatch> {
    const path = rootWatchSocketPath();
    const exitPath = rootExitPath();
    const socket = connect(path);
    socket.setEncoding('utf8');
    let watch: RootWatch | undefined;
    let stated: string | undefined;
    const hello = new Promise<Extract<RootWatchEvent, { type: 'hello' }>>((resolve, reject) => {
      const fail = (err: Error) => {
        socket.destroy();
        reject(new DaemonCallError('E_ROOT_WATCH', `cannot watch the root daemon at ${path}: ${err.message}`, 'the root daemon may be of another version: run `tp quit -s` and `tp connect`'));
      };
      const timer = setTimeout(() => fail(new Error(`no hello within ${timeoutMs / 1000} s`)), timeoutMs);
      socket.once('error', (err) => fail(err));
      socket.once('close', () => fail(new Error('it closed the connection')));
      createInterface({ input: socket, crlfDelay: Infinity }).on('line', (l) => {
        const e = parseEvent(l);
        if (e?.type === 'hello') {
          clearTimeout(timer);
          resolve(e);
        } else if (e?.type === 'exiting') {
          stated = e.reason;
          if (watch) watch.#stated = e.reason;
        }
      });
    });
    const h = await hello;
    const w = (watch = new RootWatch(socket, h.pid, h.guardianPid, exitPath));
    w.#stated = stated;
    socket.on('error', () => {});
    socket.once('close', () => void w.#lost());
    if (socket.destroyed) void w.#lost();
    return w;
  }

  /** Lets go of the root daemon (it reverts and exits after its grace unless another user daemon
   * holds it); no 'down' follows. */
  close(): void {
    this.#closing = true;
    this.socket.destroy();
  }

  async #lost(): Promise<void> {
    if (this.#closing || this.down !== undefined) return;
    this.#set(this.#stated);
    if (this.#stated) return;
    // The guardian writes the record as soon as it has reaped the worker, a few ms after the
    // socket closed: a bounded wait for the cause, not a poll for the death.
    for (let i = 0; i < 40 && !this.#closing; i++) {
      const rec = readExit(this.exitPath);
      if (rec?.pid === this.pid) return this.#set(describeRootExit(rec));
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #set(why: string | undefined): void {
    this.down = vifDownSentence(why);
    this.emit('down', this.down);
  }
}

function parseEvent(line: string): RootWatchEvent | undefined {
  try {
    const e = JSON.parse(line) as RootWatchEvent;
    return typeof e === 'object' && e !== null && typeof e.type === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

function readExit(path: string): RootExit | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RootExit;
  } catch {
    return undefined;
  }
}
