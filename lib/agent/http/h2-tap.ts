// Wiretaps of HTTP/2 streams: each wiretap's workstation gets, on its own upstream session, a
// stream with the request's headers, body and trailers; what it answers is read and dropped.
//
// The copy never slows the original (the HTTP/1.1 rules, per stream): a copy starts only while
// the tap's unsent bytes, all its streams together, are at most `soft` (else the stream is not
// copied: dropped, counted); a chunk that would take them past `hard` resets that copy with
// CANCEL (a truncated copy must not look complete: aborted, counted), and the tap then rests for
// `retryMs`, its copies dropped, so a stuck workstation is not handed a stream per request.
// Writes to a copy never wait: the copy's stream buffers, and those buffers are what is bounded.
import type { ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import type { TapStats, WiretapTarget } from './router.js';
import { CANCEL } from './h2-codes.js';
import type { SessionPool } from './h2-upstream.js';

export interface H2TapOptions {
  pool: SessionPool;
  stats: (id: string) => TapStats;
  soft: number;
  hard: number;
  retryMs: number;
}

/** The pool id of a wiretap's session (engagement ids never contain a colon). */
export const tapPoolId = (id: string) => `tap:${id}`;

class Copy {
  stream: ClientHttp2Stream | undefined;
  #queue: Buffer[] = [];
  queued = 0;
  dead = false;
  #ended = false;
  #trailers: OutgoingHttpHeaders | undefined;

  constructor(
    readonly tap: TapTarget,
    headers: OutgoingHttpHeaders,
    endStream: boolean,
  ) {
    this.#ended = endStream;
    tap.copies.add(this);
    tap.o.pool.acquire(tapPoolId(tap.id), tap.target.open).then(
      ({ session, release }) => {
        if (this.dead) return release();
        let s: ClientHttp2Stream;
        try {
          s = session.request(headers, this.#ended && this.queued === 0 ? { endStream: true } : { waitForTrailers: true });
        } catch {
          release();
          return this.#fail();
        }
        this.stream = s;
        s.on('error', () => {});
        s.once('close', () => {
          release();
          this.tap.copies.delete(this);
        });
        s.resume(); // what the workstation answers is dropped
        s.on('wantTrailers', () => {
          // An aborted copy is reset: close() asks for trailers first, and sending them would
          // make the truncated copy end cleanly before the RST_STREAM.
          if (this.dead) return;
          try {
            s.sendTrailers(this.#trailers ?? {});
          } catch {
            // closed meanwhile
          }
        });
        for (const b of this.#queue) s.write(b);
        this.#queue = [];
        this.queued = 0;
        if (this.#ended && !s.writableEnded) s.end();
      },
      () => this.#fail(),
    );
  }

  unsent(): number {
    return this.stream ? this.stream.writableLength : this.queued;
  }

  data(b: Buffer): void {
    if (this.dead) return;
    if (this.tap.unsent() + b.length > this.tap.o.hard) {
      this.tap.stats.aborted++;
      this.tap.rest();
      return this.abort();
    }
    this.tap.stats.bytes += b.length;
    if (this.stream) this.stream.write(b);
    else {
      this.#queue.push(b);
      this.queued += b.length;
    }
  }

  end(trailers: OutgoingHttpHeaders | undefined): void {
    if (this.dead || this.#ended) return;
    this.#ended = true;
    this.#trailers = trailers;
    this.tap.stats.copies++;
    if (this.stream && !this.stream.writableEnded) this.stream.end();
  }

  abort(): void {
    if (this.dead) return;
    this.dead = true;
    this.#queue = [];
    this.queued = 0;
    this.tap.copies.delete(this);
    if (this.stream && !this.stream.closed) this.stream.close(CANCEL);
  }

  #fail(): void {
    if (this.dead) return;
    this.tap.stats.dropped++;
    this.tap.rest();
    this.dead = true;
    this.#queue = [];
    this.queued = 0;
    this.tap.copies.delete(this);
  }
}

class TapTarget {
  readonly copies = new Set<Copy>();
  restUntil = 0;
  constructor(
    readonly target: WiretapTarget,
    readonly o: H2TapOptions,
    readonly stats: TapStats,
  ) {}
  get id(): string {
    return this.target.id;
  }
  unsent(): number {
    let n = 0;
    for (const c of this.copies) n += c.unsent();
    return n;
  }
  rest(): void {
    this.restUntil = Date.now() + this.o.retryMs;
  }
}

/** The copies of one client stream, one per wiretap. */
export class StreamCopies {
  constructor(readonly copies: Copy[]) {}
  data(b: Buffer): void {
    for (const c of this.copies) c.data(b);
  }
  end(trailers: OutgoingHttpHeaders | undefined): void {
    for (const c of this.copies) c.end(trailers);
  }
  /** The client's stream was reset: the copies are reset too (CANCEL), never left looking whole. */
  abort(): void {
    for (const c of this.copies) c.abort();
  }
}

export class H2Taps {
  readonly #targets = new Map<string, TapTarget>();
  constructor(private readonly o: H2TapOptions) {}

  /** Start copying a stream (its request headers) to every wiretap that is not behind. */
  begin(wiretaps: readonly WiretapTarget[], headers: OutgoingHttpHeaders, endStream: boolean): StreamCopies | undefined {
    if (wiretaps.length === 0) return undefined;
    const copies: Copy[] = [];
    for (const w of wiretaps) {
      let t = this.#targets.get(w.id);
      if (!t || t.target !== w) {
        // A new engagement update brings new open() closures: use the newest.
        const prev = t;
        t = new TapTarget(w, this.o, this.o.stats(w.id));
        if (prev) for (const c of prev.copies) t.copies.add(c);
        if (prev) t.restUntil = prev.restUntil;
        this.#targets.set(w.id, t);
      }
      if (Date.now() < t.restUntil || t.unsent() > this.o.soft) {
        t.stats.dropped++;
        continue;
      }
      copies.push(new Copy(t, headers, endStream));
      if (endStream) t.stats.copies++;
    }
    return copies.length ? new StreamCopies(copies) : undefined;
  }

  /** Forget wiretaps that ended. */
  retain(live: ReadonlySet<string>): void {
    for (const id of this.#targets.keys()) if (!live.has(id)) this.#targets.delete(id);
  }
}
