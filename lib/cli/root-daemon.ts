// `tp connect` (VIF mode) starts the root daemon here, in the user's terminal: the CLI is the only
// process that can let sudo ask for a password, and the one whose terminal holds sudo's timestamp.
// The user daemon only attaches to the running root daemon (lib/user/root-link.ts).
//
//   root already                 → the launcher directly
//   stdin is a terminal          → `sudo` (it may prompt; its messages reach the terminal)
//   no terminal                  → `sudo -n`; when sudo would need a password, one sentence
//                                   says what to do
// The launcher (root-launch.ts) puts the daemon in a session of its own and exits, so the CLI
// waits for sudo, then for the daemon's socket to answer.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Level } from '../common/log.js';
import { logDir } from '../common/rpc/daemon.js';
import { rootRuntimeDir } from '../common/rpc/root.js';
import { loadTunAddon, type TunAddonLoad } from '../root/tun-addon.js';
import { rootRunning } from '../user/root-link.js';
import { rotateIfLarge } from '../common/log.js';
import { CliError } from './output.js';

const LAUNCHER = fileURLToPath(new URL('./root-launch.js', import.meta.url));
const NO_ROOT_HINT = 'or use `tp connect --socks`, which needs no root';

export interface RootStartOptions {
  logLevel: Level;
  /** Injected by tests. */
  isTTY?: boolean;
  uid?: number;
  sudo?: string;
  readyTimeoutMs?: number;
  running?: () => Promise<boolean>;
  addon?: () => TunAddonLoad;
}

/** What sudo's exit and stderr mean, as one sentence with what to do. */
export function sudoFailure(code: number | null, stderr: string, interactive: boolean): CliError {
  if (!interactive && /password is required|terminal is required|no tty present|askpass/i.test(stderr)) {
    return new CliError(
      'E_NEED_ROOT',
      'tp connect needs root for its network interface, and sudo wants a password but there is no terminal to ask it in',
      `run \`tp connect\` in a terminal, allow tp's root daemon in sudoers without a password (see the README, "sudo"), ${NO_ROOT_HINT}`,
    );
  }
  if (/not in the sudoers|not allowed to execute|may not run sudo/i.test(stderr)) {
    return new CliError(
      'E_NEED_ROOT',
      'tp connect needs root for its network interface, and sudo does not allow you to run it',
      `ask an administrator for sudo, run tp connect as root, ${NO_ROOT_HINT}`,
    );
  }
  const last = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  return new CliError(
    'E_NEED_ROOT',
    `tp connect needs root for its network interface, and sudo did not start the root daemon (${last ?? `exit code ${code}`})`,
    interactive ? `try again (a mistyped password?), ${NO_ROOT_HINT}` : `run \`tp connect\` in a terminal, ${NO_ROOT_HINT}`,
  );
}

/** Starts the root daemon unless it runs; resolves once it answers. */
export async function ensureRootDaemon(o: RootStartOptions): Promise<void> {
  const running = o.running ?? rootRunning;
  if (await running()) return;
  // Without the addon the daemon could only fail after sudo: say so before asking for a password.
  const addon = (o.addon ?? loadTunAddon)();
  if (!addon.ok) throw new CliError('E_TUN_ADDON', addon.reason, addon.hint);

  const outLog = join(logDir(), 'root-daemon.stderr.log');
  mkdirSync(logDir(), { recursive: true });
  rotateIfLarge(outLog);
  const flags = ['--runtime-dir', rootRuntimeDir(), '--log-dir', logDir(), '--log-level', o.logLevel];
  const asRoot = (o.uid ?? process.getuid?.()) === 0;
  const interactive = o.isTTY ?? process.stdin.isTTY === true;
  const sudo = o.sudo ?? 'sudo';
  const [cmd, args] = asRoot
    ? [process.execPath, [LAUNCHER, ...flags]]
    : [
        sudo,
        [
          ...(interactive ? ['-p', '[tp] root is needed for the network interface; password for %p: '] : ['-n']),
          process.execPath,
          LAUNCHER,
          ...flags,
        ],
      ];
  const out = openSync(outLog, 'a');
  let stderr = '';
  const result = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    // Not detached: sudo needs this session's terminal. The launcher leaves it for the daemon.
    const child = spawn(cmd, args, { stdio: [interactive ? 'inherit' : 'ignore', out, interactive ? 'inherit' : 'pipe'] });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('exit', (code) => resolve({ code }));
  }).finally(() => closeSync(out));
  if (result.error) {
    if (result.error.code === 'ENOENT' && !asRoot) {
      throw new CliError(
        'E_NEED_ROOT',
        'tp connect needs root for its network interface, and sudo is not installed',
        `run tp connect as root, ${NO_ROOT_HINT}`,
      );
    }
    throw new CliError('E_ROOT_DAEMON_START', `the root daemon could not be started: ${result.error.message}`, `see ${outLog}`);
  }
  if (result.code !== 0) {
    if (asRoot) throw new CliError('E_ROOT_DAEMON_START', `the root daemon's launcher failed (exit code ${result.code})`, `see ${outLog}`);
    throw sudoFailure(result.code, stderr, interactive);
  }
  const deadline = Date.now() + (o.readyTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (await running()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError('E_ROOT_DAEMON_START', 'the root daemon did not start', `see ${outLog} and ${join(logDir(), 'root-daemon.log')}`);
}
