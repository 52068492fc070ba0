// The send buffer: a byte ring holding everything written but not yet acknowledged. The
// connection maps sequence numbers to offsets from the ring's head. Storage is taken at the first
// write, starts small and doubles up to the capacity; small storage is given back whenever
// everything was acknowledged, so an idle connection holds none (10,000 idle flows held 160 MB of
// 16 KiB rings before). Storage that grew for bulk is kept while the connection lives: taking it
// again from the smallest size would copy at every doubling.

const INITIAL_STORAGE = 4 * 1024;
const NONE = Buffer.alloc(0);

export class ByteRing {
  #buf: Buffer;
  #head = 0;
  #len = 0;

  constructor(readonly capacity: number) {
    this.#buf = NONE;
  }

  /** Bytes of storage held now (for tests). */
  get storage(): number {
    return this.#buf.length;
  }

  get length(): number {
    return this.#len;
  }

  get free(): number {
    return this.capacity - this.#len;
  }

  /** Copies as much of `src` as fits; returns the number of bytes taken. */
  push(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n === 0) return 0;
    if (this.#len + n > this.#buf.length) this.grow(this.#len + n);
    const size = this.#buf.length;
    const tail = (this.#head + this.#len) % size;
    const first = Math.min(n, size - tail);
    this.#buf.set(src.subarray(0, first), tail);
    if (first < n) this.#buf.set(src.subarray(first, n), 0);
    this.#len += n;
    return n;
  }

  /** A view of up to `maxLen` bytes starting `offset` bytes after the head, stopping at the
   * storage's wrap point (so the caller may get fewer bytes than asked; it sends the rest in the
   * next segment instead of copying to join them). */
  view(offset: number, maxLen: number): Buffer {
    const size = this.#buf.length;
    const avail = Math.min(maxLen, this.#len - offset);
    if (avail <= 0) return NONE;
    const start = (this.#head + offset) % size;
    return this.#buf.subarray(start, start + Math.min(avail, size - start));
  }

  /** Drops `n` acknowledged bytes from the head. */
  consume(n: number): void {
    const k = Math.min(n, this.#len);
    this.#len -= k;
    this.#head = this.#len === 0 ? 0 : (this.#head + k) % this.#buf.length;
    // Views handed out earlier keep their bytes: they hold the old storage, not the ring.
    if (this.#len === 0 && this.#buf.length <= INITIAL_STORAGE) this.#buf = NONE;
  }

  private grow(need: number): void {
    let size = Math.max(this.#buf.length, INITIAL_STORAGE);
    while (size < need) size *= 2;
    size = Math.min(size, this.capacity);
    const next = Buffer.allocUnsafe(size);
    const old = this.#buf;
    const first = Math.min(this.#len, old.length - this.#head);
    old.copy(next, 0, this.#head, this.#head + first);
    if (first < this.#len) old.copy(next, first, 0, this.#len - first);
    this.#buf = next;
    this.#head = 0;
  }
}
