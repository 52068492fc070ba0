// The guardian of the root daemon (the design is at the top of main.ts): it forks the worker,
// waits for it to end however it ends, and applies what the worker's state file still lists —
// within milliseconds of the exit, because the kernel tells a parent at once (SIGCHLD) and the
// parent alone learns how the child ended (killed by which signal, or its exit code).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { rootRuntimeDir, type RootExit } from '../common/rpc/root.js';
import { revertState, type StateFile } from './state.js';

/** The guardian's pid, so that a new root daemon waits for an old guardian still reverting. */
export function guardianPidPath(): string {
  return join(rootRuntimeDir(), 'root-guardian.pid');
}

/** How long a worker has to clean up after SIGTERM before the guardian kills it and reverts
 * itself (the worker's own deadline is 5 s). */
const WORKER_STOP_MS = 6_000;

export interface GuardianOptions {
  workerMain: string;
  args: string[];
  stateFile: StateFile;
  exitPath: string;
  /** The worker's sockets: removed after a death that left them behind. */
  sockets: string[];
  log: Logger;
}

export class Guardian {
  #worker: ChildProcess | undefined;
  #stated: string | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  /** Resolves with the guardian's exit code once the worker is gone and its changes undone. */
  readonly done: Promise<number>;
  #resolve!: (code: number) => void;

  constructor(private readonly opts: GuardianOptions) {
    this.done = new Promise((r) => (this.#resolve = r));
  }

  start(): number | undefined {
    const { log } = this.opts;
    // detached: the worker gets a process group of its own, so a signal to the guardian's group
    // (a terminal's Ctrl-C, `kill -- -PGID`) reaches the worker only through the guardian, and a
    // kill of the worker's group leaves the guardian to clean up.
    const w = fork(this.opts.workerMain, this.opts.args, { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#worker = w;
    w.on('message', (m: unknown) => {
      const why = (m as { exiting?: unknown } | null)?.exiting;
      if (typeof why === 'string') this.#stated = why.slice(0, 300);
    });
    w.on('error', (err) => {
      log.error('worker error', { err });
      // Never started (no 'exit' will follow): nothing was changed, nothing to undo.
      if (w.pid === undefined) this.#resolve(1);
    });
    w.once('exit', (code, signal) => void this.#onExit(w.pid!, code, signal));
    log.info('worker started', { worker: w.pid });
    return w.pid;
  }

  /** SIGTERM and friends: the worker cleans up itself; if it does not in time, it is killed and
   * the guardian reverts for it. */
  stop(signal: NodeJS.Signals): void {
    const w = this.#worker;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    w.kill(signal);
    this.#killTimer ??= setTimeout(() => w.kill('SIGKILL'), WORKER_STOP_MS);
  }

  async #onExit(pid: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const t0 = performance.now();
    clearTimeout(this.#killTimer);
    const { log, stateFile } = this.opts;
    const rec: RootExit = {
      pid,
      guardianPid: process.pid,
      at: new Date().toISOString(),
      ...(signal ? { signal } : {}),
      ...(code !== null ? { code } : {}),
      ...(this.#stated ? { stated: this.#stated } : {}),
      reverted: [],
    };
    // First the record, so that the user daemon can name the cause while we revert.
    this.#writeExit(rec);
    const s = stateFile.read();
    // Only the worker's own plan: pid 0 is a plan that could not be read, reverted to be safe.
    if (s && (s.pid === pid || s.pid === 0)) {
      try {
        rec.reverted = await revertState(s);
      } catch (err) {
        log.error('reverting after the worker died failed', { err });
      }
      stateFile.clear();
      this.#writeExit(rec);
    }
    for (const p of this.opts.sockets) rmSync(p, { force: true });
    const ms = Math.round(performance.now() - t0);
    const clean = !signal && code === 0;
    (clean ? log.info : log.warn).call(log, 'worker exited', {
      worker: pid,
      code,
      signal,
      stated: this.#stated,
      reverted: rec.reverted,
      revertMs: ms,
    });
    this.#resolve(clean ? 0 : 1);
  }

  #writeExit(rec: RootExit): void {
    try {
      writeFileSync(`${this.opts.exitPath}.tmp`, JSON.stringify(rec), { mode: 0o644 });
      renameSync(`${this.opts.exitPath}.tmp`, this.opts.exitPath);
    } catch (err) {
      this.opts.log.warn('cannot write the exit record', { err });
    }
  }
}

/** Whether `pid` is a live process of tp's root daemon (guardian or worker) for the same runtime
 * directory: a pid file or state file may name a pid that was reused by something else since. */
export function isRootDaemonProcess(pid: number, runtimeDir = rootRuntimeDir()): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false; // gone (a zombie has an empty cmdline: gone too)
  }
  if (!args.some((a) => /\/root\/(main|worker)\.js$/.test(a))) return false;
  const i = args.indexOf('--runtime-dir');
  return (i >= 0 ? args[i + 1] : '/run/tp') === runtimeDir;
}

/** Waits until none of `pids` is a live root daemon process; false if one still is after
 * `timeoutMs`. A guardian (or a worker that lost its guardian) that is still undoing a crash must
 * finish before a new daemon changes anything, or its revert would take the new changes too. */
export async function waitForPredecessors(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some((p) => isRootDaemonProcess(p))) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

export function readPid(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}
