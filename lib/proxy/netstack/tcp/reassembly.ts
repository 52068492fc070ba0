// Out-of-order receive queue (RFC 9293 §3.10.7.4, "segment text"): segments beyond RCV.NXT are
// kept, without overlap, until the hole before them fills. Only bytes inside the advertised
// window are ever inserted, so the queue is bounded by the receive window; a cap on the number
// of pieces bounds the bookkeeping against a peer that sends many one-byte fragments.

import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

interface Piece {
  seq: number;
  end: number;
  data: Buffer;
}

export class Reassembly {
  #pieces: Piece[] = [];
  #bytes = 0;
  /** Start of the most recently inserted segment: RFC 2018 §4 reports its block first. */
  #latest = 0;

  constructor(readonly maxPieces = 256) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#pieces.length;
  }

  /** Stores the parts of [seq, seq+data.length) not already held (copied: `data` is a view into
   * a packet we don't own). Returns the number of new bytes stored. */
  insert(seq: number, data: Buffer): number {
    const end = seqAdd(seq, data.length);
    this.#latest = seq;
    const pieces = this.#pieces;
    let i = 0;
    while (i < pieces.length && seqLe(pieces[i]!.end, seq)) i++;
    let cur = seq;
    let added = 0;
    while (seqLt(cur, end)) {
      const p = pieces[i];
      const gapEnd = p && seqLt(p.seq, end) ? p.seq : end;
      if (seqLt(cur, gapEnd)) {
        if (pieces.length >= this.maxPieces) break;
        const from = seqDiff(cur, seq);
        const to = seqDiff(gapEnd, seq);
        pieces.splice(i, 0, { seq: cur, end: gapEnd, data: Buffer.from(data.subarray(from, to)) });
        added += to - from;
        i++;
        cur = gapEnd;
        continue;
      }
      if (!p) break;
      cur = p.end;
      i++;
    }
    this.#bytes += added;
    return added;
  }

  /** The next stored bytes starting exactly at `rcvNxt` (trimming anything before it), or null
   * while a hole remains. The caller advances RCV.NXT by the returned length and asks again. */
  take(rcvNxt: number): Buffer | null {
    const pieces = this.#pieces;
    while (pieces.length > 0) {
      const p = pieces[0]!;
      if (seqGt(p.seq, rcvNxt)) return null;
      pieces.shift();
      this.#bytes -= p.data.length;
      if (seqGe(rcvNxt, p.end)) continue; // already covered by in-order data
      return p.data.subarray(seqDiff(rcvNxt, p.seq));
    }
    return null;
  }

  /** SACK blocks for what is held (RFC 2018 §4): adjacent pieces merged, the block holding the
   * most recent segment first, then the others from the highest down. Writes [left, right)
   * pairs into `out` (cleared first), at most `max` blocks. */
  sackBlocks(out: number[], max: number): void {
    out.length = 0;
    const blocks: number[] = [];
    for (const p of this.#pieces) {
      const n = blocks.length;
      if (n > 0 && blocks[n - 1] === p.seq) blocks[n - 1] = p.end;
      else blocks.push(p.seq, p.end);
    }
    let first = -1;
    for (let k = 0; k < blocks.length; k += 2) {
      if (seqLe(blocks[k]!, this.#latest) && seqLt(this.#latest, blocks[k + 1]!)) first = k;
    }
    if (first >= 0) out.push(blocks[first]!, blocks[first + 1]!);
    for (let k = blocks.length - 2; k >= 0 && out.length < 2 * max; k -= 2) {
      if (k !== first) out.push(blocks[k]!, blocks[k + 1]!);
    }
  }

  /** Highest sequence held, for the caller's bookkeeping (RCV.NXT when empty). */
  highest(rcvNxt: number): number {
    const last = this.#pieces[this.#pieces.length - 1];
    return last ? last.end : rcvNxt;
  }

  clear(): void {
    this.#pieces.length = 0;
    this.#bytes = 0;
  }
}
