// Run by sudo (or directly as root) from `tp connect`: starts the root daemon detached from the
// user's terminal and exits. sudo has to run in the CLI's session — that is where it finds its
// per-terminal timestamp and where it can ask for a password — but the daemon must not stay in
// that session (the terminal's hangup, or a Ctrl-C of a later foreground job, would reach it).
// So sudo starts this small program, which starts the daemon in a session of its own (setsid,
// through `detached`) with its output on our stdout (the log file the CLI opened), then leaves.
//
//   node root-launch.js [root daemon flags...]
// It starts only the root daemon of its own tp installation (…/dist/lib/root/main.js), so a
// sudoers rule for this one command line is a rule for tp's root daemon and nothing else.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT_MAIN = fileURLToPath(new URL('../root/main.js', import.meta.url));

const child = spawn(process.execPath, [ROOT_MAIN, ...process.argv.slice(2)], { detached: true, stdio: ['ignore', 1, 1], env: process.env });
child.once('error', (err) => {
  process.stderr.write(`tp: cannot start the root daemon: ${err.message}.\n`);
  process.exit(1);
});
child.once('spawn', () => {
  child.unref();
  process.exit(0);
});
