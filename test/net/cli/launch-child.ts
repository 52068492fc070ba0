// Run inside the test's namespace by root-launch.test.ts: what `tp connect` does to start the
// root daemon (lib/cli/root-daemon.ts), as root, then exits — as the CLI does when it is done.
// Prints {cliPid, cliSid} on stdout.
import { readFileSync } from 'node:fs';
import { ensureRootDaemon } from '../../../lib/cli/root-daemon.js';

if (process.argv[2] === 'run') {
  await ensureRootDaemon({ logLevel: 'debug', isTTY: false });
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const sid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  process.stdout.write(JSON.stringify({ cliPid: process.pid, cliSid: sid }) + '\n');
}
