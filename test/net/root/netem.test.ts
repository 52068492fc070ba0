// Byte-exact transfers through tp0 on an impaired path. Loss is the kernel's own
// (`iptables -m statistic` drops in the namespace, both directions). Delay and reordering use
// `tc netem` on tp0 (kernel → stack) where the kernel has sch_netem, else the owner's fault
// injector on the same direction; reordering is also injected on the stack → kernel side,
// which netem on tp0 cannot reach.
// Sizes: 1 GiB where the path stays fast (1 % loss, reordering), 32 MiB where every loss costs an
// RTO or every round trip 50 ms — the suite stays bounded.

import test, { type ExecutionContext } from 'ava';
import type { Transfer } from '../helpers/bulk.js';
import type { Netns } from '../helpers/netns.js';
import { fmt, PORTS, TARGET, TUN, vif, type Vif } from './harness.js';
import type { Impairment } from './tun-child.js';

const MiB = 1 << 20;

async function both(t: ExecutionContext, v: Vif, label: string, bytes: number): Promise<void> {
  for (const kind of ['upload', 'download'] as const) {
    const r = await v.client<Transfer>({ kind, host: TARGET, port: kind === 'upload' ? PORTS.sink : PORTS.source, bytes });
    t.log(`${label}, ${kind} ${bytes / MiB} MiB: ${fmt(r.gbitPerS, 3)} Gbit/s (${Math.round(r.ms)} ms)`);
    t.true(r.ok, r.detail);
  }
  const s = await v.stats();
  t.log(`${label}: stack retransmits ${s.stack.tcpRetransmits}; pool buffers out ${s.pool}`);
  t.is(s.pool, 0);
}

async function dropBothWays(ns: Netns, fraction: number): Promise<void> {
  const rule = ['-m', 'statistic', '--mode', 'random', '--probability', String(fraction), '-j', 'DROP'];
  await ns.run('iptables', ['-A', 'OUTPUT', '-o', TUN, ...rule]); // kernel → stack
  await ns.run('iptables', ['-A', 'INPUT', '-i', TUN, ...rule]); // stack → kernel
}

/** `tc qdisc add dev tp0 root netem ARGS` if this kernel has netem; else `fallback` in the
 * owner's injector. Returns how the impairment was made, for the log. */
async function netemOr(v: Vif, args: string[], fallback: Impairment): Promise<string> {
  try {
    await v.ns.run('tc', ['qdisc', 'add', 'dev', TUN, 'root', 'netem', ...args]);
    return `tc netem ${args.join(' ')}`;
  } catch (err) {
    if (!/unknown|No such file/i.test((err as { stderr?: string }).stderr ?? '')) throw err;
    await v.impair(fallback);
    return `injector ${JSON.stringify(fallback)} (no sch_netem in this kernel)`;
  }
}

test('1 % loss both ways: 1 GiB up and down byte-exact', async (t) => {
  const v = await vif(t);
  await dropBothWays(v.ns, 0.01);
  await both(t, v, '1 % loss', 1024 * MiB);
});

test('5 % loss both ways: 32 MiB up and down byte-exact', async (t) => {
  const v = await vif(t);
  await dropBothWays(v.ns, 0.05);
  await both(t, v, '5 % loss', 32 * MiB);
});

test('50 ms delay: 32 MiB up and down byte-exact', async (t) => {
  const v = await vif(t, { impairable: true });
  const how = await netemOr(v, ['delay', '50ms'], { inDelayMs: 50 });
  await both(t, v, `50 ms delay, ${how}`, 32 * MiB);
});

test('reordering both ways: 1 GiB up and down byte-exact', async (t) => {
  const v = await vif(t, { impairable: true });
  const how = await netemOr(v, ['delay', '1ms', 'reorder', '25%', '50%'], { inReorder: 0.05, outReorder: 0.05 });
  if (how.startsWith('tc')) await v.impair({ outReorder: 0.05 });
  await both(t, v, `reordering, ${how}`, 1024 * MiB);
});

test('#14: offloads at MTU 1500: 64 KiB TSO super-packets both ways, 1 % loss both ways, 256 MiB up and down byte-exact', async (t) => {
  const v = await vif(t, { mtu: 1500 });
  await dropBothWays(v.ns, 0.01);
  await both(t, v, 'offloads, MTU 1500, 1 % loss', 256 * MiB);
  const s = await v.stats();
  const vnet = 10;
  t.log(
    `largest packet read ${s.tun.largestRead} B, written ${s.tun.largestWritten} B (MTU 1500); ${s.tun.viewsLent} payloads lent, not copied`,
  );
  // Larger than the MTU only as segmentation offload: the kernel sent super-packets to the stack,
  // and the stack's own went out as super-packets the kernel accepted (the transfer completed).
  t.true(s.tun.largestRead > 1500 + vnet, 'the kernel handed over TSO super-packets');
  t.true(s.tun.largestWritten > 1500 + vnet, 'the stack wrote TSO super-packets');
  t.true(s.stack.tcpRetransmits > 0, 'loss was recovered by retransmission');
});

test('#14: without offloads (no virtio_net_hdr) the same path still works: 64 MiB up and down byte-exact at MTU 65535', async (t) => {
  const v = await vif(t, { offload: false });
  await both(t, v, 'no offloads', 64 * MiB);
  const s = await v.stats();
  t.true(s.tun.largestRead <= 65535);
});
