// One TCP connection, passive side: the workstation's kernel is the client, we are the server
// that relays to a tunnel stream. Pure state machine: no sockets, no OS timers, no clock (time
// comes in as `now`).
//
// Reading list: RFC 9293 (TCP; §3.10 event processing is followed step by step in process()),
// RFC 6298 (RTO), RFC 5681 + RFC 6582 (congestion control, fast retransmit / NewReno recovery),
// RFC 7323 §2 (window scale), RFC 5961 (blind RST/SYN/ACK mitigations), RFC 1122 §4.2.3.4-6
// (SWS avoidance, keepalive), RFC 6928 (initial window), RFC 2018 (SACK: we report holes as a
// receiver; as a sender we ignore the peer's blocks and recover NewReno-style).
//
// Inputs:  onSegment(seg, now), write(bytes), close(), abort(), consumed(n), onTimer(now).
// Outputs: dispatch(now, emit) hands every segment due to `emit`; pollAt() is the next deadline;
//          events (established, data, peerFin, writable, closed) go to the app side.
//
// State is the RFC 9293 state alone; one timer runs at a time (timer.ts), its kind derived from
// what the connection holds; what an expired timer asks of dispatch() is one `Owed` value.

import { ACK, FIN, PSH, RST, SYN, type OutSegment, type TcpSegment } from '../wire/tcp.js';
import { NewReno } from './congestion.js';
import { Reassembly } from './reassembly.js';
import { ByteRing } from './ring.js';
import { RttEstimator } from './rtt.js';
import { seqAdd, seqDiff, seqGt, seqInWindow, seqLe, seqLt, seqMin } from './seq.js';
import { Timer, type TimerKind } from './timer.js';

export type State =
  | 'LISTEN' // the edge's pending dial stands for it; a TcpConn starts in SYN-RECEIVED
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT'
  | 'CLOSED';

/** How a connection ended. Only 'graceful' lets the app side finish its writes; every other
 * reason means the tunnel stream must be destroyed (RST_STREAM). */
export type CloseReason =
  | 'graceful' // both FINs exchanged and acknowledged (LAST-ACK done or TIME-WAIT expired)
  | 'peer-reset' // a valid RST from the workstation
  | 'aborted' // the app side called abort(); we sent RST
  | 'handshake-timeout' // SYN-ACK never acknowledged
  | 'retransmit-timeout' // data or FIN never acknowledged, or zero-window probes never answered (RFC 9293 §3.8.3 R2)
  | 'keepalive-timeout'; // the peer stopped answering keepalive probes

export interface TcpConnEvents {
  established?(): void;
  /** In-order bytes. A view valid only during the call: copy to keep. Call consumed(n) once the
   * app side has taken them; until then they count against the receive window. */
  data?(bytes: Buffer): void;
  /** The peer sent FIN: no more data will arrive (half-close). */
  peerFin?(): void;
  /** write() had refused bytes and the send buffer has room again. */
  writable?(): void;
  /** Entered CLOSED. Called once. */
  closed?(reason: CloseReason): void;
}

export interface TcpTuning {
  /** Receive window upper bound; also the bound on bytes handed to the app and not consumed. */
  receiveBuffer: number;
  /** Unacknowledged + unsent bytes we hold. */
  sendBuffer: number;
  /** Maximum segment lifetime; TIME-WAIT lasts 2*MSL (RFC 9293 §3.4.2). */
  msl: number;
  minRto: number;
  maxRto: number;
  initialRto: number;
  /** Retransmissions of one segment, or unanswered zero-window probes, before giving up
   * (RFC 9293 §3.8.3 R2). */
  maxRetransmits: number;
  maxSynAckRetransmits: number;
  /** RFC 1122 §4.2.3.6; 0 disables. */
  keepaliveIdle: number;
  keepaliveInterval: number;
  keepaliveCount: number;
}

export const DEFAULT_TUNING: TcpTuning = {
  receiveBuffer: 1 << 20,
  sendBuffer: 1 << 20,
  msl: 30_000,
  minRto: 200,
  maxRto: 60_000,
  initialRto: 1_000,
  maxRetransmits: 12,
  maxSynAckRetransmits: 5,
  keepaliveIdle: 300_000,
  keepaliveInterval: 30_000,
  keepaliveCount: 4,
};

export interface AcceptParams {
  /** Our initial send sequence number (random per connection, RFC 9293 §3.4.1). */
  iss: number;
  /** The largest segment we can receive and send: MTU minus IP and TCP headers. */
  mss: number;
  /** Assumed peer MSS when its SYN carries none: 536 over IPv4, 1220 over IPv6 (RFC 9293 §3.7.1). */
  defaultPeerMss: number;
  /** Largest payload of one emitted segment when the device cuts segments for us (TSO: each
   * leaves as sendMss-sized pieces); without it, sendMss. */
  segmentMax?: number;
  tuning?: Partial<TcpTuning>;
  now: number;
}

/** The payload of a segment without data. Not a zero-length view of the last payload: that would
 * pin the send buffer it came from for as long as the connection idles. */
const NO_PAYLOAD = Buffer.alloc(0);

/** Without timestamps four blocks fit in the 40 option bytes (RFC 2018 §3). */
const MAX_SACK_BLOCKS = 4;
/** Bounds the ACK burst one batch of out-of-order segments can cause. */
const MAX_DUP_ACKS_PER_DISPATCH = 16;

/** What dispatch() owes the peer besides ACKs and resets: at most one thing, asked for by an
 * expired timer or by the ACK clock. */
type Owed =
  | 'nothing'
  // The first unacknowledged segment (SYN-ACK, data or FIN), whatever the offered window:
  // an RTO (RFC 6298 §5.4), a fast retransmit (RFC 5681 §3.2) or a partial ACK (RFC 6582 §3.2).
  | 'retransmit'
  // An ACK at SND.UNA - 1, which any live peer answers with its current window: a zero-window
  // probe (RFC 9293 §3.8.6.1) or a keep-alive (RFC 1122 §4.2.3.6).
  | 'probe'
  // The probe timer found a window below the sender's SWS threshold: send what fits once rather
  // than wait for a window that may never grow (RFC 9293 §3.8.6.2.1).
  | 'small-segment';

export class TcpConn {
  state: State = 'LISTEN';
  readonly tuning: TcpTuning;
  readonly iss: number;
  readonly irs: number;
  /** MSS we announce. */
  readonly ourMss: number;
  /** Largest payload we send: min(peer MSS, our MSS). */
  readonly sendMss: number;
  /** Largest payload of one new-data segment we emit: sendMss, or a whole number of them up to
   * AcceptParams.segmentMax when the device segments (TSO). */
  readonly sendChunk: number;
  /** Shift we apply to the peer's window field (0 unless both sides sent the option). */
  readonly sndWscale: number;
  /** Shift the peer applies to ours. */
  readonly rcvWscale: number;
  /** The peer's SYN carried the window-scale option, so our SYN-ACK carries it too. */
  readonly wscaleOn: boolean;
  /** The peer offered SACK (RFC 2018): we accept, and report holes in our pure ACKs. */
  readonly sackOn: boolean;
  private readonly sackScratch: number[] = [];

  // Send sequence space (RFC 9293 §3.3.1). sndMax is the highest sequence ever sent: after an
  // RTO sndNxt goes back to sndUna while sndMax keeps what the peer may legitimately ACK.
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd: number;
  sndWl1: number;
  sndWl2: number;
  maxSndWnd: number;
  /** Sequence of the ring's first byte. Data occupies [ringSeq, dataEnd); our FIN is at dataEnd. */
  private ringSeq: number;
  private readonly ring: ByteRing;
  /** close() came in SYN-RECEIVED: RFC 9293 §3.10.4 queues it until the handshake completes. */
  private closeAfterHandshake = false;
  /** write() refused bytes: `writable` is owed once there is room. */
  private writeBlocked = false;

  // Receive sequence space.
  rcvNxt: number;
  /** Right edge of the window we last advertised; never moved left (RFC 9293 §3.8.6.2.2). */
  private rcvAdvRight: number;
  /** Bytes handed to the app and not yet consumed. */
  private unconsumed = 0;
  private readonly ooo: Reassembly;
  /** Sequence of the peer's FIN once seen (possibly ahead of a hole), else -1. */
  private peerFinSeq = -1;

  readonly cc: NewReno;

  // RTT and the timer.
  readonly rtt: RttEstimator;
  private rttTiming = false;
  private rttSeq = 0;
  private rttStart = 0;
  private readonly timer = new Timer();
  /** Retransmissions since the last new ACK (the SYN-ACK's, then data's and FIN's). */
  private retries = 0;
  /** Zero-window probes sent since the window last opened: the probe interval doubles with each. */
  private probeBackoff = 0;
  /** Probes (zero-window or keep-alive) the peer has not answered: any segment from it answers. */
  private probesUnanswered = 0;
  /** When the peer was last heard from: keep-alive counts idle time from here. */
  private heardAt: number;

  // What dispatch() owes the peer. The SYN-ACK is owed while none was sent (SND.MAX = ISS).
  private ackNow = false;
  private owed: Owed = 'nothing';
  /** Out-of-order segments since the last dispatch: each is owed its own duplicate ACK. */
  private dupAcksOwed = 0;
  private rstNow: { seq: number; ack: number; flags: number } | null = null;
  private closeReason: CloseReason | null = null;

  // Counters for `tp status`.
  retransmits = 0;
  bytesReceived = 0;
  bytesAcked = 0;

  private readonly out: OutSegment = {
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    payload: NO_PAYLOAD,
  };

  /** Passive open from a SYN (RFC 9293 §3.10.7.2, LISTEN): the edge calls this only once the
   * dial succeeded, so the SYN-ACK it queues means "the far side accepted". */
  static accept(syn: TcpSegment, params: AcceptParams, events: TcpConnEvents = {}): TcpConn {
    return new TcpConn(syn, params, events);
  }

  private constructor(
    syn: TcpSegment,
    params: AcceptParams,
    readonly events: TcpConnEvents,
  ) {
    this.tuning = { ...DEFAULT_TUNING, ...params.tuning };
    const t = this.tuning;
    this.iss = params.iss >>> 0;
    this.irs = syn.seq;
    this.ourMss = params.mss;
    const peerMss = syn.mss > 0 ? syn.mss : params.defaultPeerMss;
    this.sendMss = Math.max(1, Math.min(peerMss, params.mss));
    const segMax = params.segmentMax ?? 0;
    this.sendChunk = segMax > this.sendMss ? Math.floor(segMax / this.sendMss) * this.sendMss : this.sendMss;
    // RFC 7323 §2.2: scaling is on only when both SYNs carry the option.
    this.wscaleOn = syn.wscale >= 0;
    this.sackOn = syn.sackPermitted;
    if (this.wscaleOn) {
      this.sndWscale = syn.wscale;
      let s = 0;
      while (s < 14 && t.receiveBuffer >> s > 0xffff) s++;
      this.rcvWscale = s;
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.sndWnd = syn.window; // SYN windows are never scaled
    this.maxSndWnd = syn.window;
    this.sndWl1 = syn.seq;
    this.sndWl2 = this.iss;
    this.ringSeq = seqAdd(this.iss, 1);
    this.ring = new ByteRing(t.sendBuffer);
    this.rcvNxt = seqAdd(syn.seq, 1);
    this.rcvAdvRight = seqAdd(this.rcvNxt, Math.min(t.receiveBuffer, 0xffff));
    this.ooo = new Reassembly();
    // The congestion controller counts in what we emit at once: with TSO a super-packet is one
    // segment to the peer's ACK clock (the kernel acknowledges each with one ACK), and growing
    // the window by one MSS per such ACK would keep it near its start for good.
    this.cc = new NewReno(this.sendChunk, t.sendBuffer + 2 * this.sendChunk, this.iss);
    this.rtt = new RttEstimator(t.minRto, t.maxRto, t.initialRto);
    this.heardAt = params.now;
    this.state = 'SYN-RECEIVED';
  }

  // ---------------------------------------------------------------- app side

  /** Bytes the send buffer can take now. */
  get writableBytes(): number {
    return this.canWrite() ? this.ring.free : 0;
  }

  /** Bytes held in the send buffer (unsent + unacknowledged). */
  get bufferedBytes(): number {
    return this.ring.length;
  }

  /** Bytes queued out of order. */
  get outOfOrderBytes(): number {
    return this.ooo.bytes;
  }

  /** Queues bytes for sending (allowed from SYN-RECEIVED on: a server may speak first).
   * Returns how many were taken; on a short count `writable` fires when there is room. */
  write(data: Uint8Array): number {
    if (!this.canWrite()) return 0;
    const n = this.ring.push(data);
    if (n < data.length) this.writeBlocked = true;
    return n;
  }

  /** The app side finished sending: FIN after the buffered bytes (RFC 9293 §3.10.4). */
  close(): void {
    if (!this.canWrite()) return;
    if (this.state === 'ESTABLISHED') this.state = 'FIN-WAIT-1';
    else if (this.state === 'CLOSE-WAIT') this.state = 'LAST-ACK';
    else this.closeAfterHandshake = true; // SYN-RECEIVED: see enterEstablished
  }

  /** The app closed: our FIN follows the last buffered byte. The states past ESTABLISHED on our
   * side of the close say so; only in SYN-RECEIVED is a close still queued. */
  get finQueued(): boolean {
    switch (this.state) {
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSING':
      case 'LAST-ACK':
      case 'TIME-WAIT':
        return true;
      case 'SYN-RECEIVED':
        return this.closeAfterHandshake;
      default:
        return false;
    }
  }

  /** The app side failed: RST and forget (RFC 9293 §3.10.5). */
  abort(): void {
    if (this.state === 'CLOSED') return;
    if (this.state !== 'TIME-WAIT') this.queueRst();
    this.terminate('aborted');
  }

  /** The app side took `n` bytes delivered by `data`: they leave the receive window. */
  consumed(n: number): void {
    this.unconsumed = Math.max(0, this.unconsumed - n);
  }

  private canWrite(): boolean {
    const st = this.state;
    return st === 'ESTABLISHED' || st === 'CLOSE-WAIT' || (st === 'SYN-RECEIVED' && !this.closeAfterHandshake);
  }

  // ---------------------------------------------------------------- segment arrival

  onSegment(seg: TcpSegment, now: number): void {
    if (this.state === 'CLOSED' || this.state === 'LISTEN') return;
    this.process(seg, now);
    this.rearm(now);
  }

  /** RFC 9293 §3.10.7.4, in its order: sequence check, RST, SYN, ACK, text, FIN. */
  private process(seg: TcpSegment, now: number): void {
    const st = this.state;
    const flags = seg.flags;
    this.heard(now);

    // A retransmitted SYN: our SYN-ACK was lost; send it again.
    if (st === 'SYN-RECEIVED' && (flags & SYN) !== 0 && (flags & ACK) === 0 && seg.seq === this.irs) {
      this.owed = 'retransmit';
      return;
    }

    // First: sequence number acceptability.
    let payload = seg.payload;
    let seq = seg.seq;
    let fin = (flags & FIN) !== 0;
    const segLen = payload.length + (fin ? 1 : 0) + ((flags & SYN) !== 0 ? 1 : 0);
    const wnd = seqDiff(this.rcvAdvRight, this.rcvNxt);
    if (!this.acceptable(seq, segLen, wnd)) {
      // §3.10.7.4: zero window still takes valid ACKs and RSTs at RCV.NXT; the text is dropped.
      if (wnd === 0 && seq === this.rcvNxt) {
        payload = payload.subarray(0, 0);
        fin = false;
        this.ackNow = true;
      } else {
        if ((flags & RST) === 0) this.ackNow = true;
        // A retransmitted FIN in TIME-WAIT: ACK it and restart the 2*MSL wait.
        if (st === 'TIME-WAIT' && fin) this.timer.arm('time-wait', now + 2 * this.tuning.msl);
        return;
      }
    }

    // Second: RST. RFC 5961 §3.2: only an exact RCV.NXT match resets; any other in-window RST
    // gets a challenge ACK, so a blind attacker must guess the exact number.
    if ((flags & RST) !== 0) {
      if (seq === this.rcvNxt) this.terminate('peer-reset');
      else this.ackNow = true;
      return;
    }

    // Fourth: SYN in a synchronized state. RFC 5961 §4.2: challenge ACK, never a reset.
    if ((flags & SYN) !== 0) {
      this.ackNow = true;
      return;
    }

    // Fifth: ACK. Segments without it are dropped.
    if ((flags & ACK) === 0) return;
    if (this.state === 'SYN-RECEIVED') {
      // §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT completes the handshake; anything else: RST.
      if (!(seqLt(this.sndUna, seg.ack) && seqLe(seg.ack, this.sndMax))) {
        this.rstNow = { seq: seg.ack, ack: 0, flags: RST };
        return;
      }
      this.sndWnd = seg.window << this.sndWscale;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.enterEstablished(now);
    }
    if (!this.processAck(seg, payload.length, fin, now)) return;
    if (this.state === 'CLOSED') return;

    // Seventh: segment text, in the states where the peer may still send.
    const receiving = this.state === 'ESTABLISHED' || this.state === 'FIN-WAIT-1' || this.state === 'FIN-WAIT-2';
    if (receiving && (payload.length > 0 || fin)) this.receive(seq, payload, fin);

    // Eighth: FIN, once everything before it has arrived.
    if (this.peerFinSeq >= 0 && this.rcvNxt === this.peerFinSeq && receiving) this.onPeerFin(now);

    if (this.writeBlocked && this.ring.free > 0 && this.canWrite()) {
      this.writeBlocked = false;
      this.events.writable?.();
    }
  }

  /** RFC 9293 §3.10.7.4, the four-case acceptability table. */
  private acceptable(seq: number, len: number, wnd: number): boolean {
    const right = seqAdd(this.rcvNxt, wnd);
    if (len === 0) return wnd === 0 ? seq === this.rcvNxt : seqInWindow(seq, this.rcvNxt, right);
    if (wnd === 0) return false;
    return seqInWindow(seq, this.rcvNxt, right) || seqInWindow(seqAdd(seq, len - 1), this.rcvNxt, right);
  }

  /** Returns false when the segment must be dropped after the ACK check. */
  private processAck(seg: TcpSegment, dataLen: number, fin: boolean, now: number): boolean {
    const ack = seg.ack;
    // RFC 9293: an ACK for something not yet sent is answered and dropped. RFC 5961 §5.2: so is
    // one older than SND.UNA - MAX.SND.WND.
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.ackNow = true;
      return false;
    }
    const prevWnd = this.sndWnd;
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      this.sndWnd = seg.window << this.sndWscale;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
      if (this.sndWnd > 0) {
        // The window opened: probing starts over, from one RTO, if it is needed again.
        this.probeBackoff = 0;
        if (this.timer.kind === 'probe') this.timer.stop();
      }
    }
    if (seqGt(ack, this.sndUna)) {
      this.onNewAck(ack, now);
    } else if (
      // RFC 5681 §2: a duplicate ACK carries no data, no SYN/FIN, the same ACK and window, while
      // data is outstanding.
      ack === this.sndUna &&
      dataLen === 0 &&
      !fin &&
      this.sndWnd === prevWnd &&
      this.sndMax !== this.sndUna
    ) {
      this.onDupAck();
    }

    const finAcked = this.finQueued && this.sndUna === seqAdd(this.dataEnd(), 1);
    if (finAcked) {
      if (this.state === 'FIN-WAIT-1') this.state = 'FIN-WAIT-2';
      else if (this.state === 'CLOSING') this.enterTimeWait(now);
      else if (this.state === 'LAST-ACK') this.terminate('graceful');
    }
    return true;
  }

  private onNewAck(ack: number, now: number): void {
    const acked = seqDiff(ack, this.sndUna);
    const dataAcked = seqDiff(seqMin(ack, this.dataEnd()), this.ringSeq);
    if (dataAcked > 0) {
      this.ring.consume(dataAcked);
      this.ringSeq = seqAdd(this.ringSeq, dataAcked);
      this.bytesAcked += dataAcked;
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    // Karn: the timed segment was sent once (timing stops on any retransmission).
    if (this.rttTiming && seqGt(ack, this.rttSeq)) {
      this.rtt.sample(now - this.rttStart);
      this.rttTiming = false;
    }
    if (this.retries > 0) this.rtt.resetBackoff();
    this.retries = 0;
    if (this.cc.onAck(ack, acked, dataAcked)) this.owed = 'retransmit';
    // RFC 6298 §5.2 / §5.3: stopped when all is acknowledged, else restarted from now (rearm).
    if (this.timer.kind === 'retransmit') this.timer.stop();
  }

  private onDupAck(): void {
    if (this.cc.onDupAck(this.flightSize(), this.sndMax)) {
      this.owed = 'retransmit';
      this.rttTiming = false;
    }
  }

  private receive(seq: number, payload: Buffer, fin: boolean): void {
    // Trim what we already have (RFC 9293 §3.10.7.4: "trim off any portions that lie outside
    // the window (including SYN and FIN)").
    if (seqLt(seq, this.rcvNxt)) {
      const cut = Math.min(seqDiff(this.rcvNxt, seq), payload.length);
      payload = payload.subarray(cut);
      seq = seqAdd(seq, cut);
    }
    const room = seqDiff(this.rcvAdvRight, seq);
    if (payload.length > room) {
      payload = payload.subarray(0, Math.max(0, room));
      fin = false;
    }
    if (fin) this.peerFinSeq = seqAdd(seq, payload.length);
    this.ackNow = true;
    if (payload.length === 0) return;
    if (seq !== this.rcvNxt) {
      // Out of order: keep it and send an immediate (duplicate) ACK — RFC 5681 §4.2 — which is
      // what drives the peer's fast retransmit.
      this.ooo.insert(seq, payload);
      this.dupAcksOwed++;
      return;
    }
    this.deliver(payload);
    for (let chunk = this.ooo.take(this.rcvNxt); chunk; chunk = this.ooo.take(this.rcvNxt)) this.deliver(chunk);
  }

  private deliver(bytes: Buffer): void {
    this.rcvNxt = seqAdd(this.rcvNxt, bytes.length);
    this.unconsumed += bytes.length;
    this.bytesReceived += bytes.length;
    this.events.data?.(bytes);
  }

  private onPeerFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.peerFinSeq = -1;
    this.ooo.clear();
    this.ackNow = true;
    if (this.state === 'ESTABLISHED') this.state = 'CLOSE-WAIT';
    else if (this.state === 'FIN-WAIT-1')
      this.state = 'CLOSING'; // simultaneous close
    else if (this.state === 'FIN-WAIT-2') this.enterTimeWait(now);
    this.events.peerFin?.();
  }

  // ---------------------------------------------------------------- the timer

  /** Earliest time onTimer must run; Infinity when idle. */
  pollAt(): number {
    return this.timer.at;
  }

  onTimer(now: number): void {
    const kind = this.timer.kind;
    if (this.state === 'CLOSED' || now < this.timer.at) return;
    this.timer.stop();
    switch (kind) {
      case 'time-wait':
        this.terminate('graceful');
        return;
      case 'retransmit':
        this.onRetransmitTimeout();
        break;
      case 'probe':
        this.onProbeTimeout();
        break;
      case 'keep-alive':
        this.onKeepaliveTimeout(now);
        break;
    }
    this.rearm(now);
  }

  /** The timer the connection's condition calls for. Unacknowledged data outranks waiting for
   * window room, which outranks idling: each later kind only runs when the earlier have nothing
   * to watch, and the earlier ones hear from the peer too. */
  private timerNeeded(): TimerKind {
    const st = this.state;
    if (st === 'CLOSED' || st === 'LISTEN') return 'idle';
    if (st === 'TIME-WAIT') return 'time-wait';
    // RFC 6298 §5.1: while anything is unacknowledged (SYN-ACK, data, FIN), the retransmission
    // timer runs.
    if (this.sndMax !== this.sndUna) return 'retransmit';
    if (st === 'SYN-RECEIVED') return 'idle'; // the SYN-ACK has not gone out yet
    // RFC 9293 §3.8.6.1: data held back by the window with nothing in flight to bring a window
    // update must be probed for, or a lost update deadlocks both sides.
    if (seqDiff(this.dataEnd(), this.sndNxt) > 0) return 'probe';
    const idleState = st === 'ESTABLISHED' || st === 'CLOSE-WAIT' || st === 'FIN-WAIT-2';
    return idleState && this.tuning.keepaliveIdle > 0 ? 'keep-alive' : 'idle';
  }

  /** Arms the timer the condition calls for. A running timer of that kind keeps its deadline;
   * restarting one is stopping it first. */
  private rearm(now: number): void {
    const kind = this.timerNeeded();
    if (kind === this.timer.kind) return;
    const t = this.tuning;
    switch (kind) {
      case 'idle':
        this.timer.stop();
        return;
      case 'retransmit':
        this.timer.arm(kind, now + this.rtt.rto);
        return;
      case 'probe':
        // RFC 9293 §3.8.6.1: the first probe after one RTO, then exponentially further apart.
        this.timer.arm(kind, now + Math.min(this.rtt.rto * 2 ** this.probeBackoff, t.maxRto));
        return;
      case 'keep-alive':
        this.timer.arm(kind, this.heardAt + t.keepaliveIdle);
        return;
      case 'time-wait':
        this.timer.arm(kind, now + 2 * t.msl);
        return;
    }
  }

  private onRetransmitTimeout(): void {
    this.rttTiming = false; // Karn
    if (this.state === 'SYN-RECEIVED') {
      if (this.retries >= this.tuning.maxSynAckRetransmits) {
        this.queueRst();
        this.terminate('handshake-timeout');
        return;
      }
      this.retries++;
      this.rtt.backoff();
      this.owed = 'retransmit';
      this.cc.onSynAckTimeout();
      return;
    }
    if (this.sndMax === this.sndUna) return;
    if (++this.retries > this.tuning.maxRetransmits) {
      this.queueRst();
      this.terminate('retransmit-timeout');
      return;
    }
    // Go back: resend from SND.UNA under a one-segment window. The earliest segment goes out
    // whatever the offered window (RFC 6298 §5.4): waiting for window room here, with the timer
    // stopped, would stall the connection for good.
    this.cc.onTimeout(this.flightSize(), this.sndMax);
    this.sndNxt = this.sndUna;
    this.owed = 'retransmit';
    this.rtt.backoff(); // RFC 6298 §5.5
  }

  /** RFC 9293 §3.8.6.1: a zero window must be probed, or a lost window update deadlocks us. */
  private onProbeTimeout(): void {
    if (seqDiff(this.dataEnd(), this.sndNxt) <= 0 || this.sndMax !== this.sndUna) return;
    // RFC 1122 §4.2.2.17 forbids closing while the peer answers probes; one that stopped
    // answering is gone (Linux gives up after tcp_retries2 unanswered probes likewise).
    if (this.probesUnanswered >= this.tuning.maxRetransmits) {
      this.queueRst();
      this.terminate('retransmit-timeout');
      return;
    }
    this.probeBackoff++;
    // A window smaller than the SWS threshold: send what fits rather than wait forever.
    if (this.sndWnd > 0) {
      this.owed = 'small-segment';
    } else {
      this.owed = 'probe';
      this.probesUnanswered++;
    }
  }

  private onKeepaliveTimeout(now: number): void {
    const st = this.state;
    if (st !== 'ESTABLISHED' && st !== 'CLOSE-WAIT' && st !== 'FIN-WAIT-2') return;
    if (this.probesUnanswered >= this.tuning.keepaliveCount) {
      this.queueRst();
      this.terminate('keepalive-timeout');
      return;
    }
    // With data outstanding the retransmission timer watches the peer (rearm switches to it).
    if (this.sndMax === this.sndUna) {
      this.owed = 'probe';
      this.probesUnanswered++;
    }
    this.timer.arm('keep-alive', now + this.tuning.keepaliveInterval);
  }

  private heard(now: number): void {
    this.heardAt = now;
    this.probesUnanswered = 0;
    if (this.timer.kind === 'keep-alive') this.timer.arm('keep-alive', now + this.tuning.keepaliveIdle);
  }

  // ---------------------------------------------------------------- output

  /** Hands every segment now due to `emit` (the object is reused: build the packet before
   * returning). ACKs owed by several segments of one input batch collapse into one. */
  dispatch(now: number, emit: (seg: OutSegment) => void): void {
    if (this.rstNow) {
      this.emitRst(emit);
      if (this.state === 'CLOSED') return;
    }
    if (this.state === 'CLOSED' || this.state === 'LISTEN' || this.state === 'TIME-WAIT') {
      if (this.state === 'TIME-WAIT' && this.ackNow) this.emitAck(emit, this.sndNxt);
      this.ackNow = false;
      return;
    }
    this.send(now, emit);
    this.rearm(now);
  }

  private send(now: number, emit: (seg: OutSegment) => void): void {
    if (this.state === 'SYN-RECEIVED') {
      // The SYN-ACK goes when none went yet, when it is due again, and as the answer to any
      // segment that asks for an ACK.
      if (this.sndMax === this.iss || this.owed === 'retransmit' || this.ackNow) this.emitSynAck(now, emit);
      this.owed = 'nothing';
      this.ackNow = false;
      return;
    }
    let sent = false;
    if (this.owed === 'retransmit') {
      this.owed = 'nothing';
      if (this.sndMax !== this.sndUna) {
        // The first unacknowledged segment as it was sent (a TSO super-packet is one: a lost one
        // is lost whole), within the congestion window but never less than one MSS.
        this.emitData(this.sndUna, Math.max(this.sendMss, Math.min(this.sendChunk, this.cc.cwnd)), now, emit);
        sent = true;
      }
    }
    sent = this.sendNewData(now, emit) || sent;
    if (this.owed === 'probe') {
      // Probes reuse an already-acknowledged sequence number (SND.UNA - 1): any live receiver
      // answers with an ACK carrying its current window, and no sequence space is consumed.
      this.emitAck(emit, seqAdd(this.sndUna, -1));
      this.owed = 'nothing';
      sent = true;
    }
    if (this.dupAcksOwed > 0 && this.ooo.bytes > 0) {
      // RFC 5681 §4.2: one immediate duplicate ACK per out-of-order segment, not one per batch —
      // the sender's fast retransmit counts them (three are needed), and we offer no SACK.
      const n = Math.min(this.dupAcksOwed, MAX_DUP_ACKS_PER_DISPATCH);
      for (let i = sent ? 1 : 0; i < n; i++) this.emitAck(emit, this.sndNxt);
      sent = true;
    }
    this.dupAcksOwed = 0;
    if (!sent && (this.ackNow || this.windowUpdateDue())) this.emitAck(emit, this.sndNxt);
    this.ackNow = false;
  }

  /** Sends unsent data (and our FIN) as the windows allow. Returns whether anything went out. */
  private sendNewData(now: number, emit: (seg: OutSegment) => void): boolean {
    let sent = false;
    // Each pass sends at least one byte or stops; the bound is a guard, not a limit.
    for (let guard = 0; guard < 100_000; guard++) {
      const end = this.dataEnd();
      const unsent = seqDiff(end, this.sndNxt);
      if (unsent <= 0) {
        // Our FIN goes when everything before it went; it needs no window.
        if (this.finQueued && this.sndNxt === end) {
          this.emitData(this.sndNxt, 0, now, emit);
          sent = true;
        }
        break;
      }
      const usable = Math.min(this.sndWnd, this.cc.cwnd) - seqDiff(this.sndNxt, this.sndUna);
      if (usable <= 0) break;
      const len = Math.min(unsent, this.sendChunk, usable);
      // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): no small segment while more data waits,
      // unless the offered window is at least half the largest we have seen.
      if (len < this.sendMss && len < unsent && usable < this.maxSndWnd / 2 && this.owed !== 'small-segment') break;
      if (this.owed === 'small-segment') this.owed = 'nothing';
      if (this.emitData(this.sndNxt, len, now, emit) === 0) break;
      sent = true;
    }
    return sent;
  }

  /** Emits the segment starting at `seq` with up to `maxLen` data bytes (plus FIN when it reaches
   * the end of data and the app closed). Advances SND.NXT/SND.MAX when sending from SND.NXT.
   * Returns the sequence space consumed. */
  private emitData(seq: number, maxLen: number, now: number, emit: (seg: OutSegment) => void): number {
    const end = this.dataEnd();
    const payload = this.ring.view(seqDiff(seq, this.ringSeq), maxLen);
    const segEnd = seqAdd(seq, payload.length);
    let flags = ACK;
    let len = payload.length;
    if (segEnd === end) {
      flags |= PSH;
      if (this.finQueued) {
        flags |= FIN;
        len++;
      }
    }
    if (len === 0) return 0;
    const o = this.fillAck(this.out);
    o.seq = seq;
    o.flags = flags;
    o.payload = payload;
    if (seqLt(seq, this.sndMax)) {
      this.retransmits++;
      if (this.rttTiming && seqLe(seq, this.rttSeq)) this.rttTiming = false; // Karn
    } else if (!this.rttTiming) {
      this.rttTiming = true;
      this.rttSeq = seq;
      this.rttStart = now;
    }
    emit(o);
    o.payload = NO_PAYLOAD; // the edge took what it needs; a view kept here would pin the buffer
    const next = seqAdd(seq, len);
    if (seq === this.sndNxt) this.sndNxt = next;
    if (seqGt(next, this.sndMax)) this.sndMax = next;
    return len;
  }

  private emitSynAck(now: number, emit: (seg: OutSegment) => void): void {
    const o = this.out;
    o.seq = this.iss;
    o.ack = this.rcvNxt;
    o.flags = SYN | ACK;
    // RFC 7323 §2.2: the window in a SYN segment is never scaled.
    o.window = Math.min(this.receiveSpace(), 0xffff);
    this.rcvAdvRight = seqAdd(this.rcvNxt, o.window);
    o.mss = Math.min(this.ourMss, 0xffff);
    o.wscale = this.wscaleOn ? this.rcvWscale : -1;
    o.sackPermitted = this.sackOn;
    o.payload = NO_PAYLOAD;
    if (this.retries === 0 && !this.rttTiming) {
      this.rttTiming = true;
      this.rttSeq = this.iss;
      this.rttStart = now;
    }
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    emit(o);
    o.mss = -1;
    o.wscale = -1;
    o.sackPermitted = false;
  }

  private emitAck(emit: (seg: OutSegment) => void, seq: number): void {
    const o = this.fillAck(this.out);
    o.seq = seq;
    o.flags = ACK;
    o.payload = NO_PAYLOAD;
    // RFC 2018 §4: while holes remain, every ACK without data reports what we hold beyond them,
    // so the peer resends only the holes.
    if (this.sackOn && this.ooo.size > 0) {
      this.ooo.sackBlocks(this.sackScratch, MAX_SACK_BLOCKS);
      o.sack = this.sackScratch;
    }
    emit(o);
    o.sack = undefined;
  }

  /** <SEQ=SND.NXT><CTL=RST>: how we give up on the peer (RFC 9293 §3.10.5). */
  private queueRst(): void {
    this.rstNow = { seq: this.sndNxt, ack: 0, flags: RST };
  }

  private emitRst(emit: (seg: OutSegment) => void): void {
    const r = this.rstNow!;
    this.rstNow = null;
    const o = this.out;
    o.seq = r.seq;
    o.ack = r.ack;
    o.flags = r.flags;
    o.window = 0;
    o.payload = NO_PAYLOAD;
    emit(o);
  }

  private fillAck(o: OutSegment): OutSegment {
    o.ack = this.rcvNxt;
    o.window = this.advertiseWindow();
    return o;
  }

  /** The window field to send now; records the right edge it promises. */
  private advertiseWindow(): number {
    const s = this.rcvWscale;
    const unit = 2 ** s;
    const promised = Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
    // Never move the right edge left (RFC 9293 §3.8.6.2.2): round the promise up, the free
    // space down.
    const raw = Math.min(0xffff, Math.max(Math.floor(this.receiveSpace() / unit), Math.ceil(promised / unit)));
    this.rcvAdvRight = seqAdd(this.rcvNxt, raw * unit);
    return raw;
  }

  /** Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): announce a larger window only once it grew
   * by min(half the buffer, one MSS) — notably when backpressure ends after a zero window. */
  private windowUpdateDue(): boolean {
    const st = this.state;
    if (st !== 'ESTABLISHED' && st !== 'FIN-WAIT-1' && st !== 'FIN-WAIT-2') return false;
    const promised = seqDiff(this.rcvAdvRight, this.rcvNxt);
    const possible = Math.min(this.receiveSpace(), 0xffff * 2 ** this.rcvWscale);
    return possible - promised >= Math.min(this.tuning.receiveBuffer / 2, this.ourMss);
  }

  private receiveSpace(): number {
    return Math.max(0, this.tuning.receiveBuffer - this.unconsumed);
  }

  // ---------------------------------------------------------------- state changes

  private enterEstablished(now: number): void {
    // A close() that came during the handshake takes effect now (RFC 9293 §3.10.4).
    this.state = this.closeAfterHandshake ? 'FIN-WAIT-1' : 'ESTABLISHED';
    this.retries = 0;
    this.heard(now);
    this.events.established?.();
  }

  private enterTimeWait(now: number): void {
    this.state = 'TIME-WAIT';
    this.owed = 'nothing';
    this.timer.arm('time-wait', now + 2 * this.tuning.msl);
  }

  private terminate(reason: CloseReason): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.closeReason = reason;
    this.owed = 'nothing';
    this.timer.stop();
    this.ooo.clear();
    this.events.closed?.(reason);
  }

  get cwnd(): number {
    return this.cc.cwnd;
  }

  get ssthresh(): number {
    return this.cc.ssthresh;
  }

  /** A method, not a comparison: TypeScript would keep the narrowing across calls that change it. */
  isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  get closedBecause(): CloseReason | null {
    return this.closeReason;
  }

  // ---------------------------------------------------------------- helpers

  private dataEnd(): number {
    return seqAdd(this.ringSeq, this.ring.length);
  }

  private flightSize(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }
}
