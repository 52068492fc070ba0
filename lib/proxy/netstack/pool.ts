// Packet buffers for output: taken for one batch, given back once the output callback
// returned. `taken` lets tests check that nothing leaks.

export class BufferPool {
  #free: Buffer[] = [];
  taken = 0;

  constructor(
    readonly size: number,
    /** Free buffers kept beyond this are left to the GC (a burst must not pin memory forever). */
    readonly maxFree = 64,
  ) {}

  take(): Buffer {
    this.taken++;
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(b: Buffer): void {
    this.taken--;
    if (b.length === this.size && this.#free.length < this.maxFree) this.#free.push(b);
  }
}
