// (Test helper: an in-memory connection for tunnels under test; tp itself splices real streams.)
// Two connected in-memory Duplex ends: bytes written to one are read from the other, with
// backpressure (a write's callback waits until the other end's reader wants more), end() on one
// is EOF on the other, and destroying either destroys both (a reset, as lib/proxy/splice.ts
// reads it).
// Node 22 has stream.duplexPair; this project supports Node 20, which does not.
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  other!: PairEnd;
  #blockedWrite: ((err?: Error | null) => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.other.destroyed) return cb(new Error('the other end of the pair is gone'));
    if (this.other.push(chunk)) cb();
    else this.#blockedWrite = cb;
  }

  override _read(): void {
    const cb = this.other.#blockedWrite;
    if (cb) {
      this.other.#blockedWrite = undefined;
      cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.other.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const blocked = this.#blockedWrite;
    this.#blockedWrite = undefined;
    blocked?.(err ?? new Error('destroyed'));
    if (!this.other.destroyed) this.other.destroy();
    cb(err);
  }
}

export function duplexPair(highWaterMark = 256 * 1024): [Duplex, Duplex] {
  const a = new PairEnd({ highWaterMark });
  const b = new PairEnd({ highWaterMark });
  a.other = b;
  b.other = a;
  return [a, b];
}
