// End-to-end through the stack: a scripted client (a small go-back-N TCP standing in for the
// workstation kernel) and a tunnel stream exchange megabytes both ways, with random segment
// sizes, loss and reordering injected on the "wire", and a fake clock driving every timer.

import test from 'ava';
import { seqAdd, seqDiff, seqGt } from '../../../../lib/proxy/netstack/tcp/seq.js';
import { ACK, FIN, SYN } from '../../../../lib/proxy/netstack/wire/tcp.js';
import { VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6 } from '../../../../lib/proxy/netstack/wire/vnet.js';
import { CLIENT4, CLIENT6, SERVICE4, SERVICE6, fromKernel, rig, settle, tcpPacket } from './stack-harness.js';

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  const rnd = prng(seed);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((rnd() * 0x1_0000_0000) >>> 0, Math.min(i, n - 4));
  return b;
}

interface Scenario {
  v6: boolean;
  bytes: number;
  mtu: number;
  loss: number;
  reorder: number;
  seed: number;
  /** Through a TUN with offloads: packets behind virtio_net_hdr, partial checksums both ways, the
   * client sending super-packets of up to 64 KiB (TSO) and the stack answering in kind. */
  vnet?: boolean;
}

async function transfer(t: import('ava').ExecutionContext, sc: Scenario): Promise<void> {
  const r = rig({ mtu: sc.mtu, vnetHdr: sc.vnet ?? false });
  const rnd = prng(sc.seed);
  const src = sc.v6 ? CLIENT6 : CLIENT4;
  const dst = sc.v6 ? SERVICE6 : SERVICE4;
  const up = pattern(sc.bytes, sc.seed + 1); // workstation → cluster
  const down = pattern(sc.bytes, sc.seed + 2); // cluster → workstation
  const plain = (s: Parameters<typeof tcpPacket>[4]) => tcpPacket(src, dst, 40_000, 443, s);
  let stackMss = 0;
  const pkt = (s: Parameters<typeof tcpPacket>[4]) => {
    if (!sc.vnet) return plain(s);
    const p = plain(s);
    const len = s.data === undefined ? 0 : s.data.length;
    return fromKernel(p, len > stackMss ? { gsoSize: stackMss } : {});
  };

  // Handshake.
  const iss = 0xffff_f000; // the client's sequence numbers wrap early in the transfer
  r.stack.input(pkt({ seq: iss, flags: SYN, mss: 65_000, wscale: 7, window: 0xffff }));
  await settle();
  const synAck = r.out.shift()!;
  t.is(synAck.flags, SYN | ACK);
  const mss = synAck.mss;
  stackMss = mss;
  // The kernel's TSO hands the stack up to 64 KiB at once, whatever the MSS.
  const clientSegment = sc.vnet ? 65_000 : mss;
  let superSegmentsSeen = 0;
  const ourScale = synAck.wscale;
  const s1 = seqAdd(synAck.seq, 1);
  const c1 = seqAdd(iss, 1);

  let sndUna = c1;
  let sndNxt = c1;
  let peerWnd = synAck.window;
  let lastProgress = 0;
  let rcvNxt = s1;
  const got: Buffer[] = [];
  let gotLen = 0;
  let gotFin = false;
  let finSent = false;
  const endSeq = seqAdd(c1, sc.bytes);
  let fed = 0;
  const tunnelReady = () => r.dialer.tunnels[0];
  r.stack.input(pkt({ seq: c1, ack: s1, window: 8192 }));
  await settle();
  const tunnel = tunnelReady()!;

  let rounds = 0;
  for (; rounds < 20_000; rounds++) {
    // Cluster side writes, respecting its own readable buffer.
    while (fed < sc.bytes && tunnel.readableLength < 256 * 1024) {
      const n = Math.min(sc.bytes - fed, 1 + Math.floor(rnd() * 100_000));
      tunnel.push(down.subarray(fed, fed + n));
      fed += n;
      if (fed === sc.bytes) tunnel.push(null);
    }

    // What the stack sent: our ACK/window for the upload, data for the download.
    const batch: Buffer[] = [];
    let ackOwed = false;
    for (const o of r.out.splice(0)) {
      if ((o.flags & ACK) !== 0 && seqGt(o.ack, sndUna)) {
        sndUna = o.ack;
        lastProgress = r.clock.now();
      }
      peerWnd = o.window * 2 ** ourScale;
      const dataLen = o.payload.length;
      if (sc.vnet) {
        // A segment longer than the MSS only as a TSO super-packet, cut at the MSS by the kernel.
        if (dataLen > mss) {
          t.is(o.vnet!.gsoType, sc.v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4);
          t.is(o.vnet!.gsoSize, mss);
          t.is(o.vnet!.hdrLen, (sc.v6 ? 40 : 20) + 20);
          superSegmentsSeen++;
        } else {
          t.is(o.vnet!.gsoType, VNET_GSO_NONE);
        }
      }
      if (dataLen === 0 && (o.flags & FIN) === 0) continue;
      if (rnd() < sc.loss) continue; // lost on the way to the client
      if (o.seq === rcvNxt) {
        got.push(o.payload);
        gotLen += dataLen;
        rcvNxt = seqAdd(rcvNxt, dataLen);
        if ((o.flags & FIN) !== 0) {
          rcvNxt = seqAdd(rcvNxt, 1);
          gotFin = true;
        }
        ackOwed = true;
      } else {
        // Out of order or old: a real kernel answers at once with a duplicate ACK.
        batch.push(pkt({ seq: sndNxt, ack: rcvNxt, window: 8192 }));
      }
    }

    // Client retransmission: go back to SND.UNA after 300 ms without progress.
    if (seqDiff(sndNxt, sndUna) > 0 && r.clock.now() - lastProgress > 300) {
      sndNxt = sndUna;
      if (finSent && sndUna !== seqAdd(endSeq, 1)) finSent = false;
      lastProgress = r.clock.now();
    }

    // Client sends data with random segmentation within the stack's window.
    for (let k = 0; k < 64; k++) {
      const inFlight = seqDiff(sndNxt, sndUna);
      const left = seqDiff(endSeq, sndNxt);
      const room = peerWnd - inFlight;
      if (left <= 0 || room <= 0) break;
      const want = rnd() < 0.2 ? 1 + Math.floor(rnd() * 100) : 1 + Math.floor(rnd() * clientSegment);
      const n = Math.min(want, left, room, clientSegment);
      const off = seqDiff(sndNxt, c1);
      batch.push(pkt({ seq: sndNxt, ack: rcvNxt, window: 8192, data: up.subarray(off, off + n) }));
      ackOwed = false;
      sndNxt = seqAdd(sndNxt, n);
    }
    if (!finSent && sndNxt === endSeq && sndUna === endSeq) {
      batch.push(pkt({ seq: endSeq, ack: rcvNxt, window: 8192, flags: ACK | FIN }));
      sndNxt = seqAdd(endSeq, 1);
      finSent = true;
      ackOwed = false;
    }
    if (ackOwed) batch.push(pkt({ seq: sndNxt, ack: rcvNxt, window: 8192 }));

    // The wire: loss and reordering towards the stack.
    const wire = batch.filter(() => rnd() >= sc.loss);
    for (let i = 0; i + 1 < wire.length; i++) {
      if (rnd() < sc.reorder) [wire[i], wire[i + 1]] = [wire[i + 1]!, wire[i]!];
    }
    r.stack.inputBatch(wire);
    if (process.env.TP_TRACE && rounds % 250 === 0) {
      t.log(
        `r=${rounds} down=${gotLen} up=${tunnel.receivedLen} una=${seqDiff(sndUna, c1)} nxt=${seqDiff(sndNxt, c1)} wnd=${peerWnd} st=${JSON.stringify(r.stack.stats().tcpRetransmits)}`,
      );
    }
    await settle(1);
    r.clock.advance(5);

    if (gotFin && tunnel.finished && sndUna === seqAdd(endSeq, 1)) break;
  }
  t.true(rounds < 20_000, 'transfer finished');
  // Both FINs are through; whoever closed first sits in TIME-WAIT for 2*MSL (30 s default),
  // which the stack's timer wheel rounds up to a whole second.
  r.stack.input(pkt({ seq: sndNxt, ack: rcvNxt, window: 8192 }));
  await settle();
  r.clock.advance(61_000);
  t.is(gotLen, sc.bytes);
  t.true(Buffer.concat(got).equals(down), 'cluster → workstation bytes identical');
  t.is(tunnel.receivedLen, sc.bytes);
  t.true(Buffer.concat(tunnel.received).equals(up), 'workstation → cluster bytes identical');
  t.true(tunnel.finished);
  const st = r.stack.stats();
  t.is(st.tcpFlowsOpen, 0);
  t.is(st.bytesFromWorkstation, sc.bytes);
  t.is(st.bytesToWorkstation, sc.bytes);
  if (sc.loss > 0) t.true(st.tcpRetransmits > 0);
  t.is(r.stack.poolBuffersTaken, 0);
  if (sc.vnet) t.true(superSegmentsSeen > 0, 'the stack sent TSO super-packets');
  t.log(`rounds=${rounds} retransmits=${st.tcpRetransmits} packetsIn=${st.packetsIn} packetsOut=${st.packetsOut}`);
}

test('10 MB both ways over IPv4 with random segmentation, 2% loss and reordering: byte-exact, half-closed cleanly', async (t) => {
  await transfer(t, { v6: false, bytes: 10 * 1024 * 1024, mtu: 16_384, loss: 0.02, reorder: 0.1, seed: 42 });
});

test('1 MB both ways over IPv6 with a 64 KiB MTU and reordering: byte-exact', async (t) => {
  await transfer(t, { v6: true, bytes: 1024 * 1024, mtu: 65_535, loss: 0.01, reorder: 0.2, seed: 7 });
});

test('#14: 4 MB both ways behind virtio_net_hdr at MTU 1500 with loss and reordering: partial checksums, 64 KiB TSO super-packets both ways, byte-exact', async (t) => {
  await transfer(t, { v6: false, bytes: 4 * 1024 * 1024, mtu: 1500, loss: 0.03, reorder: 0.1, seed: 11, vnet: true });
});

test('#14: 2 MB both ways over IPv6 behind virtio_net_hdr at MTU 1500 with loss: byte-exact', async (t) => {
  await transfer(t, { v6: true, bytes: 2 * 1024 * 1024, mtu: 1500, loss: 0.02, reorder: 0, seed: 5, vnet: true });
});
