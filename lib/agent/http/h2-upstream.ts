// The agent's HTTP/2 client sessions to its destinations: one to the app (127.0.0.1:PORT), one per
// engagement to its workstation (over the engagement's `open()`, a tunnel stream that the
// workstation splices to its local port: h2c with prior knowledge there), one per wiretap. Shared
// by every client connection of the port, reused while they live, reopened when they die.
//
// Nothing waits forever on a session (Telepresence 4055/4056 were gRPC streams hanging on an
// upstream that never spoke HTTP/2 to them):
// - a session that has not sent its SETTINGS within `connectMs` fails, and so do its streams;
// - one that speaks something else (an HTTP/1-only app answers the preface with a 400) fails at
//   once (nghttp2: protocol error);
// - one with open streams is PINGed every `pingIntervalMs`, and destroyed when the ACK is later
//   than `pingTimeoutMs`, so a tunnel that went away without a FIN resets its streams;
// - after a failed open, streams for it fail at once for `backoffMs` rather than dial again each.
// A GOAWAY from the destination drains: streams it accepted finish on that session, new streams
// get a new one; streams above its last-stream-id are closed with REFUSED_STREAM by nghttp2,
// which the router passes on so that the client may retry them (RFC 9113 §6.8, §8.7).
import { connect, type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/log.js';

export interface SessionPoolOptions {
  /** SETTINGS the agent sends its destinations. */
  settings: { initialWindowSize: number; maxHeaderListSize: number };
  sessionWindow: number;
  connectMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  backoffMs: number;
  /** An idle session (no stream) is closed after this (0: never). */
  idleMs: number;
  log?: Logger;
  /** Counters: a session was opened, failed to open, died on a ping, got a GOAWAY. */
  count: (what: 'opened' | 'openFailures' | 'pingTimeouts' | 'goaways', id: string) => void;
}

/** The app does not speak h2c right now (not a TpError): the agent answers that one stream UNAVAILABLE. */
export class UpstreamUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamUnavailable';
  }
}

class Entry {
  session: ClientHttp2Session | undefined;
  ready: Promise<ClientHttp2Session>;
  streams = 0;
  #ping: NodeJS.Timeout | undefined;
  #idle: NodeJS.Timeout | undefined;
  #pingSent = 0;

  constructor(
    readonly id: string,
    open: () => Promise<Duplex>,
    private readonly pool: SessionPool,
    private readonly o: SessionPoolOptions,
  ) {
    this.ready = this.#open(open);
  }

  async #open(open: () => Promise<Duplex>): Promise<ClientHttp2Session> {
    let d: Duplex;
    try {
      d = await open();
    } catch (e) {
      throw new UpstreamUnavailable(`could not open a connection: ${(e as Error).message}`, { cause: e });
    }
    const sock = d as Duplex & { setNoDelay?: (b: boolean) => unknown };
    if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
    const s = connect('http://tp-upstream', {
      createConnection: () => d,
      settings: { enablePush: false, ...this.o.settings },
    });
    this.session = s;
    s.on('error', (e) => this.o.log?.debug('upstream session error', { dest: this.id, err: e.message }));
    s.once('close', () => this.#gone());
    s.once('goaway', (code: number, last: number) => {
      this.o.count('goaways', this.id);
      this.o.log?.debug('upstream sent GOAWAY; draining', { dest: this.id, code, lastStreamId: last });
      this.pool.forget(this);
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => done(new UpstreamUnavailable(`no HTTP/2 SETTINGS within ${this.o.connectMs} ms (does it speak h2c?)`)),
        this.o.connectMs,
      );
      const onSettings = () => done();
      const onError = (e: Error) =>
        done(new UpstreamUnavailable(`it does not speak HTTP/2 with prior knowledge (h2c): ${e.message}`, { cause: e }));
      const onClose = () => done(new UpstreamUnavailable('it closed the connection before HTTP/2 SETTINGS'));
      const done = (err?: Error) => {
        clearTimeout(t);
        s.off('remoteSettings', onSettings);
        s.off('error', onError);
        s.off('close', onClose);
        if (err) {
          s.destroy(err);
          reject(err);
        } else resolve();
      };
      s.once('remoteSettings', onSettings);
      s.once('error', onError);
      s.once('close', onClose);
    });
    try {
      s.setLocalWindowSize(this.o.sessionWindow);
    } catch {
      // closing already: the streams will learn it
    }
    this.#armIdle();
    return s;
  }

  #gone(): void {
    clearTimeout(this.#ping);
    clearTimeout(this.#idle);
    this.pool.forget(this);
  }

  /** A stream was opened on this session; `done` when it closed. */
  use(): () => void {
    this.streams++;
    clearTimeout(this.#idle);
    this.#idle = undefined;
    if (!this.#ping && this.o.pingIntervalMs > 0) this.#schedulePing();
    let once = false;
    return () => {
      if (once) return;
      once = true;
      this.streams--;
      if (this.streams === 0) this.#armIdle();
    };
  }

  #armIdle(): void {
    if (this.o.idleMs <= 0 || this.streams > 0) return;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.streams === 0) {
        this.pool.forget(this);
        this.session?.close();
      }
    }, this.o.idleMs);
    this.#idle.unref();
  }

  #schedulePing(): void {
    this.#ping = setTimeout(() => this.#doPing(), this.o.pingIntervalMs);
    this.#ping.unref();
  }

  #doPing(): void {
    this.#ping = undefined;
    const s = this.session;
    if (!s || s.destroyed || s.closed || this.streams === 0) return;
    const sent = ++this.#pingSent;
    const timer = setTimeout(() => {
      if (sent !== this.#pingSent || s.destroyed) return;
      this.o.count('pingTimeouts', this.id);
      this.o.log?.info('an upstream HTTP/2 session did not answer a PING; closing it and resetting its streams', {
        dest: this.id,
        timeoutMs: this.o.pingTimeoutMs,
      });
      this.pool.forget(this);
      // With an error: Node then resets the session's streams (INTERNAL_ERROR). Destroyed
      // without one, it would end them cleanly — a cut response would look complete.
      s.destroy(new UpstreamUnavailable(`no PING ACK within ${this.o.pingTimeoutMs} ms`));
    }, this.o.pingTimeoutMs);
    timer.unref();
    try {
      s.ping((err) => {
        clearTimeout(timer);
        if (!err && !s.destroyed) this.#schedulePing();
      });
    } catch {
      clearTimeout(timer);
    }
  }

  close(): void {
    clearTimeout(this.#ping);
    clearTimeout(this.#idle);
    // Graceful: GOAWAY, then the socket closes once the streams in flight have finished.
    this.session?.close();
  }
}

export class SessionPool {
  readonly #entries = new Map<string, Entry>();
  /** id → until when opening it is not retried, and why it failed. */
  readonly #failed = new Map<string, { until: number; err: Error }>();

  constructor(private readonly o: SessionPoolOptions) {}

  /** A ready session to `id`, and a release function to call when the stream on it has closed. */
  async acquire(id: string, open: () => Promise<Duplex>): Promise<{ session: ClientHttp2Session; release: () => void }> {
    let e = this.#entries.get(id);
    if (!e) {
      const f = this.#failed.get(id);
      if (f && Date.now() < f.until) throw f.err;
      this.#failed.delete(id);
      e = new Entry(id, open, this, this.o);
      this.#entries.set(id, e);
      const entry = e;
      entry.ready.then(
        () => this.o.count('opened', id),
        (err: Error) => {
          this.o.count('openFailures', id);
          this.#failed.set(id, { until: Date.now() + this.o.backoffMs, err });
          this.forget(entry);
        },
      );
    }
    const session = await e.ready;
    if (session.destroyed || session.closed) {
      this.forget(e);
      throw new UpstreamUnavailable('the session closed');
    }
    return { session, release: e.use() };
  }

  /** @internal the entry is no longer the one new streams should use. */
  forget(e: Entry): void {
    if (this.#entries.get(e.id) === e) this.#entries.delete(e.id);
  }

  /** Close (gracefully) the sessions of destinations that are gone (an engagement ended). */
  retain(live: ReadonlySet<string>): void {
    for (const [id, e] of this.#entries) {
      if (live.has(id)) continue;
      this.#entries.delete(id);
      void e.ready.then(
        () => e.close(),
        () => {},
      );
    }
    for (const id of this.#failed.keys()) if (!live.has(id)) this.#failed.delete(id);
  }

  close(): void {
    for (const e of this.#entries.values())
      void e.ready.then(
        () => e.close(),
        () => {},
      );
    this.#entries.clear();
  }

  /** Ids with a session open or opening, for tests and stats. */
  ids(): string[] {
    return [...this.#entries.keys()];
  }
}
