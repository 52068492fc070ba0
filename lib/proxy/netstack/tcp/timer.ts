// The one timer a TCP connection runs, as smoltcp's `Timer`. What expiry does is the timer's kind;
// which kind runs follows from what the connection holds (TcpConn.timerNeeded), so two deadlines
// can never be armed at once. There is no delayed-ACK kind: ACKs go out at the end of each input
// batch, which already coalesces them.
//
// Mutated in place rather than replaced: the retransmission timer restarts on every new ACK
// (RFC 6298 §5.3), and an object per ACK would be an allocation per packet.

export type TimerKind =
  | 'idle' // nothing to wait for, or keep-alive is off
  | 'retransmit' // SYN-ACK, data or FIN unacknowledged (RFC 6298 §5)
  | 'probe' // data waits for window room with nothing in flight to bring an ACK (RFC 9293 §3.8.6.1)
  | 'keep-alive' // nothing to send or in flight; asks a silent peer whether it is there (RFC 1122 §4.2.3.6)
  | 'time-wait'; // 2*MSL before CLOSED (RFC 9293 §3.6)

export class Timer {
  kind: TimerKind = 'idle';
  /** Infinity exactly when idle. */
  at = Number.POSITIVE_INFINITY;

  arm(kind: Exclude<TimerKind, 'idle'>, at: number): void {
    this.kind = kind;
    this.at = at;
  }

  stop(): void {
    this.kind = 'idle';
    this.at = Number.POSITIVE_INFINITY;
  }
}
