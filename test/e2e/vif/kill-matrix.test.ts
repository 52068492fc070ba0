// Tier 3, issue 18: the kill matrix. `kill -9` of the root daemon, of the user daemon, and of the
// CLI in the middle of `tp connect`, each while idle and during a bulk transfer through tp0, in a
// workstation namespace of the local cluster. After each:
//   - within the time issue 18 states (2 s after the root daemon; the follow grace + 2 s after the
//     user daemon) the workstation's routes, links, addresses, nat/filter rules and resolver equal
//     the snapshot taken before `tp connect` — or, for the CLI, tp works as `tp status` says;
//   - `tp status` tells the truth (never `connected` with the VIF gone; the sentence says why);
//   - `tp connect` then works (curl by Service name), and `tp quit -s` leaves the snapshot again.
// Each case logs its time to restore. Every wait is bounded; the bulk transfer is a 64 MiB upload
// at 4 MiB/s (16 s at most, cut by the kill or by curl's --max-time), so the echo pod buffers
// little. The net tier (test/net/root/crash.test.ts) has the same cases against a test manager.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FOLLOW_GRACE_MS } from '../../../lib/root/follow.js';
import type { DaemonStatus } from '../../../lib/common/rpc/daemon.js';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  eventually,
  makeWorkstation,
  REPO_ROOT,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
  workstationSnapshot,
} from '../../helpers/cluster.js';

const WS = 'tpws-kill';
/** Issue 18: from the root daemon's death to a workstation as before `tp connect`. */
const ROOT_RESTORE_MS = 2_000;
/** After the user daemon's death the root daemon waits for it for the grace, then reverts. */
const USER_RESTORE_MS = FOLLOW_GRACE_MS + 2_000;
const BULK_BYTES = 64 << 20;

let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;
let before: Record<string, string>;

type Status = DaemonStatus & { userDaemon: string };

const inWs = (cmd: string, args: string[], timeoutMs = 20_000) => sh(cmd, args, { netns: WS, timeoutMs });
const snapshot = () => workstationSnapshot(WS);
const status = async (): Promise<Status> => JSON.parse((await tp(['status', '-o', 'json'])).stdout) as Status;
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('kill');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-kill-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  tp.env.TP_ROOT_RUNTIME_DIR = join(dir, 'root-run');
  await applyYaml(echoWorkload(ns.name));
  const installed = await tp(['helm', 'upgrade', '--install']);
  if (installed.code !== 0) throw new Error(`tp helm upgrade --install: ${installed.stderr}`);
  await waitAvailable(ns.name, 'echo');
  before = await snapshot();
});

test.after.always(async () => {
  await tp?.(['quit', '-s']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `tp connect`, and the cluster answers by name through tp0. */
async function connectAndWork(t: ExecutionContext, what: string): Promise<Status> {
  const r = await tp(['connect', '-n', ns.name], { timeoutMs: 90_000 });
  t.is(r.code, 0, `${what}: ${r.stderr}${logs()}`);
  const c = await inWs('curl', ['-sS', '--max-time', '8', `http://echo.${ns.name}/${what.replace(/\W+/g, '-')}`]);
  t.is(c.code, 0, `${what}: curl: ${c.stderr}`);
  t.regex(c.stdout, /^pod: echo-/m);
  const s = await status();
  t.is(s.state, 'connected');
  t.is(s.vif?.interface, 'tp0');
  return s;
}

/** A bulk upload to echo through tp0, started and seen as a flow of the root daemon. */
async function bulk(t: ExecutionContext): Promise<ChildProcess> {
  const url = `http://echo.${ns.name}/bulk`;
  const c = spawn(
    'ip',
    [
      'netns',
      'exec',
      WS,
      'sh',
      '-c',
      `head -c ${BULK_BYTES} /dev/zero | curl -sS -o /dev/null --max-time 30 --limit-rate 4M --data-binary @- ${url}`,
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => void c.kill('SIGKILL'));
  await eventually('the bulk transfer to be a flow of the VIF', 15_000, async () =>
    ((await status()).vif?.flows.tcpActive ?? 0) > 0 ? true : undefined,
  );
  return c;
}

/** The ms from `t0` to the end of the first snapshot equal to `before`; fails past `withinMs`. */
async function restored(t: ExecutionContext, t0: number, withinMs: number): Promise<number> {
  let last: Record<string, string> = {};
  while (performance.now() - t0 <= withinMs) {
    last = await snapshot();
    if (JSON.stringify(last) === JSON.stringify(before)) return Math.round(performance.now() - t0);
  }
  t.deepEqual(last, before, `not as before connect within ${withinMs} ms${logs()}`);
  return Infinity;
}

/** An exited process (curl of a cut transfer) must end by itself: an error, not a hang. */
function endsWithin(c: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (c.exitCode !== null) return resolve(c.exitCode);
    const timer = setTimeout(() => resolve(null), ms);
    c.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** After each case: tp works again, and quitting leaves the workstation as before. */
async function recovers(t: ExecutionContext, what: string): Promise<void> {
  await connectAndWork(t, `${what} then connect`);
  const q = await tp(['quit', '-s']);
  t.is(q.code, 0, q.stderr);
  await eventually('the workstation as before after tp quit -s', 10_000, async () =>
    JSON.stringify(await snapshot()) === JSON.stringify(before) ? true : undefined,
  );
}

for (const during of ['idle', 'bulk'] as const) {
  test.serial(
    `#18: kill -9 of the root daemon (${during}): within 2 s the workstation is as before connect, tp status says the VIF is down and why, tp connect works`,
    async (t) => {
      const s = await connectAndWork(t, `root ${during}`);
      const transfer = during === 'bulk' ? await bulk(t) : undefined;
      const t0 = performance.now();
      process.kill(s.vif!.pid, 'SIGKILL');
      const ms = await restored(t, t0, ROOT_RESTORE_MS);
      t.log(`root daemon kill -9 (${during}): workstation as before connect after ≤ ${ms} ms`);
      const down = await eventually('tp status to name the cause', 3_000, async () => {
        const st = await status();
        return /killed by signal 9/.test(st.lastError ?? '') ? st : undefined;
      });
      t.is(down.state, 'disconnected');
      t.is(down.lastError, 'the VIF is down: the root daemon exited (killed by signal 9); run tp connect');
      t.false(down.vif?.connected);
      t.is(down.vif?.interface, undefined, 'no interface is reported for a VIF that is gone');
      const table = (await tp(['status'])).stdout;
      t.regex(table, /^Connection: +disconnected — the VIF is down: the root daemon exited \(killed by signal 9\); run tp connect$/m);
      t.regex(table, /^Interface: +down$/m);
      t.false(alive(s.vif!.guardianPid!), 'the guardian exits once it has reverted');
      if (transfer) t.not(await endsWithin(transfer, 35_000), null, 'the cut transfer ends by itself');
      await recovers(t, `root ${during}`);
    },
  );

  test.serial(
    `#18: kill -9 of the user daemon (${during}): the root daemon reverts after the grace, within its grace + 2 s; tp status says not running; tp connect works`,
    async (t) => {
      const s = await connectAndWork(t, `user ${during}`);
      const transfer = during === 'bulk' ? await bulk(t) : undefined;
      const t0 = performance.now();
      process.kill(s.daemonPid, 'SIGKILL');
      const ms = await restored(t, t0, USER_RESTORE_MS);
      t.log(`user daemon kill -9 (${during}): workstation as before connect after ≤ ${ms} ms (grace ${FOLLOW_GRACE_MS} ms)`);
      t.true(ms >= FOLLOW_GRACE_MS, 'the root daemon waited for the grace');
      await eventually('the root daemon to exit', 5_000, async () =>
        !alive(s.vif!.pid) && !alive(s.vif!.guardianPid!) ? true : undefined,
      );
      const st = await status();
      t.is(st.userDaemon, 'not running');
      t.is(st.state, 'disconnected');
      if (transfer) t.not(await endsWithin(transfer, 35_000), null, 'the cut transfer ends by itself');
      await recovers(t, `user ${during}`);
    },
  );
}

test.serial(
  '#18: kill -9 of the CLI in the middle of tp connect (idle): tp status tells the truth, and tp connect then works',
  async (t) => {
    t.deepEqual(await snapshot(), before);
    const cli = spawn(
      'ip',
      ['netns', 'exec', WS, process.execPath, '--', join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js'), 'connect', '-n', ns.name],
      { env: tp.env, stdio: 'ignore' },
    );
    t.teardown(() => void cli.kill('SIGKILL'));
    // The middle: the user daemon has started the root daemon and is setting the VIF up.
    const rootSocket = join(tp.env.TP_ROOT_RUNTIME_DIR!, 'root-daemon.sock');
    await eventually('the root daemon to be started by the connect', 60_000, async () => (existsSync(rootSocket) ? true : undefined));
    cli.kill('SIGKILL');
    // Whatever the user daemon made of it, it must be what tp status says.
    const st = await eventually('tp status to settle', 90_000, async () => {
      const s = await status();
      return s.state === 'connected' || s.state === 'disconnected' ? s : undefined;
    });
    t.log(`CLI kill -9 mid-connect (idle): tp status says ${st.state}${st.lastError ? ` (${st.lastError})` : ''}`);
    if (st.state === 'connected') {
      const c = await inWs('curl', ['-sS', '--max-time', '8', `http://echo.${ns.name}/after-cli-kill`]);
      t.is(c.code, 0, `tp status says connected, so the cluster must answer: ${c.stderr}`);
    } else {
      await restored(t, performance.now(), ROOT_RESTORE_MS);
    }
    await recovers(t, 'cli idle');
  },
);

test.serial(
  '#18: kill -9 of the CLI of `tp connect -- CMD` during a bulk transfer by CMD: the connection stays, tp status says so truthfully, tp connect works',
  async (t) => {
    t.deepEqual(await snapshot(), before);
    const url = `http://echo.${ns.name}/bulk-cmd`;
    const cli = spawn(
      'ip',
      [
        'netns',
        'exec',
        WS,
        process.execPath,
        '--',
        join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js'),
        'connect',
        '-n',
        ns.name,
        '--',
        'sh',
        '-c',
        `head -c ${BULK_BYTES} /dev/zero | curl -sS -o /dev/null --max-time 30 --limit-rate 4M --data-binary @- ${url}`,
      ],
      { env: tp.env, stdio: 'ignore' },
    );
    t.teardown(() => void cli.kill('SIGKILL'));
    await eventually("CMD's bulk transfer to be a flow of the VIF", 90_000, async () =>
      ((await status().catch(() => undefined))?.vif?.flows.tcpActive ?? 0) > 0 ? true : undefined,
    );
    // CMD is the CLI's child: it outlives the CLI and is ended by this test.
    const cmdPids = (await sh('ps', ['--ppid', String(cli.pid), '-o', 'pid='])).stdout.split(/\s+/).filter(Boolean).map(Number);
    t.teardown(() => {
      for (const pid of cmdPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    cli.kill('SIGKILL');
    const st = await status();
    t.log(`CLI kill -9 during CMD's bulk transfer: tp status says ${st.state}`);
    t.is(st.state, 'connected', 'nothing of the connection died with the CLI');
    t.true(st.vif?.connected);
    const c = await inWs('curl', ['-sS', '--max-time', '8', `http://echo.${ns.name}/after-cli-kill-bulk`]);
    t.is(c.code, 0, `tp status says connected, so the cluster must answer: ${c.stderr}`);
    await recovers(t, 'cli bulk');
  },
);

function logs(): string {
  let out = '';
  for (const name of ['root-daemon.log', 'user-daemon.log']) {
    try {
      out += `\n--- ${name}:\n` + readFileSync(join(tp.logDir, name), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      // not written (yet)
    }
  }
  return out;
}
