// `tp connect|intercept|… -- CMD`: runs CMD in the foreground with the environment it is given,
// passes Ctrl-C and SIGTERM on to it, and resolves with its exit code (127 when it cannot start).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The preload `tp connect --socks -- CMD` gives Node programs (proxy-preload.ts). Resolved from
 * this file, which sits in lib/cli/ both compiled and bundled (dist/lib/cli/main-chunk-*.js). */
export const PROXY_PRELOAD = fileURLToPath(new URL('./proxy-preload.js', import.meta.url));

export function runCommand(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    child.on('error', (err) => {
      process.stderr.write(`tp: cannot run ${command[0]}: ${err.message}.\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  });
}
