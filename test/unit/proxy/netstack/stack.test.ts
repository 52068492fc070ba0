import test from 'ava';
import diagnostics from 'node:diagnostics_channel';
import { seqAdd } from '../../../../lib/proxy/netstack/tcp/seq.js';
import { ACK, FIN, PSH, RST, SYN } from '../../../../lib/proxy/netstack/wire/tcp.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_NONE, VNET_GSO_UDP } from '../../../../lib/proxy/netstack/wire/vnet.js';
import { CLIENT4, CLIENT6, SERVICE4, SERVICE6, fromKernel, rig, settle, tcpPacket, udpPacket, type Rig } from './stack-harness.js';

const C_ISS = 100_000;
const S_ISS = 7_000; // the rig's ISS generator
const C1 = C_ISS + 1;
const S1 = S_ISS + 1;

function client(r: Rig, opts: { v6?: boolean; port?: number } = {}) {
  const src = opts.v6 ? CLIENT6 : CLIENT4;
  const dst = opts.v6 ? SERVICE6 : SERVICE4;
  const port = opts.port ?? 40_000;
  return (s: Parameters<typeof tcpPacket>[4]) => r.stack.input(tcpPacket(src, dst, port, 80, s));
}

async function handshake(r: Rig, opts: { v6?: boolean; port?: number; wscale?: number } = {}) {
  const send = client(r, opts);
  send({ seq: C_ISS, flags: SYN, mss: 1460, wscale: opts.wscale ?? 7 });
  await settle();
  send({ seq: C1, ack: S1 });
  await settle();
  return send;
}

const flags = (f: number) => [f & SYN && 'SYN', f & FIN && 'FIN', f & RST && 'RST', f & ACK && 'ACK'].filter(Boolean).join('|');

test('SYN: the SYN-ACK is sent only after the dial succeeded, with MSS from the MTU (RFC 9293 §3.7.1)', async (t) => {
  const r = rig({ mtu: 9000 });
  r.dialer.plan = 'hang';
  client(r)({ seq: C_ISS, flags: SYN, mss: 1460, wscale: 7 });
  await settle();
  t.deepEqual(
    r.dialer.tcpDials.map((d) => `${d.host}:${d.port}`),
    ['10.96.0.10:80'],
  );
  t.is(r.out.length, 0);
  r.dialer.settle('ok');
  await settle();
  t.is(r.out.length, 1);
  const sa = r.out[0]!;
  t.is(flags(sa.flags), 'SYN|ACK');
  t.is(sa.ack, C1);
  t.is(sa.seq, S_ISS);
  t.is(sa.mss, 9000 - 40);
  t.is(sa.src, '10.96.0.10');
  t.false(sa.sackPermitted);
  t.is(sa.dstPort, 40_000);
  t.is(r.stack.poolBuffersTaken, 0);
});

test('SYN: a retransmitted SYN while the dial is pending does not start a second dial', async (t) => {
  const r = rig();
  r.dialer.plan = 'hang';
  const send = client(r);
  send({ seq: C_ISS, flags: SYN });
  send({ seq: C_ISS, flags: SYN });
  await settle();
  send({ seq: C_ISS, flags: SYN });
  await settle();
  t.is(r.dialer.tcpDials.length, 1);
  t.is(r.stack.stats().pendingDials, 1);
});

test('dial refused → RST|ACK with ACK=ISN+1, the client sees ECONNREFUSED (RFC 9293 §3.10.7.1)', async (t) => {
  const r = rig();
  r.dialer.plan = 'refused';
  client(r)({ seq: C_ISS, flags: SYN });
  await settle();
  t.deepEqual(
    r.out.map((o) => [flags(o.flags), o.seq, o.ack, o.src, o.srcPort]),
    [['RST|ACK', 0, C1, '10.96.0.10', 80]],
  );
  t.is(r.stack.stats().dialsRefused, 1);
  t.is(r.stack.stats().pendingDials, 0);
});

test('dial timeout → silence; the next SYN retransmission dials again', async (t) => {
  const r = rig();
  r.dialer.plan = 'timeout';
  const send = client(r);
  send({ seq: C_ISS, flags: SYN });
  await settle();
  t.deepEqual(r.out, []);
  t.is(r.stack.stats().dialsFailed, 1);
  r.dialer.plan = 'ok';
  send({ seq: C_ISS, flags: SYN });
  await settle();
  t.is(r.dialer.tcpDials.length, 2);
  t.is(flags(r.out[0]!.flags), 'SYN|ACK');
});

test('dial unreachable → silence', async (t) => {
  const r = rig();
  r.dialer.plan = 'unreachable';
  client(r)({ seq: C_ISS, flags: SYN });
  await settle();
  t.deepEqual(r.out, []);
});

test('an RST for a pending dial aborts the dial', async (t) => {
  const r = rig();
  r.dialer.plan = 'hang';
  const send = client(r);
  send({ seq: C_ISS, flags: SYN });
  send({ seq: C1, flags: RST });
  await settle();
  t.true(r.dialer.tcpDials[0]!.signal!.aborted);
  r.dialer.settle('ok');
  await settle();
  t.deepEqual(r.out, []);
  t.true(r.dialer.tunnels[0]!.destroyed);
});

test('a segment for no connection gets a reset (RFC 9293 §3.10.7.1)', async (t) => {
  const r = rig();
  client(r)({ seq: 5, ack: 999, flags: ACK, data: 'x' });
  await settle();
  t.deepEqual(
    r.out.map((o) => [flags(o.flags), o.seq]),
    [['RST', 999]],
  );
  client(r)({ seq: 5, flags: RST });
  await settle();
  t.is(r.out.length, 1); // never answer a reset
});

test('relay: bytes both ways, half-close each way, then the flow is gone (RFC 9293 §3.6)', async (t) => {
  const r = rig();
  const send = await handshake(r);
  const tunnel = r.dialer.tunnels[0]!;
  r.out.length = 0;
  send({ seq: C1, ack: S1, flags: ACK | PSH, data: 'GET / HTTP/1.0\r\n\r\n' });
  send({ seq: C1 + 18, ack: S1, flags: ACK | FIN });
  await settle();
  t.is(tunnel.text(), 'GET / HTTP/1.0\r\n\r\n');
  t.true(tunnel.finished); // peer FIN → duplex.end()
  t.deepEqual(r.out.map((o) => [flags(o.flags), o.ack]).at(-1), ['ACK', C1 + 19]);
  r.out.length = 0;
  tunnel.push('HTTP/1.0 200 OK\r\n\r\nhi');
  tunnel.push(null);
  await settle();
  t.is(Buffer.concat(r.out.map((o) => o.payload)).toString(), 'HTTP/1.0 200 OK\r\n\r\nhi');
  t.true(r.out.some((o) => (o.flags & FIN) !== 0)); // duplex 'end' → our FIN
  const finEnd = seqAdd(S1, 22);
  send({ seq: C1 + 19, ack: finEnd });
  await settle();
  t.is(r.stack.stats().tcpFlowsOpen, 0);
  t.is(r.stack.stats().bytesFromWorkstation, 18);
  t.is(r.stack.stats().bytesToWorkstation, 21);
  t.is(r.stack.poolBuffersTaken, 0);
});

test('relay over IPv6: handshake with the v6 MSS and data', async (t) => {
  const r = rig({ mtu: 65535 });
  const send = await handshake(r, { v6: true });
  t.is(r.out[0]!.version, 6);
  t.is(r.out[0]!.mss, 65535 - 60);
  t.is(r.dialer.tcpDials[0]!.host, 'fd00::aa');
  send({ seq: C1, ack: S1, data: 'six' });
  await settle();
  t.is(r.dialer.tunnels[0]!.text(), 'six');
});

test('workstation RST destroys the tunnel stream', async (t) => {
  const r = rig();
  const send = await handshake(r);
  send({ seq: C1, flags: RST });
  await settle();
  t.true(r.dialer.tunnels[0]!.destroyed);
  t.is(r.stack.stats().tcpFlowsOpen, 0);
});

test('tunnel stream destroyed → RST to the workstation', async (t) => {
  const r = rig();
  await handshake(r);
  r.out.length = 0;
  r.dialer.tunnels[0]!.destroy(new Error('RST_STREAM'));
  await settle();
  t.deepEqual(
    r.out.map((o) => [flags(o.flags), o.seq]),
    [['RST', S1]],
  );
  t.is(r.stack.stats().tcpFlowsOpen, 0);
  t.is(r.stack.stats().rstsSent, 1);
});

test('backpressure: a tunnel that stops reading closes the advertised window, memory stays bounded, drain reopens it', async (t) => {
  const receiveBuffer = 60 * 1024; // below 64 KiB: no window scaling, the raw field is bytes
  const r = rig({ mtu: 9000, tcp: { receiveBuffer } });
  r.dialer.tunnelHwm = 16 * 1024;
  const send = await handshake(r, { wscale: 0 });
  const tunnel = r.dialer.tunnels[0]!;
  tunnel.stall = true;
  let seq = C1;
  let window = r.out.at(-1)!.window;
  for (let round = 0; round < 50 && window > 0; round++) {
    const n = Math.min(window, 8000);
    send({ seq, ack: S1, data: Buffer.alloc(n, 1) });
    seq += n;
    await settle();
    window = r.out.at(-1)!.window;
  }
  t.is(window, 0);
  const accepted = r.stack.stats().bytesFromWorkstation;
  t.true(accepted <= receiveBuffer + 16 * 1024, `accepted ${accepted}`);
  // Data beyond a zero window is not taken.
  send({ seq, ack: S1, data: Buffer.alloc(1000, 1) });
  await settle();
  t.is(r.stack.stats().bytesFromWorkstation, accepted, JSON.stringify(r.out.slice(-3).map((o) => [o.ack, o.window])));
  t.is(r.out.at(-1)!.window, 0);
  tunnel.unstall();
  await settle(5);
  t.true(r.out.at(-1)!.window > 0, 'window update after drain');
  t.is(tunnel.receivedLen, accepted);
});

test('send side: a full send buffer pauses the tunnel stream; ACKs resume it (no unbounded buffering)', async (t) => {
  const r = rig({ mtu: 9000, tcp: { sendBuffer: 32 * 1024 } });
  const send = await handshake(r, { wscale: 0 });
  const tunnel = r.dialer.tunnels[0]!;
  r.out.length = 0;
  const total = 256 * 1024;
  for (let i = 0; i < total / 16384; i++) tunnel.push(Buffer.alloc(16384, i));
  tunnel.push(null);
  await settle();
  t.true(tunnel.isPaused());
  let got = 0;
  for (let round = 0; round < 200 && got < total; round++) {
    for (const o of r.out.splice(0)) got += o.payload.length;
    send({ seq: C1, ack: seqAdd(S1, got) });
    await settle();
  }
  t.is(got, total);
});

test('UDP: datagrams both ways over one flow per 4-tuple', async (t) => {
  const r = rig();
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5353, 53, 'query1'));
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5353, 53, 'query2'));
  await settle();
  t.deepEqual(r.dialer.udpDials, [{ host: '10.96.0.10', port: 53 }]);
  const flow = r.dialer.udpFlows[0]!;
  t.deepEqual(flow.sent.map(String), ['query1', 'query2']);
  flow.listener!(Buffer.from('answer'));
  await settle();
  t.deepEqual(
    r.out.map((o) => [o.proto, o.src, o.srcPort, o.dst, o.dstPort, o.payload.toString()]),
    [[17, '10.96.0.10', 53, '10.0.0.2', 5353, 'answer']],
  );
});

test('UDP: a refused dial answers with ICMP port unreachable (RFC 792, RFC 1122 §4.1.3.1)', async (t) => {
  const r = rig();
  r.dialer.plan = 'refused';
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5353, 9, 'x'));
  await settle();
  t.is(r.out.length, 1);
  t.is(r.out[0]!.proto, 1);
  t.deepEqual([r.out[0]!.payload[0], r.out[0]!.payload[1]], [3, 3]);
  r.dialer.plan = 'refused';
  r.stack.input(udpPacket(CLIENT6, SERVICE6, 5353, 9, 'x'));
  await settle();
  t.is(r.out[1]!.proto, 58);
  t.deepEqual([r.out[1]!.payload[0], r.out[1]!.payload[1]], [1, 4]);
});

test('UDP: an idle flow is closed after the idle timeout', async (t) => {
  const r = rig({ udpIdleTimeout: 60_000 });
  const closes: unknown[] = [];
  // The channel is process-wide and tests run concurrently: keep only this test's flow.
  const onClose = (m: unknown) => (m as { src: string }).src === '10.0.0.2:5454' && closes.push(m);
  diagnostics.subscribe('tp:flow:close', onClose);
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5454, 53, 'q'));
  await settle();
  r.clock.advance(30_000);
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5454, 53, 'q'));
  r.clock.advance(59_000);
  t.is(r.stack.stats().udpFlowsOpen, 1);
  r.clock.advance(1_000);
  t.is(r.stack.stats().udpFlowsOpen, 0);
  t.true(r.dialer.udpFlows[0]!.isClosed);
  diagnostics.unsubscribe('tp:flow:close', onClose);
  t.like(closes[0], { proto: 'udp', reason: 'idle', src: '10.0.0.2:5454' });
});

test('malformed packets are counted per reason and never throw', (t) => {
  const r = rig();
  const good = tcpPacket(CLIENT4, SERVICE4, 1, 2, { flags: SYN });
  const bad = Buffer.from(good);
  bad[bad.length - 1]! ^= 1;
  r.stack.inputBatch([Buffer.alloc(3), bad, Buffer.from([0x60])]);
  const s = r.stack.stats();
  t.is(s.drops['bad-checksum'], 1);
  t.is(s.drops.truncated, 1);
  t.is(s.drops['bad-version'], 1);
  t.is(s.packetsIn, 3);
});

test('retransmission timer fires through the injected clock (RFC 6298 §5)', async (t) => {
  const r = rig();
  await handshake(r);
  const tunnel = r.dialer.tunnels[0]!;
  tunnel.push('data');
  await settle();
  const before = r.out.length;
  r.clock.advance(199);
  t.is(r.out.length, before);
  r.clock.advance(1);
  t.is(r.out.length, before + 1);
  t.is(r.out.at(-1)!.payload.toString(), 'data');
  t.is(r.stack.stats().tcpRetransmits, 1);
});

test('TIME-WAIT: a new SYN above RCV.NXT replaces the old incarnation (RFC 9293 §3.10.7.4 as Linux does it)', async (t) => {
  const r = rig();
  const send = await handshake(r);
  const tunnel = r.dialer.tunnels[0]!;
  tunnel.push(null); // we close first
  await settle();
  send({ seq: C1, ack: seqAdd(S1, 1), flags: ACK | FIN });
  await settle();
  send({ seq: C1 + 100_000, flags: SYN });
  await settle();
  t.is(r.dialer.tcpDials.length, 2);
});

test('close(): every connection gets an RST and its stream is destroyed', async (t) => {
  const r = rig();
  await handshake(r);
  await handshake(r, { port: 40_001 });
  r.out.length = 0;
  r.stack.close();
  t.deepEqual(
    r.out.map((o) => flags(o.flags)),
    ['RST', 'RST'],
  );
  t.true(r.dialer.tunnels.every((x) => x.destroyed));
  t.is(r.stack.stats().tcpFlowsOpen, 0);
});

test('SYNs over the pending-dial cap are dropped and counted (the kernel retries them)', async (t) => {
  const r = rig({ maxPendingDials: 2 });
  r.dialer.plan = 'hang';
  for (let port = 41_000; port < 41_005; port++) client(r, { port })({ seq: C_ISS, flags: SYN });
  await settle();
  t.is(r.dialer.tcpDials.length, 2);
  t.is(r.stack.stats().synsOverCap, 3);
});

test('flow events are published on tp:flow:open / tp:flow:close', async (t) => {
  const seen: string[] = [];
  const on = (m: unknown) => {
    const e = m as { src: string; reason?: string };
    if (e.src === '10.0.0.2:42042') seen.push(e.reason ?? 'open');
  };
  diagnostics.subscribe('tp:flow:open', on);
  diagnostics.subscribe('tp:flow:close', on);
  const r = rig();
  const send = await handshake(r, { port: 42_042 });
  send({ seq: C1, flags: RST });
  await settle();
  diagnostics.unsubscribe('tp:flow:open', on);
  diagnostics.unsubscribe('tp:flow:close', on);
  t.deepEqual(seen, ['open', 'peer-reset']);
});

test('an output callback that throws loses the batch, is counted, and TCP recovers by retransmission', async (t) => {
  let fail = true;
  let written = 0;
  const r = rig({
    output: (packets) => {
      if (fail) throw new Error('EAGAIN');
      written += packets.length;
    },
  });
  client(r)({ seq: C_ISS, flags: SYN });
  await settle();
  t.is(r.stack.stats().outputErrors, 1);
  t.is(r.stack.poolBuffersTaken, 0);
  fail = false;
  r.clock.advance(1000); // the SYN-ACK's retransmission timer (initial RTO 1 s)
  t.is(written, 1);
});

test('fuzz: mutated packets into a stack with live flows never throw and never emit a bad packet', async (t) => {
  const r = rig(); // the rig's output parses every emitted packet and throws on a bad one
  const send = await handshake(r);
  send({ seq: C1, ack: S1, data: 'hello' });
  await settle();
  let seed = 99;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const bases = [
    tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C1 + 5, ack: S1, data: 'more' }),
    tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C1 + 5, ack: S1, flags: ACK | FIN }),
    udpPacket(CLIENT4, SERVICE4, 5353, 53, 'q'),
  ];
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(bases[i % bases.length]!);
    for (let k = 0; k < 1 + rnd(3); k++) b[rnd(b.length)] = rnd(256);
    r.stack.inputBatch([b]);
  }
  await settle();
  t.is(r.stack.poolBuffersTaken, 0);
  t.true(r.stack.stats().packetsIn >= 2000);
});

test('SACK: offered in the SYN → SACK-permitted in the SYN-ACK, and holes reported in duplicate ACKs (RFC 2018)', async (t) => {
  const r = rig();
  const send = client(r);
  send({ seq: C_ISS, flags: SYN, mss: 1460, sackPermitted: true });
  await settle();
  t.true(r.out[0]!.sackPermitted);
  send({ seq: C1, ack: S1 });
  send({ seq: C1 + 100, ack: S1, data: 'later' });
  await settle();
  t.deepEqual(r.out.at(-1)!.sack, [C1 + 100, C1 + 105]);
  t.is(r.out.at(-1)!.ack, C1);
});

test('half-close the other way: the tunnel ends first, the workstation keeps sending in FIN-WAIT-2 (RFC 9293 §3.6)', async (t) => {
  const r = rig();
  const send = await handshake(r);
  const tunnel = r.dialer.tunnels[0]!;
  r.out.length = 0;
  tunnel.push(null);
  await settle();
  t.deepEqual(
    r.out.map((o) => [flags(o.flags), o.seq]),
    [['FIN|ACK', S1]],
  );
  send({ seq: C1, ack: S1 + 1, data: 'still talking' });
  await settle();
  t.is(tunnel.text(), 'still talking');
  t.false(tunnel.finished);
  send({ seq: C1 + 13, ack: S1 + 1, flags: ACK | FIN });
  await settle();
  t.true(tunnel.finished);
  t.deepEqual(r.out.map((o) => [flags(o.flags), o.ack]).at(-1), ['ACK', C1 + 14]);
  t.is(r.stack.stats().tcpFlowsOpen, 1); // TIME-WAIT
  r.clock.advance(60_000);
  t.is(r.stack.stats().tcpFlowsOpen, 0);
});

test('UDP over IPv6: datagrams both ways', async (t) => {
  const r = rig();
  r.stack.input(udpPacket(CLIENT6, SERVICE6, 5353, 53, 'q6'));
  await settle();
  t.deepEqual(r.dialer.udpDials, [{ host: 'fd00::aa', port: 53 }]);
  r.dialer.udpFlows[0]!.listener!(Buffer.from('a6'));
  await settle();
  t.deepEqual(
    r.out.map((o) => [o.version, o.proto, o.srcPort, o.dstPort, o.payload.toString()]),
    [[6, 17, 53, 5353, 'a6']],
  );
});

test('UDP: a datagram from the cluster larger than the TUN MTU allows is dropped and counted, not fragmented', async (t) => {
  const r = rig({ mtu: 1500 });
  r.stack.input(udpPacket(CLIENT4, SERVICE4, 5353, 53, 'q'));
  await settle();
  r.dialer.udpFlows[0]!.listener!(Buffer.alloc(1500 - 28 + 1));
  r.dialer.udpFlows[0]!.listener!(Buffer.alloc(1500 - 28));
  await settle();
  t.is(r.out.length, 1);
  t.is(r.stack.stats().udpDatagramsDropped, 1);
});

// ------------------------------------------------------------------ behind virtio_net_hdr (#14)

test('#14: behind virtio_net_hdr, a segment with a partial checksum (NEEDS_CSUM) is taken; the same bytes without the flag are a bad checksum', async (t) => {
  const r = rig({ vnetHdr: true });
  const syn = tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C_ISS, flags: SYN, mss: 1460, wscale: 7 });
  r.stack.input(fromKernel(syn));
  await settle();
  t.is(r.out.length, 1);
  t.is(r.out[0]!.flags, SYN | ACK);
  t.like(r.out[0]!.vnet, { flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_NONE, csumStart: 20, csumOffset: 16 });
  const notFlagged = fromKernel(tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C1, ack: S1, data: 'hi' }));
  notFlagged[0] = 0;
  r.stack.input(notFlagged);
  t.is(r.stack.stats().drops['bad-checksum'], 1);
});

test('#14: behind virtio_net_hdr, a USO super-packet is one datagram per gso_size bytes', async (t) => {
  const r = rig({ vnetHdr: true });
  r.stack.input(fromKernel(udpPacket(CLIENT4, SERVICE4, 5353, 53, 'aaaabbbbcc'), { gsoSize: 4 }));
  await settle();
  t.deepEqual(r.dialer.udpFlows[0]!.sent.map(String), ['aaaa', 'bbbb', 'cc']);
  r.dialer.udpFlows[0]!.listener!(Buffer.from('answer'));
  await settle();
  // Whole packets the stack builds itself go behind a header that asks the kernel for nothing.
  t.like(r.out[0], { proto: 17, vnet: { flags: 0, gsoType: VNET_GSO_NONE } });
  t.is(r.out[0]!.payload.toString(), 'answer');
});

test('#14: behind virtio_net_hdr, an offload tp never enabled (UFO) is dropped and counted', (t) => {
  const r = rig({ vnetHdr: true });
  const p = fromKernel(udpPacket(CLIENT4, SERVICE4, 5353, 53, 'x'), { gsoSize: 1 });
  p[1] = VNET_GSO_UDP;
  r.stack.input(p);
  t.is(r.stack.stats().drops['bad-offload'], 1);
  t.is(r.dialer.udpDials.length, 0);
});

test('#14: idle connections wake the stack only when keep-alive is due, and 1,000 opened within a second share two wake-ups (timer wheel)', async (t) => {
  const r = rig();
  for (let i = 0; i < 1000; i++) {
    await handshake(r, { port: 20_000 + i });
    r.clock.advance(1);
  }
  t.is(r.stack.stats().tcpFlowsOpen, 1000);
  // The SYN-ACKs' retransmission slots (1 s after each) fire once, early, and file each flow
  // under its keep-alive.
  r.clock.advance(4_000);
  r.out.length = 0;
  const before = r.clock.fired;
  r.clock.advance(294_000); // to t ≈ 299 s: every connection idle, keep-alive due at 300–301 s
  t.is(r.clock.fired, before, 'no timer fired while idle');
  r.clock.advance(3_000);
  t.is(r.clock.fired - before, 2);
  const probes = r.out.filter((o) => o.payload.length === 0 && o.flags === ACK && o.seq === S1 - 1);
  t.is(probes.length, 1000, 'one keep-alive probe per connection (RFC 1122 §4.2.3.6)');
});

test('#14: a large payload goes to the tunnel as the lent view of the read buffer and is released once written; a small one is copied', async (t) => {
  const r = rig({ mtu: 65_535 });
  await handshake(r);
  const tunnel = r.dialer.tunnels[0]!;
  tunnel.stall = true;
  const big = tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C1, ack: S1, data: Buffer.alloc(20_000, 7) });
  const small = tcpPacket(CLIENT4, SERVICE4, 40_000, 80, { seq: C1 + 20_000, ack: S1, data: 'tiny' });
  const lent: Buffer[] = [];
  let released = 0;
  const lend = (view: Buffer) => {
    lent.push(view);
    return () => released++;
  };
  r.stack.inputBatch([big, small], lend);
  await settle();
  t.is(lent.length, 1, 'only the large payload is lent');
  t.is(tunnel.received[0]!.buffer, big.buffer, 'the tunnel got a view, not a copy');
  t.is(released, 0, 'pinned while the stream holds it');
  tunnel.unstall();
  await settle();
  t.is(released, 1);
  t.not(tunnel.received[1]!.buffer, small.buffer);
  t.is(tunnel.received[1]!.toString(), 'tiny');
});
