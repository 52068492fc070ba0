// Scripted-peer harness for TcpConn: build a connection in a given state, feed it segments from
// the "workstation kernel", and collect exactly what it sends, with a fake clock (plain numbers).

import type { ExecutionContext } from 'ava';
import { TcpConn, type CloseReason, type TcpTuning } from '../../../../../lib/proxy/netstack/tcp/conn.js';
import { seqAdd } from '../../../../../lib/proxy/netstack/tcp/seq.js';
import { ACK, SYN, newTcpSegment, type TcpSegment } from '../../../../../lib/proxy/netstack/wire/tcp.js';

export const OUR_ISS = 1_000;
export const PEER_ISS = 50_000;
export const MSS = 1_000;

export interface Sent {
  sack: number[];
  sackPermitted: boolean;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss: number;
  wscale: number;
  data: Buffer;
}

export interface Recorder {
  data: Buffer[];
  established: number;
  peerFin: number;
  writable: number;
  closed: CloseReason[];
  /** When true (default) received bytes are consumed at once. */
  autoConsume: boolean;
}

export function segment(over: Partial<TcpSegment> & { data?: string | Buffer } = {}): TcpSegment {
  const s = newTcpSegment();
  s.srcPort = 40_000;
  s.dstPort = 80;
  s.flags = ACK;
  s.window = 0xffff;
  const { data, ...rest } = over;
  Object.assign(s, rest);
  if (data !== undefined) s.payload = typeof data === 'string' ? Buffer.from(data) : data;
  return s;
}

export interface Opts {
  iss?: number;
  peerIss?: number;
  peerMss?: number;
  peerWscale?: number;
  peerWindow?: number;
  mss?: number;
  peerSack?: boolean;
  tuning?: Partial<TcpTuning>;
  autoConsume?: boolean;
  /** AcceptParams.segmentMax: the device segments for us (TSO). */
  segmentMax?: number;
}

export function synReceived(o: Opts = {}): { c: TcpConn; ev: Recorder } {
  const ev: Recorder = { data: [], established: 0, peerFin: 0, writable: 0, closed: [], autoConsume: o.autoConsume ?? true };
  const syn = segment({
    seq: o.peerIss ?? PEER_ISS,
    flags: SYN,
    window: o.peerWindow ?? 0xffff,
    mss: o.peerMss ?? MSS,
    wscale: o.peerWscale ?? -1,
    sackPermitted: o.peerSack ?? false,
  });
  const c: TcpConn = TcpConn.accept(
    syn,
    {
      iss: o.iss ?? OUR_ISS,
      mss: o.mss ?? MSS,
      defaultPeerMss: 536,
      tuning: { keepaliveIdle: 0, ...o.tuning },
      now: 0,
      ...(o.segmentMax ? { segmentMax: o.segmentMax } : {}),
    },
    {
      established: () => ev.established++,
      data: (b) => {
        ev.data.push(Buffer.from(b));
        if (ev.autoConsume) c.consumed(b.length);
      },
      peerFin: () => ev.peerFin++,
      writable: () => ev.writable++,
      closed: (r) => ev.closed.push(r),
    },
  );
  return { c, ev };
}

/** Handshake done at time 0: SYN-ACK taken, the peer's ACK processed. */
export function established(o: Opts = {}): { c: TcpConn; ev: Recorder } {
  const r = synReceived(o);
  collect(r.c, 0);
  r.c.onSegment(segment({ seq: seqAdd(o.peerIss ?? PEER_ISS, 1), ack: seqAdd(o.iss ?? OUR_ISS, 1), window: o.peerWindow ?? 0xffff }), 0);
  collect(r.c, 0);
  return r;
}

/** Runs due timers and collects what the connection sends at `now`. */
export function collect(c: TcpConn, now: number): Sent[] {
  const out: Sent[] = [];
  c.onTimer(now);
  c.dispatch(now, (s) =>
    out.push({
      sack: [...(s.sack ?? [])],
      sackPermitted: s.sackPermitted,
      seq: s.seq,
      ack: s.ack,
      flags: s.flags,
      window: s.window,
      mss: s.mss,
      wscale: s.wscale,
      data: Buffer.from(s.payload),
    }),
  );
  return out;
}

export function send(c: TcpConn, over: Partial<TcpSegment> & { data?: string | Buffer }, now = 0): void {
  c.onSegment(segment(over), now);
}

/** The peer's next sequence number after the handshake. */
export const P1 = seqAdd(PEER_ISS, 1);
export const O1 = seqAdd(OUR_ISS, 1);

export function expectNothing(t: ExecutionContext, c: TcpConn, now: number): void {
  t.deepEqual(collect(c, now), [], `nothing expected at ${now}`);
}

export function flagsOf(s: Sent): string {
  const names: string[] = [];
  if (s.flags & 0x02) names.push('SYN');
  if (s.flags & 0x01) names.push('FIN');
  if (s.flags & 0x04) names.push('RST');
  if (s.flags & 0x10) names.push('ACK');
  return names.join('|');
}

/** Compact view for assertions: [seq, ack, flags, data length]. */
export function brief(sent: Sent[]): Array<[number, number, string, number]> {
  return sent.map((s) => [s.seq, s.ack, flagsOf(s), s.data.length]);
}
