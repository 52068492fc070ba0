// A CPU profile of a Node process that is already running — the traffic manager in its pod —
// taken through the inspector protocol: SIGUSR1 opens the process's inspector on 127.0.0.1:9229
// inside its own network namespace, a child entered into that namespace (nsenter -n; the file
// system stays the host's) starts the profiler, and on stop writes the .cpuprofile and closes the
// inspector again. Used by bench/cluster-suite.ts --profile-manager; needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface RunningProfile {
  /** Stops the profiler and resolves once the profile is written to the file given to start. */
  stop(): Promise<void>;
}

/** Starts profiling process `pid` (sampling every `intervalUs`), written to `file` on stop. */
export async function profileRunningProcess(pid: number, file: string, intervalUs = 100): Promise<RunningProfile> {
  process.kill(pid, 'SIGUSR1');
  const child: ChildProcess = spawn(
    'nsenter',
    ['-t', String(pid), '-n', process.execPath, fileURLToPath(import.meta.url), 'child', file, String(intervalUs)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const next = async () => {
    const [line] = (await once(lines, 'line')) as [string];
    if (line.startsWith('error')) throw new Error(`profiling pid ${pid}: ${line}`);
    return line;
  };
  await next(); // "started"
  return {
    async stop() {
      child.stdin!.end('stop\n');
      await next(); // "written"
      await once(child, 'exit');
    },
  };
}

/** The child, inside the target's network namespace. */
async function child(file: string, intervalUs: number): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  const { default: WebSocket } = await import('ws');
  let targets: Array<{ webSocketDebuggerUrl: string }> = [];
  for (let i = 0; i < 50 && targets.length === 0; i++) {
    targets = await fetch('http://127.0.0.1:9229/json/list').then(
      (r) => r.json() as Promise<typeof targets>,
      () => [],
    );
    if (targets.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  if (!targets[0]) throw new Error('no inspector on 127.0.0.1:9229 (did SIGUSR1 reach a Node process?)');
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await once(ws, 'open');
  let id = 0;
  const pending = new Map<number, (r: { result?: Record<string, unknown>; error?: { message: string } }) => void>();
  ws.on('message', (m) => {
    const r = JSON.parse(String(m)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    if (r.id !== undefined) pending.get(r.id)?.(r);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const i = ++id;
      pending.set(i, (r) => (r.error ? reject(new Error(`${method}: ${r.error.message}`)) : resolve(r.result ?? {})));
      ws.send(JSON.stringify({ id: i, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: intervalUs });
  await call('Profiler.start');
  console.log('started');
  await once(process.stdin, 'end');
  const { profile } = (await call('Profiler.stop')) as { profile: unknown };
  writeFileSync(file, JSON.stringify(profile));
  // Close the inspector again: it must not stay open in the manager after the bench. It closes
  // this very session, so no answer comes: the call is sent, not awaited.
  void call('Runtime.evaluate', { expression: 'process._debugEnd()' }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  console.log('written');
  ws.terminate();
  process.exit(0);
}

if (process.argv[2] === 'child' && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdin.resume();
  child(process.argv[3]!, Number(process.argv[4])).catch((err: Error) => {
    console.log(`error ${err.message}`);
    process.exit(1);
  });
}
