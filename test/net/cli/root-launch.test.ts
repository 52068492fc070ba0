// #15: the CLI starts the root daemon (lib/cli/root-daemon.ts → root-launch.js), here as root so
// no sudo is involved: the daemon comes up, outlives the CLI, and runs in a session of its own
// (a terminal's hangup or a later Ctrl-C cannot reach it), with its output in the log directory.
// In a namespace of the test's own, with its own mount namespace for /etc/resolv.conf.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unixCall } from '../../../lib/common/rpc/unix-http.js';
import type { VifStatus } from '../../../lib/common/rpc/root.js';
import { netns } from '../helpers/netns.js';
import { waitGone } from '../root/rootd.js';

const CHILD = new URL('./launch-child.js', import.meta.url).pathname;
const sessionOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
};

test("#15: the CLI's start of the root daemon: it answers, outlives the CLI, and leads a session of its own", async (t) => {
  if (process.getuid?.() !== 0) return t.fail('the net tier runs as root');
  const dir = mkdtempSync(join(tmpdir(), 'tp-launch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ns = await netns(t);
  const runtimeDir = join(dir, 'run');
  const logDir = join(dir, 'logs');
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.0.0.53\n');
  const script = `mount --bind ${join(dir, 'resolv.conf')} /etc/resolv.conf && TP_ROOT_RUNTIME_DIR=${runtimeDir} TP_LOG_DIR=${logDir} exec ${process.execPath} ${CHILD} run`;
  const { stdout } = await ns.run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { timeoutMs: 30_000 });
  const cli = JSON.parse(stdout.trim()) as { cliPid: number; cliSid: number };

  const call = (method: 'status' | 'quit') => unixCall<VifStatus>(join(runtimeDir, 'root-daemon.sock'), method, {}, 5_000, 'root daemon');
  const status = await call('status');
  t.teardown(async () => {
    await call('quit').catch(() => {});
    if (status.guardianPid) await waitGone(status.guardianPid, 5_000);
  });
  if (!status.guardianPid) return t.fail('the root daemon names no guardian');
  t.false(existsSync(`/proc/${cli.cliPid}`), 'the CLI has exited; the daemon answers without it');
  t.is(sessionOf(status.guardianPid), status.guardianPid, 'the guardian leads its own session (setsid)');
  t.not(sessionOf(status.guardianPid), cli.cliSid, "not the CLI's session, so not its terminal's");
  t.regex(
    readFileSync(`/proc/${status.guardianPid}/cmdline`, 'utf8').split('\0').join(' '),
    /--runtime-dir \S+ --log-dir \S+ --log-level debug/,
    "the CLI's flags reached it (sudo passes no environment)",
  );
  t.regex(readFileSync(join(logDir, 'root-daemon.log'), 'utf8'), /"msg":"root daemon ready"/, 'it logs where the CLI said');
  await call('quit');
  t.true(await waitGone(status.guardianPid, 5_000), 'tp quit -s still stops it');
});
