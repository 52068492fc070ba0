// NewReno congestion control, counted in bytes: slow start, congestion avoidance, fast
// retransmit and fast recovery (RFC 5681 §3), with RFC 6582's recovery point so that one loss
// episode halves the window once. No SACK, so this is the best a sender can do (RFC 6582 §1).

import { seqGe } from './seq.js';

export class NewReno {
  cwnd: number;
  ssthresh = Number.POSITIVE_INFINITY;
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6582 "recover": the highest sequence sent when the loss was detected. */
  recover: number;

  constructor(
    readonly mss: number,
    /** Growth beyond what the send buffer can fill is meaningless and would hide a later loss. */
    readonly maxCwnd: number,
    iss: number,
  ) {
    // RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)).
    this.cwnd = Math.min(10 * mss, Math.max(2 * mss, 14600));
    this.recover = iss;
  }

  /** SND.UNA advanced to `ack` by `acked` sequence numbers, `dataAcked` of them data bytes.
   * Returns true when the next unacknowledged segment must be resent at once (partial ACK). */
  onAck(ack: number, acked: number, dataAcked: number): boolean {
    const mss = this.mss;
    let resend = false;
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        // RFC 6582 §3.2 step 3: a full acknowledgment ends recovery.
        this.inRecovery = false;
        this.cwnd = Math.max(this.ssthresh, mss);
      } else {
        // Step 5: a partial ACK — the next hole is lost too; deflate by what was acked.
        resend = true;
        this.cwnd = Math.max(mss, this.cwnd - acked + (acked >= mss ? mss : 0));
      }
    } else if (dataAcked <= 0) {
      // Only acknowledged data opens the window: not the ACK of our SYN (RFC 5681 §3.1).
    } else if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(dataAcked, mss); // RFC 5681 eq. 2, slow start
    } else {
      this.cwnd += Math.max(1, Math.floor((mss * mss) / this.cwnd)); // eq. 3, congestion avoidance
    }
    this.cwnd = Math.min(this.cwnd, this.maxCwnd);
    this.dupAcks = 0;
    return resend;
  }

  /** A duplicate ACK (RFC 5681 §2) with `flight` bytes outstanding. Returns true when the
   * segment at SND.UNA must be resent now (fast retransmit, §3.2 steps 2-3). */
  onDupAck(flight: number, sndMax: number): boolean {
    this.dupAcks++;
    if (this.inRecovery) {
      this.cwnd += this.mss; // §3.2 step 4: each further duplicate means a segment left the network
      return false;
    }
    if (this.dupAcks !== 3) return false;
    this.ssthresh = this.halved(flight);
    this.recover = sndMax;
    this.inRecovery = true;
    this.cwnd = this.ssthresh + 3 * this.mss;
    return true;
  }

  /** The retransmission timer expired: RFC 5681 eq. 4 and §3.1 — restart from one segment. */
  onTimeout(flight: number, sndMax: number): void {
    this.ssthresh = this.halved(flight);
    this.cwnd = this.mss;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recover = sndMax;
  }

  /** RFC 5681 §3.1: a lost SYN-ACK leaves the initial window at one segment. */
  onSynAckTimeout(): void {
    this.cwnd = this.mss;
  }

  private halved(flight: number): number {
    return Math.max(Math.floor(flight / 2), 2 * this.mss);
  }
}
