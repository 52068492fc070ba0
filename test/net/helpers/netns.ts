// Network namespaces for tier-2 tests: the "workstation" of a test is a namespace it made, so
// TUN devices, addresses, routes and qdiscs never touch the host's own network (DESIGN.md §7).
//
//   const ns = await netns(t);              // deleted (and its processes killed) at teardown
//   await ns.run('ip', ['addr']);           // a command inside, output collected
//   const child = ns.node(script, args);    // a Node process inside, with an IPC channel
//
// A Node process cannot move itself into a namespace, so everything that must live inside —
// the TUN owner, servers, clients — is a child started with `ip netns exec`.

import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const execFileP = promisify(execFile);

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface Netns {
  readonly name: string;
  /** Runs a command inside; rejects on a non-zero exit (the error carries stdout/stderr). */
  run(cmd: string, args: string[], opts?: { timeoutMs?: number; maxBuffer?: number }): Promise<RunResult>;
  /** Starts a long-lived command inside; killed at teardown. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Starts `node script args` inside with an IPC channel (process.send works in the child). */
  node(script: string | URL, args?: string[], opts?: { execArgv?: string[] }): ChildProcess;
  /** Kills what was started inside and deletes the namespace; idempotent. */
  delete(): Promise<void>;
}

/** Makes a namespace `tpt-<random>` with loopback up. With `t`, it is deleted at teardown. */
export async function netns(t?: ExecutionContext): Promise<Netns> {
  const name = `tpt-${randomBytes(4).toString('hex')}`;
  await execFileP('ip', ['netns', 'add', name]);
  const children = new Set<ChildProcess>();
  let deleted = false;
  const ns: Netns = {
    name,
    async run(cmd, args, opts = {}) {
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', name, cmd, ...args], {
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: opts.maxBuffer ?? 16 << 20,
        killSignal: 'SIGKILL',
      });
      return { stdout, stderr };
    },
    spawn(cmd, args, opts = {}) {
      const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    node(script, args = [], opts = {}) {
      const path = typeof script === 'string' ? script : script.pathname;
      // `ip netns exec` execs the command in place: the child's pid is node's own, and the IPC
      // fd (NODE_CHANNEL_FD) is inherited through the exec.
      return ns.spawn(process.execPath, [...(opts.execArgv ?? []), path, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    },
    async delete() {
      if (deleted) return;
      deleted = true;
      const exited = [...children].map(
        (c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))),
      );
      for (const c of children) c.kill('SIGKILL');
      // Anything else started inside (iperf3 forks nothing, but a failed test may leave a
      // process we spawned through run()): those pids are ours, they live in our namespace.
      const pids = await execFileP('ip', ['netns', 'pids', name]).then(
        (r) => r.stdout.split(/\s+/).filter(Boolean).map(Number),
        () => [],
      );
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 2000))]);
      await execFileP('ip', ['netns', 'delete', name]);
    },
  };
  t?.teardown(() => ns.delete());
  try {
    await ns.run('ip', ['link', 'set', 'lo', 'up']);
  } catch (err) {
    await ns.delete();
    throw err;
  }
  return ns;
}

/** Waits for the first IPC message from `child` that `pick` accepts; rejects if it exits first. */
export function nextMessage<T>(child: ChildProcess, pick: (m: unknown) => T | undefined, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      const v = pick(m);
      if (v === undefined) return;
      done();
      resolve(v);
    };
    const onExit = (code: number | null, sig: string | null) => {
      done();
      reject(new Error(`child exited (${code ?? sig}) before answering`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no answer from child within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** CPU time (user + system) a process has used, in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may contain spaces); utime and stime
  // are fields 14 and 15 of the whole line, in clock ticks (USER_HZ, 100 on Linux).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Context switches of a process (voluntary + involuntary): each wake-up from sleep is one. */
export function contextSwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  let n = 0;
  for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
  return n;
}
