// HTTP/2 in the traffic agent (issue #13): the agent terminates a client's HTTP/2 connection
// (prior knowledge, or after an h2c upgrade: h2c.ts) with node:http2 and routes each stream by its
// own headers — to the app, over one shared upstream session, or to the owning workstation of the
// intercept whose filter matches, over that engagement's session (h2-upstream.ts) — and copies it
// to wiretaps (h2-tap.ts). One client connection may carry streams for the app, for A and for B.
//
// Per stream, end to end (h2-stream.ts):
// - flow control is per hop and per stream: a stream whose destination does not read holds at
//   most its window (AGENT_H2_STREAM_WINDOW) in the agent, and its peer's stream window closes;
//   Node returns connection-level credit as bytes arrive, so other streams keep moving;
// - headers, 1xx, DATA, trailers (grpc-status, grpc-message) pass as they come, nothing waits for
//   a "flush" (Telepresence 4055: a proxy that held a streaming response's headers hung it);
// - RST_STREAM goes both ways with its code mapped (h2-codes.ts), a GOAWAY from a destination
//   drains its session, PING is answered by each hop (it is hop-by-hop), SETTINGS are each hop's:
//   the client's (window, frame size, header table) govern what the agent sends it — nghttp2
//   applies them — and since the agent opens its upstream sessions with ENABLE_PUSH 0, no
//   destination can push to a client, whatever the client allowed;
// - `grpc-timeout` is passed on with the time already spent taken off, and the agent itself
//   ends a stream whose deadline passed (DEADLINE_EXCEEDED): no call outlives its deadline here.
//
// Budgets (lib/common/limits.ts): AGENT_H2_MAX_STREAMS per connection and the stream window bound
// memory; a connection with no open stream for `keepAliveTimeoutMs` gets a GOAWAY; a stream with no
// DATA either way for `tunnelIdleTimeoutMs` is reset (CANCEL) — long enough for long-lived gRPC
// streams, short enough that a forgotten one does not live for days.
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/log.js';
import {
  AGENT_H2_CONNECT_MS,
  AGENT_H2_MAX_STREAMS,
  AGENT_H2_PING_INTERVAL_MS,
  AGENT_H2_PING_TIMEOUT_MS,
  AGENT_H2_REOPEN_BACKOFF_MS,
  AGENT_H2_SESSION_WINDOW,
  AGENT_H2_STREAM_WINDOW,
  HTTP_MAX_HEAD_BYTES,
} from '../../common/limits.js';
import { H2Taps, tapPoolId } from './h2-tap.js';
import { relayStream } from './h2-stream.js';
import { SessionPool } from './h2-upstream.js';
import type { DestStats, Engagements, RouterBudgets, RouterStats, TapStats } from './router.js';

export interface H2Tuning {
  maxStreams: number;
  streamWindow: number;
  sessionWindow: number;
  connectMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  backoffMs: number;
}

export const DEFAULT_H2_TUNING: H2Tuning = {
  maxStreams: AGENT_H2_MAX_STREAMS,
  streamWindow: AGENT_H2_STREAM_WINDOW,
  sessionWindow: AGENT_H2_SESSION_WINDOW,
  connectMs: AGENT_H2_CONNECT_MS,
  pingIntervalMs: AGENT_H2_PING_INTERVAL_MS,
  pingTimeoutMs: AGENT_H2_PING_TIMEOUT_MS,
  backoffMs: AGENT_H2_REOPEN_BACKOFF_MS,
};

export interface H2Stats {
  /** HTTP/2 connections the agent terminated (prior knowledge and upgraded). */
  connections: number;
  /** ... of which came through `Upgrade: h2c`. */
  upgrades: number;
  /** `Upgrade: h2c` requests served as HTTP/1.1 instead (a body, a bad HTTP2-Settings). */
  upgradesRefused: number;
  streams: number;
  /** Streams the client reset; streams a destination reset (each passed on to the other side). */
  resetsFromClient: number;
  resetsFromUpstream: number;
  /** Streams the agent ended because their grpc-timeout passed. */
  deadlines: number;
  /** Streams reset after `tunnelIdleTimeoutMs` without DATA. */
  idle: number;
  /** Streams answered by the agent because the destination could not be reached. */
  unavailable: number;
  /** Upstream sessions: opened, failed to open, closed on a late PING ACK, drained on a GOAWAY. */
  sessions: { opened: number; openFailures: number; pingTimeouts: number; goaways: number };
}

export const newH2Stats = (): H2Stats => ({
  connections: 0,
  upgrades: 0,
  upgradesRefused: 0,
  streams: 0,
  resetsFromClient: 0,
  resetsFromUpstream: 0,
  deadlines: 0,
  idle: 0,
  unavailable: 0,
  sessions: { opened: 0, openFailures: 0, pingTimeouts: 0, goaways: 0 },
});

/** What the hub needs from its router. */
export interface H2Host {
  engagements(): Engagements;
  readonly budgets: RouterBudgets;
  readonly stats: RouterStats;
  destStats(id: string): DestStats;
  tapStats(id: string): TapStats;
  readonly log: Logger | undefined;
  readonly tapSoft: number;
  readonly tapHard: number;
  readonly tapRetryMs: number;
}

/** The HTTP/2 side of one router (one engaged port). */
export class H2Hub {
  readonly #server: Http2Server;
  readonly pool: SessionPool;
  readonly taps: H2Taps;
  readonly #clients = new Set<ServerHttp2Session>();
  #lastEng: Engagements | undefined;
  #closing = false;

  constructor(
    readonly host: H2Host,
    readonly tuning: H2Tuning,
  ) {
    this.#server = createServer({
      settings: {
        maxConcurrentStreams: tuning.maxStreams,
        initialWindowSize: tuning.streamWindow,
        maxHeaderListSize: HTTP_MAX_HEAD_BYTES,
        enablePush: false,
      },
    });
    this.#server.on('session', (s) => this.#onSession(s));
    this.#server.on('sessionError', () => {});
    const st = host.stats.h2;
    this.pool = new SessionPool({
      settings: { initialWindowSize: tuning.streamWindow, maxHeaderListSize: HTTP_MAX_HEAD_BYTES },
      sessionWindow: tuning.sessionWindow,
      connectMs: tuning.connectMs,
      pingIntervalMs: tuning.pingIntervalMs,
      pingTimeoutMs: tuning.pingTimeoutMs,
      backoffMs: tuning.backoffMs,
      idleMs: host.budgets.keepAliveTimeoutMs,
      ...(host.log ? { log: host.log } : {}),
      count: (what, id) => {
        st.sessions[what]++;
        if (what === 'openFailures' && id.startsWith('tap:')) host.tapStats(id.slice(4)).openFailures++;
      },
    });
    this.taps = new H2Taps({
      pool: this.pool,
      stats: (id) => host.tapStats(id),
      soft: host.tapSoft,
      hard: host.tapHard,
      retryMs: host.tapRetryMs,
    });
  }

  /**
   * Serve an accepted connection as HTTP/2. `bytes` were read from it already (the preface, or the
   * preface rebuilt after an h2c upgrade) and are put back in front of what is still unread.
   * The connection is the session's from now on.
   */
  adopt(socket: Duplex, bytes: Buffer): void {
    if (this.#closing) return void socket.destroy();
    this.host.stats.h2.connections++;
    if (bytes.length) socket.unshift(bytes);
    // node:http2 reads what is already buffered in the socket before the handle (Node ≥ 15).
    this.#server.emit('connection', socket);
  }

  /** The engagements now; sessions and taps of ended engagements are let go (gracefully). */
  engagements(): Engagements {
    const eng = this.host.engagements();
    if (eng !== this.#lastEng) {
      this.#lastEng = eng;
      const live = new Set<string>(['app']);
      for (const i of eng.intercepts) live.add(i.id);
      for (const w of eng.wiretaps) live.add(tapPoolId(w.id));
      this.pool.retain(live);
      this.taps.retain(new Set(eng.wiretaps.map((w) => w.id)));
    }
    return eng;
  }

  #onSession(s: ServerHttp2Session): void {
    this.#clients.add(s);
    s.on('error', (e) => this.host.log?.debug('http2 client session error', { err: e.message }));
    try {
      s.setLocalWindowSize(this.tuning.sessionWindow);
    } catch {
      // the socket is gone already
    }
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      const ms = this.host.budgets.keepAliveTimeoutMs;
      if (ms <= 0 || !Number.isFinite(ms)) return;
      idle = setTimeout(() => {
        this.host.stats.timeouts.keepAlive++;
        s.close(); // GOAWAY: nothing is in flight
      }, ms);
      idle.unref();
    };
    armIdle();
    s.on('stream', (cs: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => {
      this.host.stats.h2.streams++;
      open++;
      clearTimeout(idle);
      cs.once('close', () => {
        if (--open === 0 && !s.closed && !s.destroyed) armIdle();
      });
      void relayStream(this, cs, headers, flags, raw);
    });
    s.once('close', () => {
      clearTimeout(idle);
      this.#clients.delete(s);
    });
    if (this.#closing) s.close();
  }

  /** GOAWAY to every client (streams in flight finish), then the upstream sessions drain. */
  close(): void {
    this.#closing = true;
    for (const s of this.#clients) s.close();
    this.pool.close();
  }
}
