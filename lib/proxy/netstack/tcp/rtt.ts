// Retransmission timeout estimation, RFC 6298. Samples come only from segments sent once
// (Karn's algorithm, §3): the caller stops timing when it retransmits.

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** Clock granularity G: time is counted in milliseconds. */
const G = 1;

export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  rto: number;
  hasSample = false;
  /** RTO without backoff. */
  #base: number;

  constructor(
    readonly minRto = 200, // §2.4 asks for 1 s; 200 ms (as Linux) suits a local, lossless link
    readonly maxRto = 60_000, // §2.5
    initialRto = 1_000, // §2.1
  ) {
    this.rto = initialRto;
    this.#base = initialRto;
  }

  /** §2.2 / §2.3: fold in one measurement R (ms). */
  sample(r: number): void {
    if (!this.hasSample) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.hasSample = true;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.rto = this.#base = this.clamp(this.srtt + Math.max(G, K * this.rttvar));
  }

  /** §5.5: double on each expiry, up to the maximum. */
  backoff(): void {
    this.rto = this.clamp(this.rto * 2);
  }

  /** Drops the backoff once retransmitted data got through. A deliberate deviation from Karn's
   * rule (keep the backoff until a clean sample): without timestamps, go-back-N recovery sends
   * only retransmissions, so no clean sample comes for a while, and the retained backoff
   * compounds over unrelated later losses into multi-second stalls. */
  resetBackoff(): void {
    this.rto = this.#base;
  }

  private clamp(v: number): number {
    return Math.min(this.maxRto, Math.max(this.minRto, v));
  }
}
