// The userspace stack on a real TUN against the kernel's TCP: single flows, each in a fresh
// namespace (harness.ts draws it). Throughput lives in bulk.test.ts, impairments in netem.test.ts.

import { createHash } from 'node:crypto';
import test from 'ava';
import { contextSwitches, cpuSeconds } from '../helpers/netns.js';
import { PORTS, TARGET, vif } from './harness.js';

test('curl http://10.100.0.5:8080/ gets the loopback server through tp0', async (t) => {
  const v = await vif(t);
  const { stdout } = await v.ns.run('curl', ['-sS', '--max-time', '10', `http://${TARGET}:${PORTS.http}/`]);
  t.is(stdout, 'hello from tp\n');
  const s = await v.stats();
  t.is(s.stack.tcpFlowsTotal, 1);
  t.true(s.tun.packetsRead > 0 && s.tun.packetsWritten > 0);
  t.is(s.tun.writeErrors, 0);
});

test('half-close: the client shuts down its write side and the server still answers', async (t) => {
  const v = await vif(t);
  const r = await v.client<{ reply: { bytes: number; sha256: string } }>({ kind: 'halfclose', host: TARGET, port: PORTS.sink });
  const sent = Buffer.from('hello, half-closed');
  t.deepEqual(r.reply, { bytes: sent.length, sha256: createHash('sha256').update(sent).digest('hex') });
});

test('refused dial: the client gets ECONNREFUSED at once (RST for the SYN)', async (t) => {
  const v = await vif(t);
  // Port 9: the dialer refuses by policy. Port 1: nothing listens on the loopback side, the real
  // connect() is refused. Both must look like a closed port on a real network.
  for (const port of [9, 1]) {
    const r = await v.client<{ code: string; ms: number }>({ kind: 'refused', host: TARGET, port });
    t.is(r.code, 'ECONNREFUSED', `port ${port}`);
    t.true(r.ms < 1000, `port ${port}: refused after ${r.ms} ms, not after a SYN retry`);
  }
  const s = await v.stats();
  t.is(s.stack.dialsRefused, 2);
  t.is(s.stack.tcpFlowsTotal, 0);
});

test('UDP echo through the stack, datagrams from 1 byte to 60,000 bytes', async (t) => {
  const v = await vif(t);
  const sizes = [1, 2, 64, 512, 1200, 1472, 1473, 4096, 9000, 32_768, 60_000, ...Array.from({ length: 40 }, (_, i) => 100 + i * 37)];
  const r = await v.client<{ sent: number; echoed: number; retries: number }>({ kind: 'udp', host: TARGET, port: PORTS.udpEcho, sizes });
  t.is(r.echoed, sizes.length);
  t.log(`UDP: ${r.echoed}/${r.sent} echoed, ${r.retries} retries`);
  const s = await v.stats();
  t.is(s.stack.udpFlowsTotal, 1);
});

test('1,000 concurrent connections, all open at once, each echoes its own 1 KiB', async (t) => {
  const v = await vif(t);
  const r = await v.client<{ ok: number; failures: Record<string, number>; peak: number; ms: number; timedOut: boolean }>({
    kind: 'connections',
    host: TARGET,
    port: PORTS.echo,
    count: 1000,
    concurrency: 1000,
    timeoutMs: 60_000,
  });
  t.log(`1,000 connections: ${r.ok} ok in ${Math.round(r.ms)} ms, peak ${r.peak} open, failures ${JSON.stringify(r.failures)}`);
  t.false(r.timedOut);
  t.is(r.ok, 1000);
  t.is(r.peak, 1000);
  const s = await v.stats();
  t.is(s.stack.tcpFlowsTotal, 1000);
  t.is(s.stack.synsOverCap, 0);
});

test('idle: with a silent established connection, the TUN owner uses ~0 % CPU and sleeps for 5 s', async (t) => {
  const v = await vif(t);
  // One closed flow (its TIME-WAIT timer) and one established connection that stays silent
  // through the measurement, as a browser's keep-alive connections would.
  await v.ns.run('curl', ['-sS', '--max-time', '10', `http://${TARGET}:${PORTS.http}/`]);
  let holding!: () => void;
  const held = new Promise<void>((r) => (holding = r));
  const hold = v.client<{ first: string; second: string }>({ kind: 'hold', host: TARGET, port: PORTS.echo, ms: 6000 }, 30_000, () =>
    holding(),
  );
  await held;
  await new Promise((r) => setTimeout(r, 500));
  const cpu0 = cpuSeconds(v.ownerPid);
  const cs0 = contextSwitches(v.ownerPid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 5000));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(v.ownerPid) - cpu0;
  const wakeups = contextSwitches(v.ownerPid) - cs0;
  const pct = (100 * cpu) / wall;
  t.log(
    `idle TUN owner: ${cpu.toFixed(2)} s CPU in ${wall.toFixed(1)} s = ${pct.toFixed(2)} %, ${wakeups} context switches of the loop thread`,
  );
  t.deepEqual(await hold, { first: 'a', second: 'b' }, 'the idle connection still works');
  t.true(pct < 1, `idle CPU ${pct.toFixed(2)} %`);
  // A polling loop would switch thousands of times; a sleeping epoll_wait a handful (timers of
  // the TIME-WAIT flow, Node's own housekeeping).
  t.true(wakeups < 50, `${wakeups} wake-ups in 5 s`);
});
