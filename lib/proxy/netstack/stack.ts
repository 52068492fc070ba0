// The edge of the userspace stack: raw IP packets in and out (behind a virtio_net_hdr when the
// TUN offloads checksums and segmentation), a table of TCP connections and UDP flows keyed by
// 4-tuple, one timer for all of them (a wheel of their deadlines, wheel.ts), and the Dialer that
// carries each flow to the cluster. Everything protocol-shaped lives in wire/ and tcp/; this file only moves bytes
// between a TcpConn and its tunnel stream and decides when to flush.
//
// How a TCP flow can end:
//  - both sides close: peer FIN → duplex.end(); duplex 'end' → our FIN; then TIME-WAIT/LAST-ACK
//  - the workstation resets (valid RST)          → duplex.destroy()
//  - the tunnel stream errors or is destroyed    → RST to the workstation
//  - retransmission / keepalive / handshake gives up → RST and duplex.destroy()
//  - NetStack.close()                            → RST and duplex.destroy() for every flow
// A dial that fails never creates a flow: 'refused' (and policy refusals) answer the SYN with
// RST, 'timeout'/'unreachable'/'nxdomain' stay silent so the kernel retries or times out as it
// would on a real network.

import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { DialError, type Dialer, type DialFailure } from '../dialer.js';
import { keep, publishClose, publishOpen, type Endpoints } from './flows.js';
import type { DestinationMap } from './nat.js';
import { BufferPool } from './pool.js';
import { newStats, type NetStackStats } from './stats.js';
import { DEFAULT_TUNING, TcpConn, type CloseReason, type TcpTuning } from './tcp/conn.js';
import { seqAdd, seqGt } from './tcp/seq.js';
import { UdpFlows } from './udp-flows.js';
import { TimerWheel, type Timed } from './wheel.js';
import { pseudoHeaderPartialOf } from './wire/checksum.js';
import { IPV4_HEADER_LEN, IPV6_HEADER_LEN, PROTO_TCP, PROTO_UDP, formatIp } from './wire/ip.js';
import { buildTcpHeaders, buildTcpPacket, newParsedPacket, parsePacket, type ParsedPacket } from './wire/packet.js';
import { ACK, FIN, RST, SYN, TCP_HEADER_LEN, TCP_MAX_EMIT_HEADER_LEN, type OutSegment, type TcpSegment } from './wire/tcp.js';
import {
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  checksumTrusted,
  newVnetHeader,
  readVnetHeader,
  writePlainVnetHeader,
  writeVnetHeader,
} from './wire/vnet.js';

/** Time and timers, injectable so tests drive the stack with a fake clock. Milliseconds. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** One packet to write: a Buffer, or its pieces in order (headers, then a view of the payload
 * where it lies — one writev(2), no copy). */
export type OutPacket = Buffer | Buffer[];

/** Pins the read buffer a view of an input packet lies in until the returned function is called
 * (lib/root/tun.ts lends its read slabs); undefined: the caller must copy. */
export type Lend = (view: Buffer) => (() => void) | undefined;

/** Payloads at least this long go to the tunnel as views of the TUN's read slab, when it lends
 * them: a smaller one would pin a whole slab for few bytes, and copying it costs little. */
const LEND_MIN = 16 * 1024;

/** A copy of one output packet in one Buffer (for whoever must keep it past the call). */
export const copyPacket = (p: OutPacket): Buffer => (Buffer.isBuffer(p) ? Buffer.from(p) : Buffer.concat(p));

export interface NetStackOptions {
  dialer: Dialer;
  /** Receives batches of packets to write to the TUN. The buffers are pooled or views of send
   * buffers: they are valid only during the call (write them synchronously or copy). */
  output(packets: OutPacket[]): void;
  /** Every packet in and out starts with a virtio_net_hdr (a TUN with offloads, wire/vnet.ts):
   * checksums the kernel vouches for are not verified, ours are left partial for the kernel to
   * finish, and a TCP segment carries up to 64 KiB for the kernel to cut (TSO). */
  vnetHdr?: boolean;
  /** The TUN MTU, 1280..65535. MSS = MTU - IP header - 20. */
  mtu?: number;
  clock?: Clock;
  tcp?: Partial<TcpTuning>;
  /** A UDP flow with no datagram either way for this long is closed. */
  udpIdleTimeout?: number;
  /** SYNs waiting for a dial beyond this are dropped (the kernel retries them). */
  maxPendingDials?: number;
  /** TCP connections (including TIME-WAIT) beyond this: new SYNs are dropped. */
  maxTcpFlows?: number;
  /** UDP flows beyond this: datagrams of new 4-tuples are dropped. */
  maxUdpFlows?: number;
  /** Datagrams held per UDP flow while its dial is pending. */
  udpPendingQueue?: number;
  /** Initial sequence numbers; random by default (RFC 9293 §3.4.1 / RFC 6528). */
  iss?: () => number;
  /** VNAT (nat.ts): the real cluster address each flow dials for the (virtual) destination the
   * workstation addressed. Without it a flow dials the address it was sent to. */
  destinations?: DestinationMap;
}

interface TcpFlow extends Endpoints, Timed {
  conn: TcpConn;
  duplex: Duplex;
  pseudo: number;
  emit: (seg: OutSegment) => void;
  /** Bytes read from the duplex that the send buffer had no room for (the duplex is paused). */
  backlog: Buffer[];
  appEnded: boolean;
  /** Bytes written to the duplex since its write() said "full"; consumed on 'drain'. */
  undrained: number;
}

interface PendingDial extends Endpoints {
  syn: TcpSegment;
  abort: AbortController;
}

const INF = Number.POSITIVE_INFINITY;
const NO_PAYLOAD = Buffer.alloc(0);
/** Failures the workstation sees as an immediate RST; the rest are silence (see file head). */
const RST_FAILURES: ReadonlySet<DialFailure> = new Set(['refused', 'forbidden', 'other']);

export class NetStack {
  readonly mtu: number;
  readonly #dialer: Dialer;
  readonly #output: (packets: OutPacket[]) => void;
  readonly #clock: Clock;
  readonly #tuning: TcpTuning;
  readonly #maxPending: number;
  readonly #maxTcp: number;
  readonly #iss: () => number;
  readonly #destinations: DestinationMap | undefined;
  /** Whole packets (UDP, ICMP, resets of no connection): MTU-sized, behind the vnet header. */
  readonly #pool: BufferPool;
  /** The headers of a TCP segment (its payload is written from the send buffer where it lies). */
  readonly #heads = new BufferPool(VNET_HDR_LEN + 40 + TCP_MAX_EMIT_HEADER_LEN, 256);
  /** 0, or VNET_HDR_LEN when every packet carries a virtio_net_hdr. */
  readonly #vnet: number;
  readonly #vnetIn = newVnetHeader();
  readonly #parsed: ParsedPacket = newParsedPacket();
  readonly #tcp = new Map<string, TcpFlow>();
  readonly #pending = new Map<string, PendingDial>();
  readonly #udp: UdpFlows;
  readonly #dirty = new Set<TcpFlow>();
  readonly #batch: OutPacket[] = [];
  readonly #batchBuffers: Buffer[] = [];
  readonly #scratch: OutSegment = {
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    payload: Buffer.alloc(0),
  };
  readonly #stats = newStats();
  #closedRetransmits = 0;
  /** The lender of the batch being read, only while inputBatch runs. */
  #lend: Lend | undefined;
  #flushQueued = false;
  /** Every connection's next deadline, filed by time (wheel.ts); one OS timer for the earliest. */
  readonly #wheel = new TimerWheel<TcpFlow>();
  readonly #due: TcpFlow[] = [];
  /** When the UDP table wants expire() called. */
  #udpWake = INF;
  #timer: unknown = null;
  #timerAt = INF;
  #closed = false;

  constructor(opts: NetStackOptions) {
    this.mtu = Math.max(1280, Math.min(65535, opts.mtu ?? 65535));
    this.#dialer = opts.dialer;
    this.#output = opts.output;
    this.#clock = opts.clock ?? systemClock;
    this.#tuning = { ...DEFAULT_TUNING, ...opts.tcp };
    this.#maxPending = opts.maxPendingDials ?? 1024;
    this.#maxTcp = opts.maxTcpFlows ?? 16_384;
    this.#iss = opts.iss ?? (() => randomInt(0, 0x1_0000_0000 - 1));
    this.#destinations = opts.destinations;
    this.#vnet = opts.vnetHdr ? VNET_HDR_LEN : 0;
    this.#pool = new BufferPool(this.#vnet + this.mtu);
    this.#udp = new UdpFlows(
      {
        mtu: this.mtu,
        stats: this.#stats,
        now: () => this.#clock.now(),
        send: (build) => {
          this.#queueBuilt(build);
          this.#scheduleFlush();
        },
        wakeAt: (at) => {
          const now = this.#clock.now();
          this.#udpWake = Math.min(this.#udpWake, TimerWheel.slotOf(at, now));
          this.#arm(now);
        },
        dialHost: (local) => this.#dialHost(local),
      },
      this.#dialer,
      { idleTimeout: opts.udpIdleTimeout ?? 60_000, maxFlows: opts.maxUdpFlows ?? 4096, pendingQueue: opts.udpPendingQueue ?? 16 },
    );
  }

  /** MSS we announce and send over IPv4 / IPv6: what fits in one MTU-sized packet. */
  mssFor(v6: boolean): number {
    return this.mtu - (v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN) - TCP_HEADER_LEN;
  }

  /** One packet from the TUN. Output is flushed at the end of this turn of the event loop, so
   * ACKs for a burst of segments coalesce. */
  input(packet: Buffer): void {
    if (this.#closed) return;
    this.#receive(packet);
    this.#scheduleFlush();
  }

  /** A burst of packets from the TUN, flushed before returning. With `lend`, large payloads go
   * to their tunnel streams as views of the packets rather than copies. */
  inputBatch(packets: readonly Buffer[], lend?: Lend): void {
    if (this.#closed) return;
    this.#lend = lend;
    try {
      for (const p of packets) this.#receive(p);
    } finally {
      this.#lend = undefined;
    }
    this.flush();
  }

  /** Sends everything that is due now. Called automatically; public for tests and batch loops. */
  flush(): void {
    this.#flushQueued = false;
    const now = this.#clock.now();
    for (const flow of this.#dirty) {
      flow.conn.dispatch(now, flow.emit);
      if (flow.conn.state === 'CLOSED') this.#removeTcp(flow);
      else this.#wheel.schedule(flow, flow.conn.pollAt(), now);
    }
    this.#dirty.clear();
    this.#writeBatch();
    this.#arm(now);
  }

  stats(): NetStackStats {
    const s = this.#stats;
    let retransmits = this.#closedRetransmits;
    for (const f of this.#tcp.values()) retransmits += f.conn.retransmits;
    return {
      ...s,
      drops: { ...s.drops },
      tcpFlowsOpen: this.#tcp.size,
      udpFlowsOpen: this.#udp.size,
      pendingDials: this.#pending.size,
      tcpRetransmits: retransmits,
    };
  }

  /** Buffers currently out of the pools (0 between flushes: a test's leak check). */
  get poolBuffersTaken(): number {
    return this.#pool.taken + this.#heads.taken;
  }

  /** Resets every connection (the workstation's sockets fail fast instead of hanging),
   * destroys their streams, closes UDP flows, cancels dials and the timer. */
  close(): void {
    if (this.#closed) return;
    for (const p of this.#pending.values()) p.abort.abort();
    this.#pending.clear();
    for (const flow of this.#tcp.values()) {
      flow.conn.abort();
      this.#dirty.add(flow);
    }
    this.flush();
    this.#udp.closeAll();
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = INF;
    this.#wheel.clear();
  }

  // ------------------------------------------------------------------ input

  #receive(packet: Buffer): void {
    this.#stats.packetsIn++;
    const p = this.#parsed;
    let trusted = false;
    let udpSegment = 0;
    if (this.#vnet) {
      const h = this.#vnetIn;
      const bad = readVnetHeader(packet, h);
      if (bad) {
        this.#stats.drops[bad]++;
        return;
      }
      packet = packet.subarray(VNET_HDR_LEN);
      trusted = checksumTrusted(h);
      // A TSO super-packet is one TCP segment as far as the receiver is concerned (its bytes are
      // in sequence, its flags are the last piece's); a USO one is gsoSize-byte datagrams.
      if (h.gsoType === VNET_GSO_UDP_L4) udpSegment = h.gsoSize;
    }
    const bad = parsePacket(packet, p, trusted);
    if (bad) {
      this.#stats.drops[bad]++;
      return;
    }
    if (p.proto === PROTO_TCP) this.#tcpInput(p);
    else if (p.proto === PROTO_UDP && udpSegment > 0) this.#udpSegments(p, udpSegment);
    else if (p.proto === PROTO_UDP) this.#udp.input(p, this.#key(p));
    else this.#stats.icmpIgnored++;
  }

  /** A UDP segmentation-offload super-packet: each `size` bytes of its payload were one send of
   * the application, so each is one datagram to the flow. */
  #udpSegments(p: ParsedPacket, size: number): void {
    const key = this.#key(p);
    const all = p.udp.payload;
    for (let off = 0; off < all.length; off += size) {
      p.udp.payload = all.subarray(off, Math.min(all.length, off + size));
      this.#udp.input(p, key);
    }
  }

  /** 4-tuple key: source and destination addresses are adjacent in both IP headers, ports are
   * the first four transport bytes; latin1 maps bytes 1:1 to a string. */
  #key(p: ParsedPacket): string {
    const start = p.version === 4 ? 12 : 8;
    const end = p.version === 4 ? 20 : 40;
    return p.ip.toString('latin1', start, end) + p.l4.toString('latin1', 0, 4);
  }

  #tcpInput(p: ParsedPacket): void {
    const seg = p.tcp;
    const key = this.#key(p);
    const now = this.#clock.now();
    let flow = this.#tcp.get(key);
    // RFC 9293 §3.10.7.4 (TIME-WAIT) as Linux applies it: a SYN above the old RCV.NXT starts a
    // new incarnation of the 4-tuple instead of getting a challenge ACK.
    if (flow && flow.conn.state === 'TIME-WAIT' && (seg.flags & (SYN | ACK | RST)) === SYN && seqGt(seg.seq, flow.conn.rcvNxt)) {
      // Both directions are finished; only the 2*MSL wait is cut short.
      this.#removeTcp(flow);
      publishClose('tcp', flow, 'graceful');
      flow = undefined;
    }
    if (flow) {
      flow.conn.onSegment(seg, now);
      this.#dirty.add(flow);
      return;
    }
    const pending = this.#pending.get(key);
    if (pending) {
      // The dial is under way: a retransmitted SYN must not start a second one. An RST means
      // the client gave up; so do we.
      if ((seg.flags & RST) !== 0) {
        pending.abort.abort();
        this.#pending.delete(key);
      }
      return;
    }
    if ((seg.flags & (SYN | ACK | RST | FIN)) === SYN) {
      this.#startDial(p, key, seg);
      return;
    }
    if ((seg.flags & RST) !== 0) return; // RFC 9293 §3.10.7.1: never answer a reset
    // CLOSED (§3.10.7.1): a segment for no connection gets a reset the sender will accept.
    const s = this.#scratch;
    if ((seg.flags & ACK) !== 0) {
      s.seq = seg.ack;
      s.ack = 0;
      s.flags = RST;
    } else {
      s.seq = 0;
      s.ack = seqAdd(seg.seq, seg.payload.length + ((seg.flags & SYN) !== 0 ? 1 : 0) + ((seg.flags & FIN) !== 0 ? 1 : 0));
      s.flags = RST | ACK;
    }
    this.#sendRaw(p.dst, seg.dstPort, p.src, seg.srcPort, s);
  }

  #startDial(p: ParsedPacket, key: string, seg: TcpSegment): void {
    if (this.#pending.size >= this.#maxPending || this.#tcp.size >= this.#maxTcp) {
      this.#stats.synsOverCap++;
      return;
    }
    // A SYN carrying data (TFO) is handled as a plain SYN: we don't ACK the data, the kernel
    // sends it again after the handshake.
    const pend: PendingDial = {
      key,
      local: keep(p.dst),
      localPort: seg.dstPort,
      remote: keep(p.src),
      remotePort: seg.srcPort,
      syn: { ...seg, sack: [], payload: Buffer.alloc(0) },
      abort: new AbortController(),
    };
    this.#pending.set(key, pend);
    const host = this.#dialHost(pend.local);
    this.#dialer.dialTcp(host, pend.localPort, pend.abort.signal).then(
      (duplex) => this.#dialed(pend, duplex),
      (err: unknown) => this.#dialFailed(pend, err),
    );
  }

  /** The one place a flow's destination becomes the address dialed (TCP and UDP). The flow keeps
   * `local` as the kernel sent it: whatever the stack sends back is built from it, so under VNAT
   * replies come from the virtual address the workstation's socket is connected to. */
  #dialHost(local: Buffer): string {
    const real = this.#destinations ? this.#destinations.toReal(local) : local;
    if (real !== local) this.#stats.dialsTranslated++;
    return formatIp(real);
  }

  #dialed(pend: PendingDial, duplex: Duplex): void {
    if (this.#pending.get(pend.key) !== pend || this.#closed) {
      duplex.destroy();
      return;
    }
    this.#pending.delete(pend.key);
    const v6 = pend.local.length === 16;
    const { key, local, localPort, remote, remotePort } = pend;
    const flow: TcpFlow = {
      key,
      local,
      localPort,
      remote,
      remotePort,
      duplex,
      conn: undefined as unknown as TcpConn, // set just below; the events need `flow`
      wheelAt: INF,
      pseudo: pseudoHeaderPartialOf(local, remote, PROTO_TCP),
      emit: (seg) => this.#emitTcp(flow, seg),
      backlog: [],
      appEnded: false,
      undrained: 0,
    };
    flow.conn = TcpConn.accept(
      pend.syn,
      {
        iss: this.#iss(),
        mss: this.mssFor(v6),
        defaultPeerMss: v6 ? 1220 : 536,
        tuning: this.#tuning,
        now: this.#clock.now(),
        // TSO: the kernel cuts our segments; the IP length field bounds a segment (RFC 791,
        // RFC 8200 §3: v4 counts its header, v6 does not).
        ...(this.#vnet ? { segmentMax: 0xffff - (v6 ? 0 : IPV4_HEADER_LEN) - TCP_HEADER_LEN } : {}),
      },
      {
        data: (bytes) => this.#toApp(flow, bytes),
        peerFin: () => flow.duplex.end(),
        writable: () => this.#drainBacklog(flow),
        closed: (reason) => this.#connClosed(flow, reason),
      },
    );
    this.#tcp.set(flow.key, flow);
    this.#stats.tcpFlowsTotal++;
    this.#attach(flow);
    publishOpen('tcp', flow);
    this.#dirty.add(flow);
    this.#scheduleFlush();
  }

  #dialFailed(pend: PendingDial, err: unknown): void {
    if (this.#pending.get(pend.key) !== pend) return;
    this.#pending.delete(pend.key);
    const failure: DialFailure = err instanceof DialError ? err.failure : 'other';
    if (!RST_FAILURES.has(failure)) {
      this.#stats.dialsFailed++;
      return;
    }
    // RFC 9293 §3.10.7.1 form for a SYN: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> — ECONNREFUSED.
    this.#stats.dialsRefused++;
    const s = this.#scratch;
    s.seq = 0;
    s.ack = seqAdd(pend.syn.seq, 1);
    s.flags = RST | ACK;
    this.#sendRaw(pend.local, pend.localPort, pend.remote, pend.remotePort, s);
    this.#scheduleFlush();
  }

  // ------------------------------------------------------------------ relay

  #attach(flow: TcpFlow): void {
    const d = flow.duplex;
    d.on('data', (chunk: Buffer) => this.#fromApp(flow, chunk));
    d.on('end', () => {
      flow.appEnded = true;
      if (flow.backlog.length === 0) flow.conn.close();
      this.#touch(flow);
    });
    d.on('drain', () => {
      flow.conn.consumed(flow.undrained);
      flow.undrained = 0;
      this.#touch(flow);
    });
    d.on('error', () => {}); // 'close' follows; the RST says it all
    d.on('close', () => {
      const clean = d.readableEnded && d.writableFinished;
      const st = flow.conn.state;
      if (!clean && st !== 'CLOSED' && st !== 'TIME-WAIT') {
        flow.conn.abort();
        this.#touch(flow);
      }
    });
  }

  #fromApp(flow: TcpFlow, chunk: Buffer): void {
    if (flow.backlog.length > 0) {
      flow.backlog.push(chunk);
      return;
    }
    const n = flow.conn.write(chunk);
    this.#stats.bytesToWorkstation += n;
    if (n < chunk.length) {
      // The send buffer is full: stop reading the tunnel until ACKs make room.
      flow.backlog.push(chunk.subarray(n));
      flow.duplex.pause();
    }
    this.#touch(flow);
  }

  #drainBacklog(flow: TcpFlow): void {
    while (flow.backlog.length > 0) {
      const b = flow.backlog[0]!;
      const n = flow.conn.write(b);
      this.#stats.bytesToWorkstation += n;
      if (n < b.length) {
        flow.backlog[0] = b.subarray(n);
        return;
      }
      flow.backlog.shift();
    }
    if (flow.appEnded) flow.conn.close();
    else flow.duplex.resume();
  }

  #toApp(flow: TcpFlow, bytes: Buffer): void {
    this.#stats.bytesFromWorkstation += bytes.length;
    // `bytes` is a view into the TUN's read buffer: lent as it is until the stream has written
    // it (the write's callback, which a destroyed stream calls too), else copied.
    const release = bytes.length >= LEND_MIN && this.#lend ? this.#lend(bytes) : undefined;
    let ok: boolean;
    if (release) {
      ok = flow.duplex.write(bytes, release);
    } else {
      const copy = Buffer.allocUnsafe(bytes.length);
      bytes.copy(copy);
      ok = flow.duplex.write(copy);
    }
    // Consumed at once while the stream takes data; after a "full" answer the bytes keep the
    // window closed until 'drain' — the tunnel's backpressure reaches the workstation's sender.
    if (ok && flow.undrained === 0) flow.conn.consumed(bytes.length);
    else flow.undrained += bytes.length;
  }

  #connClosed(flow: TcpFlow, reason: CloseReason): void {
    if (reason !== 'graceful') flow.duplex.destroy();
    this.#dirty.add(flow); // removed after its last segment (an RST) went out
    publishClose('tcp', flow, reason);
  }

  #removeTcp(flow: TcpFlow): void {
    if (this.#tcp.get(flow.key) !== flow) return;
    this.#tcp.delete(flow.key);
    this.#closedRetransmits += flow.conn.retransmits;
    flow.duplex.removeAllListeners('data');
    flow.duplex.on('error', () => {});
  }

  #touch(flow: TcpFlow): void {
    if (this.#tcp.get(flow.key) !== flow) return;
    this.#dirty.add(flow);
    this.#scheduleFlush();
  }

  // ------------------------------------------------------------------ output and timers

  #emitTcp(flow: TcpFlow, seg: OutSegment): void {
    if ((seg.flags & RST) !== 0) this.#stats.rstsSent++;
    const buf = this.#heads.take();
    const off = this.#vnet;
    const payload = seg.payload;
    const hlen = buildTcpHeaders(buf, off, flow.local, flow.remote, flow.localPort, flow.remotePort, seg, flow.pseudo, off > 0);
    if (off > 0) {
      const ihl = flow.local.length === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
      const mss = flow.conn.sendMss;
      const gso = payload.length > mss ? (ihl === IPV4_HEADER_LEN ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6) : VNET_GSO_NONE;
      writeVnetHeader(buf, 0, ihl, 16, gso, gso === VNET_GSO_NONE ? 0 : mss, hlen);
    }
    this.#batchBuffers.push(buf);
    const head = buf.subarray(0, off + hlen);
    this.#batch.push(payload.length > 0 ? [head, payload] : head);
  }

  #sendRaw(src: Uint8Array, srcPort: number, dst: Uint8Array, dstPort: number, seg: OutSegment): void {
    if ((seg.flags & RST) !== 0) this.#stats.rstsSent++;
    seg.window = 0;
    seg.mss = -1;
    seg.wscale = -1;
    seg.sackPermitted = false;
    seg.sack = undefined;
    seg.payload = NO_PAYLOAD;
    this.#queueBuilt((buf) => buildTcpPacket(buf, src, dst, srcPort, dstPort, seg));
    this.#scheduleFlush();
  }

  /** A whole packet with its checksum done, built into a pooled buffer (behind a vnet header
   * that asks the kernel for nothing). */
  #queueBuilt(build: (buf: Buffer) => number): void {
    const buf = this.#pool.take();
    const off = this.#vnet;
    if (off > 0) writePlainVnetHeader(buf, 0);
    const len = build(off > 0 ? buf.subarray(off) : buf);
    this.#batchBuffers.push(buf);
    this.#batch.push(buf.subarray(0, off + len));
  }

  #writeBatch(): void {
    if (this.#batch.length === 0) return;
    this.#stats.packetsOut += this.#batch.length;
    try {
      this.#output(this.#batch);
    } catch {
      // A failed TUN write is a lost batch: TCP retransmits, UDP may lose. Throwing from a
      // microtask would take the daemon down instead.
      this.#stats.outputErrors++;
    } finally {
      for (const b of this.#batchBuffers) (b.length === this.#heads.size ? this.#heads : this.#pool).give(b);
      this.#batch.length = 0;
      this.#batchBuffers.length = 0;
    }
  }

  /** Flushes at the end of this turn of the event loop (setImmediate), not after the current
   * callback (a microtask): the tunnel delivers a read of its socket as several 16 KiB DATA
   * frames, each its own callback, and a flush after each sent 16 KiB segments — 3–4 times the
   * write(2) calls into the TUN that one 64 KiB segment per turn needs (Linux's autocorking does
   * the same for small writes). The turn is microseconds; ACKs of a TUN burst go out at once
   * (inputBatch flushes before returning). */
  #scheduleFlush(): void {
    if (this.#flushQueued || this.#closed) return;
    this.#flushQueued = true;
    setImmediate(this.#flushLater);
  }

  readonly #flushLater = (): void => {
    if (this.#flushQueued) this.flush();
  };

  /** One OS timer for the whole stack, armed for the earliest slot of the wheel or the UDP table
   * (a deadline that moved later just makes it fire early and re-arm). Nothing is armed while no
   * connection has a deadline: an idle stack sleeps. */
  #arm(now: number): void {
    const at = Math.min(this.#wheel.next(), this.#udpWake);
    if (this.#closed || at === INF || at >= this.#timerAt) return;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => this.#onTimer(), Math.max(0, at - now));
  }

  #onTimer(): void {
    this.#timer = null;
    this.#timerAt = INF;
    if (this.#closed) return;
    const now = this.#clock.now();
    const due = this.#due;
    this.#wheel.due(now, due);
    for (const flow of due) {
      if (this.#tcp.get(flow.key) !== flow) continue; // closed since it was filed
      const at = flow.conn.pollAt();
      if (at <= now) {
        flow.conn.onTimer(now);
        this.#dirty.add(flow);
      } else {
        this.#wheel.schedule(flow, at, now); // its deadline moved later: file it there
      }
    }
    due.length = 0;
    if (this.#udpWake <= now) {
      const next = this.#udp.expire(now);
      this.#udpWake = next === INF ? INF : TimerWheel.slotOf(next, now);
    }
    this.flush();
  }
}
