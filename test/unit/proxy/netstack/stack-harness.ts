// Drives a NetStack with built packets: a fake clock, a fake dialer whose TCP flows are
// in-memory Duplex "tunnels", and a scripted client that stands in for the workstation kernel.

import type { TcpSegment } from '../../../../lib/proxy/netstack/wire/tcp.js';
import { Duplex } from 'node:stream';
import { DialError, type Dialer, type DialFailure, type UdpFlow } from '../../../../lib/proxy/dialer.js';
import { NetStack, copyPacket, type Clock, type NetStackOptions } from '../../../../lib/proxy/netstack/stack.js';
import { finishChecksum, fold16, pseudoHeaderPartialOf, pseudoHeaderSum, sum16 } from '../../../../lib/proxy/netstack/wire/checksum.js';
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  newVnetHeader,
  readVnetHeader,
  writeVnetHeader,
  type VnetHeader,
} from '../../../../lib/proxy/netstack/wire/vnet.js';
import { buildTcpPacket, buildUdpPacket, newParsedPacket, parsePacket } from '../../../../lib/proxy/netstack/wire/packet.js';
import type { OutSegment } from '../../../../lib/proxy/netstack/wire/tcp.js';

export class FakeClock implements Clock {
  t = 0;
  #id = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  /** Timer callbacks run so far: each is a wake-up of an otherwise idle process. */
  fired = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves time forward, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      this.fired++;
      next[1].fn();
    }
    this.t = end;
  }
}

/** The cluster end of a TCP flow. `received` is what the workstation sent; push() sends to it. */
export class Tunnel extends Duplex {
  received: Buffer[] = [];
  receivedLen = 0;
  finished = false;
  /** While true, writes are not acknowledged (a stream whose far side stopped reading). */
  stall = false;
  #stalled: Array<() => void> = [];
  constructor(writableHighWaterMark = 64 * 1024) {
    super({ writableHighWaterMark, readableHighWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.received.push(chunk);
    this.receivedLen += chunk.length;
    if (this.stall) this.#stalled.push(() => cb());
    else cb();
  }
  override _final(cb: () => void): void {
    this.finished = true;
    cb();
  }
  override _read(): void {}
  unstall(): void {
    this.stall = false;
    for (const cb of this.#stalled.splice(0)) cb();
  }
  text(): string {
    return Buffer.concat(this.received).toString();
  }
}

export class FakeUdp implements UdpFlow {
  sent: Buffer[] = [];
  listener: ((p: Buffer) => void) | null = null;
  isClosed = false;
  #resolve!: () => void;
  readonly closed = new Promise<void>((r) => (this.#resolve = r));
  send(payload: Uint8Array): boolean {
    this.sent.push(Buffer.from(payload));
    return true;
  }
  onDatagram(l: (p: Buffer) => void): void {
    this.listener = l;
  }
  close(): void {
    this.isClosed = true;
    this.#resolve();
  }
}

export type DialPlan = 'ok' | DialFailure | 'hang';

export class FakeDialer implements Dialer {
  tcpDials: Array<{ host: string; port: number; signal?: AbortSignal }> = [];
  udpDials: Array<{ host: string; port: number }> = [];
  tunnels: Tunnel[] = [];
  udpFlows: FakeUdp[] = [];
  plan: DialPlan = 'ok';
  tunnelHwm = 64 * 1024;
  #hanging: Array<{ resolve: (d: Duplex) => void; reject: (e: unknown) => void }> = [];

  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    this.tcpDials.push({ host, port, signal });
    if (this.plan === 'hang') return new Promise((resolve, reject) => this.#hanging.push({ resolve, reject }));
    if (this.plan !== 'ok') return Promise.reject(new DialError(this.plan, `dial ${this.plan}`));
    const t = new Tunnel(this.tunnelHwm);
    this.tunnels.push(t);
    return Promise.resolve(t);
  }
  /** Settles the oldest hanging dial. */
  settle(outcome: 'ok' | DialFailure): Tunnel | undefined {
    const h = this.#hanging.shift()!;
    if (outcome !== 'ok') {
      h.reject(new DialError(outcome, outcome));
      return undefined;
    }
    const t = new Tunnel(this.tunnelHwm);
    this.tunnels.push(t);
    h.resolve(t);
    return t;
  }
  dialUdp(host: string, port: number): Promise<UdpFlow> {
    this.udpDials.push({ host, port });
    if (this.plan !== 'ok' && this.plan !== 'hang') return Promise.reject(new DialError(this.plan, 'udp'));
    const f = new FakeUdp();
    this.udpFlows.push(f);
    return Promise.resolve(f);
  }
}

/** One packet the stack sent, decoded (and thereby checksum-verified). */
export interface Out extends TcpSegment {
  version: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  raw: Buffer;
  /** The virtio_net_hdr the packet came behind (rig({ vnetHdr: true })). */
  vnet?: VnetHeader;
}

export interface Rig {
  stack: NetStack;
  clock: FakeClock;
  dialer: FakeDialer;
  out: Out[];
  batches: number;
}

export function rig(opts: Partial<NetStackOptions> = {}): Rig {
  const clock = new FakeClock();
  const dialer = new FakeDialer();
  const r = { clock, dialer, out: [] as Out[], batches: 0 } as Rig;
  const p = newParsedPacket();
  r.stack = new NetStack({
    dialer,
    clock,
    iss: () => 7_000,
    output: (packets) => {
      r.batches++;
      for (const pkt of packets) {
        let raw = copyPacket(pkt); // pooled: copy before the call returns
        let vnet: VnetHeader | undefined;
        if (opts.vnetHdr) {
          vnet = newVnetHeader();
          const badHdr = readVnetHeader(raw, vnet);
          if (badHdr) throw new Error(`stack emitted a bad virtio_net_hdr: ${badHdr}`);
          raw = raw.subarray(VNET_HDR_LEN);
          // What the kernel does with NEEDS_CSUM: sum from csumStart to the end (the field holds
          // the pseudo-header's part) and store it; the parser below then verifies the result.
          if ((vnet.flags & VNET_F_NEEDS_CSUM) !== 0) {
            raw.writeUInt16BE(finishChecksum(sum16(raw, vnet.csumStart, raw.length)), vnet.csumStart + vnet.csumOffset);
          }
        }
        const bad = parsePacket(raw, p);
        if (bad) throw new Error(`stack emitted a bad packet: ${bad}`);
        const l4 = p.proto === 6 ? p.tcp : p.udp;
        r.out.push({
          version: p.version,
          proto: p.proto,
          src: p.src.join('.'),
          dst: p.dst.join('.'),
          srcPort: l4.srcPort,
          dstPort: l4.dstPort,
          seq: p.tcp.seq,
          ack: p.tcp.ack,
          flags: p.tcp.flags,
          window: p.tcp.window,
          mss: p.tcp.mss,
          wscale: p.tcp.wscale,
          sackPermitted: p.tcp.sackPermitted,
          sack: [...p.tcp.sack],
          payload: Buffer.from(p.proto === 6 ? p.tcp.payload : p.proto === 17 ? p.udp.payload : p.l4),
          raw,
          ...(vnet ? { vnet } : {}),
        });
      }
    },
    ...opts,
  });
  return r;
}

export const CLIENT4 = Buffer.from([10, 0, 0, 2]);
export const SERVICE4 = Buffer.from([10, 96, 0, 10]);
export const CLIENT6 = Buffer.from('fd000000000000000000000000000002', 'hex');
export const SERVICE6 = Buffer.from('fd0000000000000000000000000000aa', 'hex');

/** Builds one TCP packet from the client to the service. */
export function tcpPacket(
  src: Buffer,
  dst: Buffer,
  srcPort: number,
  dstPort: number,
  s: Partial<OutSegment> & { data?: Buffer | string },
): Buffer {
  const payload = s.data === undefined ? Buffer.alloc(0) : typeof s.data === 'string' ? Buffer.from(s.data) : s.data;
  const seg: OutSegment = {
    seq: s.seq ?? 0,
    ack: s.ack ?? 0,
    flags: s.flags ?? 0x10,
    window: s.window ?? 0xffff,
    mss: s.mss ?? -1,
    wscale: s.wscale ?? -1,
    sackPermitted: s.sackPermitted ?? false,
    payload,
  };
  const buf = Buffer.alloc(80 + payload.length);
  return buf.subarray(0, buildTcpPacket(buf, src, dst, srcPort, dstPort, seg));
}

export function udpPacket(src: Buffer, dst: Buffer, srcPort: number, dstPort: number, data: string | Buffer): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const buf = Buffer.alloc(80 + payload.length);
  return buf.subarray(0, buildUdpPacket(buf, src, dst, srcPort, dstPort, payload));
}

/** Lets promise callbacks and stream events run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** `packet` as the kernel hands it to a TUN with offloads: behind a virtio_net_hdr, its TCP or
 * UDP checksum left partial (the field holds only the folded pseudo-header sum, NEEDS_CSUM) —
 * or, with `gsoSize`, also marked as a segmentation super-packet of that segment size. */
export function fromKernel(packet: Buffer, opts: { gsoSize?: number } = {}): Buffer {
  const v4 = packet[0]! >> 4 === 4;
  const ihl = v4 ? 20 : 40;
  const proto = v4 ? packet[9]! : packet[6]!;
  const csumOffset = proto === 6 ? 16 : 6;
  const src = v4 ? packet.subarray(12, 16) : packet.subarray(8, 24);
  const dst = v4 ? packet.subarray(16, 20) : packet.subarray(24, 40);
  const out = Buffer.alloc(VNET_HDR_LEN + packet.length);
  packet.copy(out, VNET_HDR_LEN);
  const l4len = packet.length - ihl;
  out.writeUInt16BE(fold16(pseudoHeaderSum(pseudoHeaderPartialOf(src, dst, proto), l4len)), VNET_HDR_LEN + ihl + csumOffset);
  const gso = opts.gsoSize ? (proto === 17 ? VNET_GSO_UDP_L4 : v4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6) : VNET_GSO_NONE;
  const hdrLen = ihl + (proto === 6 ? (packet[ihl + 12]! >> 4) * 4 : 8);
  writeVnetHeader(out, 0, ihl, csumOffset, gso, opts.gsoSize ?? 0, hdrLen);
  return out;
}
