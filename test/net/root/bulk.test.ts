// Throughput of the stack on a real TUN, each number beside its baseline measured in the same
// run: the same client and server over the namespace's loopback, without tp0 and the stack.
// Byte-exact: every transfer is checked by length and SHA-256 (helpers/bulk.ts).

import test from 'ava';
import type { Transfer } from '../helpers/bulk.js';
import { fmt, iperf, PORTS, TARGET, vif } from './harness.js';

const GiB = 1 << 30;

test('1 GiB up and 1 GiB down through tp0 arrive byte-exact (throughput beside loopback)', async (t) => {
  const v = await vif(t);
  for (const kind of ['upload', 'download'] as const) {
    const port = kind === 'upload' ? PORTS.sink : PORTS.source;
    const r = await v.client<Transfer>({ kind, host: TARGET, port, bytes: GiB });
    const base = await v.client<Transfer>({ kind, host: '127.0.0.1', port, bytes: GiB });
    t.log(
      `${kind} 1 GiB: tp0 ${fmt(r.gbitPerS)} Gbit/s (${Math.round(r.ms)} ms), loopback ${fmt(base.gbitPerS)} Gbit/s → ${fmt(r.gbitPerS / base.gbitPerS)}× (both ends hash with SHA-256)`,
    );
    t.true(r.ok, r.detail);
    t.true(base.ok, base.detail);
  }
  const s = await v.stats();
  t.is(s.tun.writeErrors, 0);
  t.is(s.tun.writeDropped, 0);
  t.is(s.pool, 0);
  t.log(
    `TUN: ${s.tun.packetsRead} packets read in ${s.tun.readBursts} bursts (${fmt(s.tun.packetsRead / s.tun.readBursts, 1)}/burst), ${s.tun.packetsWritten} written, ${s.stack.tcpRetransmits} retransmits`,
  );
});

test('iperf3 -c and -R through tp0, beside iperf3 over loopback', async (t) => {
  const v = await vif(t);
  await v.iperfServer();
  for (const reverse of [false, true]) {
    const gbit = await iperf(v.ns, TARGET, { seconds: 5, reverse });
    const base = await iperf(v.ns, '127.0.0.1', { seconds: 5, reverse });
    t.log(`iperf3 -t 5${reverse ? ' -R' : ''}: tp0 ${fmt(gbit)} Gbit/s, loopback ${fmt(base)} Gbit/s → ${fmt(gbit / base)}×`);
    // A floor that only a broken path misses (a stalled flow, a 200 ms timer per segment).
    t.true(gbit > 0.2, `${gbit} Gbit/s`);
  }
});
