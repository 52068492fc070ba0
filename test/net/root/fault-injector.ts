// A fault injector for the TUN owner of net tests (smoltcp's phy/fault_injector.rs in spirit):
// loss, neighbour swaps and a fixed delay on a stream of packet batches. Used where the test
// machine's kernel cannot impair (no sch_netem) and for the stack → kernel direction.

import { copyPacket, type OutPacket } from '../../../lib/proxy/netstack/index.js';

/** Drops, swaps neighbours within a batch, and delays (a FIFO: a fixed delay keeps order).
 * Packets may come in pieces (the stack's gathered output); each is moved as one. */
export class FaultInjector<P extends OutPacket = Buffer> {
  #seed: number;
  readonly #kept: P[] = [];
  readonly #late: { due: number; packets: P[] }[] = [];
  #timer: NodeJS.Timeout | null = null;

  /** Fraction of packets dropped. */
  loss = 0;
  /** Fraction of packets swapped with the next one of their batch. */
  reorder = 0;
  /** Fixed delay; change it only while no traffic flows (the queue is a FIFO). */
  delayMs = 0;

  constructor(
    seed: number,
    readonly next: (packets: P[]) => void,
  ) {
    this.#seed = seed;
  }

  #rand(): number {
    this.#seed ^= this.#seed << 13;
    this.#seed ^= this.#seed >>> 17;
    this.#seed ^= this.#seed << 5;
    return (this.#seed >>> 0) / 0x1_0000_0000;
  }

  push(packets: readonly P[]): void {
    if (this.loss === 0 && this.reorder === 0 && this.delayMs === 0 && this.#late.length === 0) {
      this.next(packets as P[]);
      return;
    }
    const kept = this.#kept;
    kept.length = 0;
    for (const p of packets) if (this.loss === 0 || this.#rand() >= this.loss) kept.push(p);
    for (let i = 0; this.reorder > 0 && i + 1 < kept.length; i++) {
      if (this.#rand() < this.reorder) {
        const a = kept[i]!;
        kept[i] = kept[i + 1]!;
        kept[i + 1] = a;
        i++;
      }
    }
    if (this.delayMs === 0) {
      this.next(kept);
      return;
    }
    // Both TUN reads and stack output are borrowed buffers: keep copies.
    this.#late.push({ due: performance.now() + this.delayMs, packets: kept.map((p) => copyPacket(p) as P) });
    this.#timer ??= setTimeout(() => this.#release(), this.delayMs);
  }

  #release(): void {
    this.#timer = null;
    const now = performance.now();
    while (this.#late.length > 0 && this.#late[0]!.due <= now + 0.5) this.next(this.#late.shift()!.packets);
    if (this.#late.length > 0) this.#timer = setTimeout(() => this.#release(), Math.max(0, this.#late[0]!.due - now));
  }
}
