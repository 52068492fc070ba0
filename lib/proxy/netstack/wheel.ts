// The stack's deadlines, filed by time so that a timer firing costs what is due, not what is open.
// 10,000 idle connections each hold a keep-alive deadline minutes away; scanning all of them on
// every expiry (and expiring them one at a time, a few milliseconds apart) kept an idle daemon
// busy. Here:
//
//  - a deadline is rounded up to a step that grows with its distance, as Linux's timer wheel does:
//    the next millisecond within 64 ms, 8 ms within 2 s (retransmission timers: at most 4 % late
//    at the 200 ms minimum RTO), 128 ms within 10 s, a whole second beyond — so keep-alives,
//    TIME-WAIT and idle UDP flows of a burst of connections share one wake-up (RFC 1122 §4.2.3.6
//    asks nothing finer of keep-alives, RFC 9293 §3.6.1 nothing of 2*MSL);
//  - each slot lists its items; the earliest slot is kept in a binary heap;
//  - an item is filed once, under its earliest deadline. A deadline that moves later (an ACK
//    restarts the retransmission timer, a segment restarts keep-alive) leaves it filed where it
//    was: its slot fires early and the owner files it again — no work per segment here.
//
// Items carry their slot (`wheelAt`) so that filing and expiry need no side table.

export interface Timed {
  /** The slot the item is filed under, Infinity when not filed. Owned by the wheel. */
  wheelAt: number;
}

export class TimerWheel<T extends Timed> {
  readonly #slots = new Map<number, T[]>();
  readonly #heap: number[] = [];

  /** Number of slots waiting (for tests). */
  get slots(): number {
    return this.#slots.size;
  }

  /** The slot a deadline `at` goes in, seen at `now`. */
  static slotOf(at: number, now: number): number {
    const d = at - now;
    const step = d <= 64 ? 1 : d <= 2_000 ? 8 : d <= 10_000 ? 128 : 1_000;
    return Math.ceil(at / step) * step;
  }

  /** Files `item` to be due at `at` (Infinity: nothing to do), unless it is filed no later. */
  schedule(item: T, at: number, now: number): void {
    if (at === Number.POSITIVE_INFINITY) return;
    const slot = TimerWheel.slotOf(at, now);
    if (slot >= item.wheelAt) return;
    item.wheelAt = slot;
    let list = this.#slots.get(slot);
    if (!list) {
      list = [];
      this.#slots.set(slot, list);
      this.#push(slot);
    }
    list.push(item);
  }

  /** The earliest slot, Infinity when none. */
  next(): number {
    return this.#heap.length > 0 ? this.#heap[0]! : Number.POSITIVE_INFINITY;
  }

  /** Moves every item of the slots at or before `now` into `out`, unfiled. An item filed again
   * under an earlier slot since is not repeated. */
  due(now: number, out: T[]): void {
    while (this.#heap.length > 0 && this.#heap[0]! <= now) {
      const slot = this.#pop();
      const list = this.#slots.get(slot)!;
      this.#slots.delete(slot);
      for (const item of list) {
        if (item.wheelAt !== slot) continue; // refiled earlier, and already taken from there
        item.wheelAt = Number.POSITIVE_INFINITY;
        out.push(item);
      }
    }
  }

  clear(): void {
    for (const list of this.#slots.values()) for (const item of list) item.wheelAt = Number.POSITIVE_INFINITY;
    this.#slots.clear();
    this.#heap.length = 0;
  }

  #push(v: number): void {
    const h = this.#heap;
    let i = h.push(v) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= v) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = v;
  }

  #pop(): number {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
