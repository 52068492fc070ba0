// The user daemon's side of the root daemon: call it over its unix socket and hold its watch
// socket. The user daemon never starts it and never runs sudo: the CLI does, in the user's
// terminal where sudo may ask for a password and keeps its timestamp (lib/cli/root-daemon.ts). A
// detached daemon has no terminal, so `sudo -n` from here failed wherever sudo keeps its
// timestamp per terminal (the default, timestamp_type=tty), right after the user typed it.
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { DaemonCallError } from '../common/rpc/daemon.js';
import {
  describeRootExit,
  rootExitPath,
  rootSocketPath,
  rootWatchSocketPath,
  vifDownSentence,
  type RootCalls,
  type RootExit,
  type RootMethod,
  type RootWatchEvent,
} from '../common/rpc/root.js';
import { unixCall } from '../common/rpc/unix-http.js';

/** The answer when the root daemon is not there: the CLI starts it (again) and retries. */
export const ROOT_NOT_RUNNING = 'E_ROOT_NOT_RUNNING';

export function callRoot<M extends RootMethod>(
  method: M,
  body: RootCalls[M]['request'],
  timeoutMs = 60_000,
): Promise<RootCalls[M]['response']> {
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

function notRunning(): DaemonCallError {
  return new DaemonCallError(
    ROOT_NOT_RUNNING,
    'the root daemon is not running',
    'run `tp connect` in a terminal: it starts the root daemon (through sudo)',
  );
}

/** Holds the watch of the root daemon the CLI started. One that was about to leave (its grace
 * for a previous user daemon ran out as we came) refuses the watch: then ROOT_NOT_RUNNING tells
 * the CLI to start a fresh one. */
export async function attachRootDaemon(): Promise<RootWatch> {
  if (!(await rootRunning())) throw notRunning();
  try {
    return await RootWatch.open();
  } catch {
    await new Promise((r) => setTimeout(r, 500));
    if (!(await rootRunning())) throw notRunning();
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
        reject(
          new DaemonCallError(
            'E_ROOT_WATCH',
            `cannot watch the root daemon at ${path}: ${err.message}`,
            'the root daemon may be of another version: run `tp quit -s` and `tp connect`',
          ),
        );
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
