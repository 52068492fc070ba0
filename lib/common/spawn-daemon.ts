// Starting a daemon on demand: detached from the caller, output appended to its own file, and a
// wait until it answers (or exits). Used by the CLI for the user daemon and by the user daemon for
// the root daemon.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export async function startDaemon(
  cmd: string,
  args: string[],
  outputFile: string,
  ready: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<{ ready: boolean; child: ChildProcess; spawnError?: Error }> {
  mkdirSync(dirname(outputFile), { recursive: true });
  const out = openSync(outputFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err)); // e.g. ENOENT: the command is not installed
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (spawnError) return { ready: false, child, spawnError };
    if (await ready()) return { ready: true, child };
    if (child.exitCode !== null) break;
  }
  return { ready: false, child, ...(spawnError ? { spawnError } : {}) };
}
