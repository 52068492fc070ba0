// Pull-style reading of a Readable with push-back: the router reads a chunk, takes the part that
// belongs to the current message and gives the rest back for the next one.
//
// The stream stays in paused mode, so a reader that does not call read() stops the socket at its
// highWaterMark and the kernel's receive window closes: backpressure without a queue of our own.
import type { Readable } from 'node:stream';

/** Control flow of the router's read loop (not a TpError): it ends one connection and is never shown. */
export class StreamClosedError extends Error {
  constructor(message = 'the stream closed before its end') {
    super(message);
    this.name = 'StreamClosedError';
  }
}

export class Pull {
  #back: Buffer[] = [];
  #ended = false;
  #err: Error | null = null;
  #wake: (() => void) | null = null;
  #reading = false;
  readonly #onReadable = () => {
    // An idle upstream keep-alive connection: read() with nothing buffered turns EOF into 'end',
    // so the pool learns the server closed it before reusing it. With data buffered, leave it:
    // hasBuffered() tells the pool the connection is out of step.
    if (!this.#reading && this.s.readableLength === 0) this.s.read(0);
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  readonly #onError = (e: Error) => {
    this.#err ??= e;
    this.#notify();
  };
  readonly #onClose = () => {
    if (!this.#ended) this.#err ??= new StreamClosedError();
    this.#notify();
  };

  constructor(readonly s: Readable) {
    s.on('readable', this.#onReadable);
    s.on('end', this.#onEnd);
    s.on('error', this.#onError);
    s.on('close', this.#onClose);
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Whether the peer has finished (clean EOF) or failed. */
  get finished(): boolean {
    return this.#ended || this.#err !== null;
  }

  /** Bytes waiting that nobody asked for yet. */
  hasBuffered(): boolean {
    return this.#back.length > 0 || this.s.readableLength > 0;
  }

  /** The next chunk, or null at a clean end. Throws if the stream errored or closed early. */
  async read(): Promise<Buffer | null> {
    const b = this.#back.pop();
    if (b) return b;
    this.#reading = true;
    try {
      for (;;) {
        if (this.#err) throw this.#err;
        const c = this.s.read() as Buffer | string | null;
        if (c !== null) return typeof c === 'string' ? Buffer.from(c) : c;
        if (this.#ended) return null;
        await new Promise<void>((r) => (this.#wake = r));
      }
    } finally {
      this.#reading = false;
    }
  }

  /** Fail the pending and every later read() with `err` (a budget ran out): the stream itself is
   * left to the caller, who may still be writing an answer on it. */
  abort(err: Error): void {
    this.#err ??= err;
    this.#back = [];
    this.#notify();
  }

  /** Give back the unread tail of the last chunk; the next read() returns it. */
  unread(b: Buffer): void {
    if (b.length > 0) this.#back.push(b);
  }

  /** Stop listening; returns what was given back and not read yet. */
  detach(): Buffer[] {
    this.s.off('readable', this.#onReadable);
    this.s.off('end', this.#onEnd);
    this.s.off('error', this.#onError);
    this.s.off('close', this.#onClose);
    const out = this.#back.reverse();
    this.#back = [];
    return out;
  }
}
