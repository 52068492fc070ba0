// Tier 2, issue 18: the real root daemon (guardian and worker, dist/lib/root/main.js) in a
// namespace of the test's own, connected with routes of every kind and the iptables DNS redirect;
// then killed every way it can die. After each, the namespace's routes, links, addresses, nat and
// filter rules and what its resolver answers must equal the snapshot taken before connect, within
// the time issue 18 promises; each case logs its time to restore (an upper bound: the end of the
// first snapshot that matched). The test process plays the user daemon (rootd.ts).
import test from 'ava';
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { nextMessage } from '../helpers/netns.js';
import { CLIENT_CHILD, CONNECT, PORTS, TARGET, UPSTREAM_ANSWER, rootd, waitGone, type Rootd } from './rootd.js';

/** Issue 18: from the root daemon's death to a workstation that resolves and routes as before. */
const RESTORE_MS = 2_000;
const FOLLOWER_CHILD = new URL('./follower-child.js', import.meta.url).pathname;

/** Starts the daemon, connects, and checks that the VIF really is there and carries traffic. */
async function connected(t: import('ava').ExecutionContext, r: Rootd, graceMs?: number) {
  const before = await r.snapshot();
  t.is(before.dns, UPSTREAM_ANSWER, 'before connect, the LAN nameserver answers');
  await r.start(graceMs ? { graceMs } : {});
  const watch = await r.watch();
  t.teardown(() => watch.close());
  const st = await r.connect();
  t.true(st.connected, JSON.stringify(st));
  const during = await r.snapshot();
  t.is(during.dns, TARGET, 'while connected, cluster names resolve through tp (the redirect is in place)');
  t.regex(during.routes, /10\.100\.0\.128\/25 via 10\.0\.0\.1 dev up0/);
  t.regex(during.routes, /throw fd00:100::\/120/);
  t.regex(during.iptables, /-A OUTPUT -j TP-DNS/);
  const hello = await r.ns.run('curl', ['-sS', '--max-time', '5', `http://${TARGET}:${PORTS.http}/`]);
  t.is(hello.stdout, 'hello from tp\n', 'the VIF carries traffic');
  return { before, during, st, watch };
}

/** Watch's 'down' sentence once it names the cause (`re`), within `ms`. */
async function downSentence(
  watch: { down: string | undefined; on(e: 'down', f: (s: string) => void): unknown },
  re: RegExp,
  ms: number,
): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  while (!(watch.down && re.test(watch.down)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return watch.down;
}

test.serial(
  '#18: kill -9 of the root daemon while idle: within 2 s routes, links, nat/filter rules and the resolver are as before connect; the user side knows at once, and why',
  async (t) => {
    const r = await rootd(t);
    const { before, st, watch } = await connected(t, r);
    const noticed = new Promise<number>((res) => watch.once('down', () => res(performance.now())));
    const t0 = performance.now();
    process.kill(st.pid, 'SIGKILL');
    const ms = await r.restored(before, t0, RESTORE_MS);
    t.log(`kill -9 idle: user daemon told after ${Math.round((await noticed) - t0)} ms; workstation as before connect after ≤ ${ms} ms`);
    t.not(ms, undefined, `not restored within ${RESTORE_MS} ms:\n${JSON.stringify(await r.snapshot(), null, 1)}\n${r.log()}`);
    t.is(
      await downSentence(watch, /killed by signal 9/, 2_000),
      'the VIF is down: the root daemon exited (killed by signal 9); run tp connect',
    );
    t.true(await waitGone(st.guardianPid!, 3_000), 'the guardian exits once it has reverted');
    const rec = r.exitRecord();
    t.like(rec, { pid: st.pid, guardianPid: st.guardianPid, signal: 'SIGKILL' });
    t.true(rec!.reverted.includes('dns redirect'), JSON.stringify(rec));
    t.true(rec!.reverted.includes('route 10.100.0.128/25') && rec!.reverted.includes('route fd00:100::/120'), JSON.stringify(rec));
  },
);

test.serial(
  '#18: kill -9 of the root daemon during a bulk transfer through the TUN: within 2 s the workstation is as before connect',
  async (t) => {
    const r = await rootd(t);
    const { before, st } = await connected(t, r);
    // 64 GiB is never reached: the transfer runs until the kill, and the client is killed after.
    const client = r.ns.node(CLIENT_CHILD, [JSON.stringify({ kind: 'download', host: TARGET, port: PORTS.source, bytes: 64 * 2 ** 30 })]);
    t.teardown(() => void client.kill('SIGKILL'));
    let status = await r.call('status', {});
    for (let i = 0; i < 200 && status.flows.tcpActive === 0; i++) {
      await new Promise((res) => setTimeout(res, 25));
      status = await r.call('status', {});
    }
    t.is(status.flows.tcpActive, 1, 'the transfer is under way');
    const t0 = performance.now();
    process.kill(st.pid, 'SIGKILL');
    const ms = await r.restored(before, t0, RESTORE_MS);
    t.log(`kill -9 during a bulk transfer: workstation as before connect after ≤ ${ms} ms`);
    t.not(ms, undefined, `not restored within ${RESTORE_MS} ms:\n${JSON.stringify(await r.snapshot(), null, 1)}\n${r.log()}`);
    t.like(r.exitRecord(), { pid: st.pid, signal: 'SIGKILL' });
  },
);

test.serial(
  '#18: the root daemon follows its user daemon: with the user daemon killed (-9) and not back within the grace, it reverts everything and exits',
  async (t) => {
    const graceMs = 2_000;
    const r = await rootd(t);
    const { before, st, watch } = await connected(t, r, graceMs);
    const follower = fork(FOLLOWER_CHILD, ['hold'], {
      env: { ...process.env, TP_ROOT_RUNTIME_DIR: r.runtimeDir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    t.teardown(() => void follower.kill('SIGKILL'));
    await nextMessage(follower, (m) => (m as { attached?: number }).attached, 10_000);
    // The test's own watch leaves too: the follower is then the only user daemon.
    watch.close();
    const t0 = performance.now();
    follower.kill('SIGKILL');
    const ms = await r.restored(before, t0, graceMs + RESTORE_MS);
    t.log(`user daemon killed: workstation as before connect after ≤ ${ms} ms (grace ${graceMs} ms)`);
    t.not(ms, undefined, `not restored within the grace + ${RESTORE_MS} ms:\n${r.log()}`);
    t.true(ms! >= graceMs, 'not before the grace period is over');
    t.true(await waitGone(st.pid, 3_000), 'the worker exits');
    t.true(await waitGone(st.guardianPid!, 3_000), 'the guardian exits');
    t.like(r.exitRecord(), { pid: st.pid, code: 0, stated: 'its user daemon was gone for 2 s', reverted: [] });
  },
);

test.serial('#18: a user daemon back within the grace keeps the VIF as it is', async (t) => {
  const graceMs = 3_000;
  const r = await rootd(t);
  const { during, st, watch } = await connected(t, r, graceMs);
  watch.close();
  const again = await r.watch();
  t.teardown(() => again.close());
  await new Promise((res) => setTimeout(res, graceMs + 1_000));
  t.deepEqual(await r.snapshot(), during);
  t.true((await r.call('status', {})).connected);
  t.is(again.down, undefined);
  await r.call('quit', {});
  t.true(await waitGone(st.guardianPid!, 8_000));
});

test.serial('#18: kill -9 of the guardian: the worker reverts everything and exits, and says why on the watch', async (t) => {
  const r = await rootd(t);
  const { before, st, watch } = await connected(t, r);
  const t0 = performance.now();
  process.kill(st.guardianPid!, 'SIGKILL');
  const ms = await r.restored(before, t0, RESTORE_MS);
  t.log(`guardian killed: workstation as before connect after ≤ ${ms} ms`);
  t.not(ms, undefined, r.log());
  t.true(await waitGone(st.pid, 6_000), 'the worker exits');
  t.is(
    await downSentence(watch, /guardian/, 2_000),
    'the VIF is down: the root daemon exited (its guardian process exited); run tp connect',
  );
});

test.serial('#18: tp quit -s: the worker cleans up itself and the guardian has nothing left to revert', async (t) => {
  const r = await rootd(t);
  const { before, st } = await connected(t, r);
  await r.call('quit', {});
  t.true(await waitGone(st.guardianPid!, 8_000));
  t.deepEqual(await r.snapshot(), before);
  t.like(r.exitRecord(), { pid: st.pid, code: 0, stated: 'stopped by tp quit -s', reverted: [] });
});

test.serial(
  '#18: crash recovery on the next start: the via and throw routes, the nat OUTPUT hook and chain TP-DNS, and a TUN left behind are undone before anything else',
  async (t) => {
    const r = await rootd(t);
    const { before, st } = await connected(t, r);
    // Both processes die at once, as in a power loss: the worker is frozen first so that it cannot
    // see its guardian go and clean up itself.
    process.kill(st.pid, 'SIGSTOP');
    process.kill(st.guardianPid!, 'SIGKILL');
    process.kill(st.pid, 'SIGKILL');
    t.true(await waitGone(st.pid, 3_000));
    t.true(await waitGone(st.guardianPid!, 3_000));
    const left = await r.snapshot();
    t.regex(left.iptables, /-A OUTPUT -j TP-DNS/, 'the redirect is left behind');
    t.regex(left.iptables, /-A TP-DNS .* -j DNAT/);
    t.regex(left.routes, /10\.100\.0\.128\/25 via 10\.0\.0\.1 dev up0/);
    t.regex(left.routes, /throw fd00:100::\/120/);
    t.not(left.dns, UPSTREAM_ANSWER, 'and with it, no name resolves (the bug of issue 18)');
    // A TUN outlives its daemon only if something else holds it or made it persistent; the state
    // file names it, so the next start removes it too.
    await r.ns.run('ip', ['tuntap', 'add', 'dev', 'tp0', 'mode', 'tun']);
    await r.start();
    t.deepEqual(await r.snapshot(), before, 'undone by the time the new daemon answers');
    const undone = /"msg":"undid changes left by a previous root daemon".*/.exec(r.log())?.[0] ?? '';
    t.log(`next start undid: ${undone}`);
    for (const what of ['dns redirect', 'route 10.100.0.128/25', 'route fd00:100::/120', 'link tp0']) t.true(undone.includes(what), what);
    t.true((await r.connect()).connected, 'and connects again');
    await r.call('quit', {});
  },
);

test.serial('#18: a new root daemon waits for a predecessor that is still alive before it undoes or changes anything', async (t) => {
  const r = await rootd(t);
  // A predecessor as the pid file shows it: a process running a root daemon's main.js for this
  // runtime directory (here one that just waits), as a guardian that is still reverting would be.
  const fake = join(r.dir, 'old', 'root', 'main.js');
  mkdirSync(dirname(fake), { recursive: true });
  writeFileSync(fake, 'setTimeout(() => {}, 60_000);\n');
  const old = spawn(process.execPath, [fake, '--runtime-dir', r.runtimeDir], { stdio: 'ignore' });
  t.teardown(() => void old.kill('SIGKILL'));
  mkdirSync(r.runtimeDir, { recursive: true });
  writeFileSync(join(r.runtimeDir, 'root-guardian.pid'), `${old.pid}\n`);
  const started = r.start();
  started.catch(() => {});
  await new Promise((res) => setTimeout(res, 1_000));
  t.false(existsSync(join(r.runtimeDir, 'root-daemon.sock')), 'nothing is started while the predecessor lives');
  t.notRegex(r.log(), /worker started/);
  old.kill('SIGKILL');
  const st = await started;
  t.false(st.connected);
  t.regex(r.log(), /worker started/);
  await r.call('quit', {});
});

test.serial(
  '#18: a root daemon told to quit while a connect is still being set up stops the setup and leaves nothing behind',
  async (t) => {
    const r = await rootd(t);
    const before = await r.snapshot();
    await r.start();
    const watch = await r.watch();
    t.teardown(() => watch.close());
    // A relay that holds each connection for a second before it reaches the manager: the connect is
    // still at its first step when the quit arrives.
    const slow = join(r.dir, 'slow-relay.sock');
    const relay = createServer((s) => {
      setTimeout(() => {
        const m = connect(join(r.dir, 'relay.sock'));
        s.pipe(m).pipe(s);
        s.on('error', () => m.destroy());
        m.on('error', () => s.destroy());
      }, 1_000);
    });
    await new Promise<void>((res) => relay.listen(slow, res));
    t.teardown(() => void relay.close());
    const connecting = r.call('connect', { ...CONNECT, relaySocket: slow }, 30_000);
    connecting.catch(() => {});
    await new Promise((res) => setTimeout(res, 200));
    await r.call('quit', {});
    await t.throwsAsync(connecting, { message: /cancelled: the root daemon is stopping/ });
    t.deepEqual(await r.snapshot(), before);
    t.is(await downSentence(watch, /quit/, 5_000), 'the VIF is down: the root daemon exited (stopped by tp quit -s); run tp connect');
  },
);
