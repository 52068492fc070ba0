// The traffic agent's per-connection router for an engaged port (DESIGN §2, §3 intercept flow).
//
// Each connection the iptables REDIRECT hands the agent goes to the app (nothing engaged), to one
// workstation (an unfiltered intercept), or — with HTTP filters or wiretaps — through a request
// loop that picks a destination for every HTTP/1.1 request on it. With filters or wiretaps, a
// connection that starts with the HTTP/2 preface, or whose request asks for `Upgrade: h2c` (101,
// RFC 7540 §3.2, h2c.ts), becomes HTTP/2 terminated by the agent (h2.ts), which routes each
// stream by the same filters. A TLS ClientHello (parse.ts sniffTls) cannot be filtered: it goes
// to the app (or an unfiltered intercept), counted per filtered intercept and logged (noteTls).
//
// Why not node:http. The agent is a proxy that must be invisible: it forwards the bytes it got,
// unchanged — header case, order and duplicates, chunk sizes, chunk extensions and trailers — to
// whichever side a request is routed to, and the same bytes to wiretaps. node:http hands over a
// parsed message — bodies de-chunked (extensions gone, trailers apart), repeated headers joined —
// and re-frames whatever is written back out (its own chunk sizes, Content-Length, Connection
// handling); it also answers `Expect: 100-continue` itself and takes over upgraded sockets. What
// the workstation saw would not be what the client sent, and each body would be parsed and
// re-encoded twice. Here parse.ts only finds boundaries; bytes pass through as Buffer views,
// streamed with backpressure, never a whole body in memory.
//
// No pipelining towards destinations. Request N+1 is not read from the client until response N
// has been forwarded completely. HTTP/1.1 answers in request order, and consecutive requests may
// go to different destinations, so pipelining would mean holding response N+1 from session B
// while session A still answers N: an unbounded buffer, or a stall with the same latency as not
// pipelining. Clients rarely pipeline (browsers do not); if one does, its later requests wait in
// the socket buffer and the TCP window, which is backpressure, not memory. The request body and
// the response are pumped concurrently, so early answers (413, 100-continue, 401) flow.
//
// Wiretaps never slow the app's traffic: a copy is written only while the tap's send buffer is
// under `tapSoftLimit` when a request starts (otherwise the whole copy is dropped and counted),
// and a copy that would push it over `tapHardLimit` mid-request aborts that tap connection (a
// truncated copy must not look complete). A tap that failed or was aborted gets no copies for
// `tapRetryMs`, then a fresh stream: a stuck workstation is not handed a new stream per request.
//
// Budgets (issue #12, values and reasons in lib/common/limits.ts): a request head must be complete
// within `headTimeoutMs` of its first byte (of the accept, for the first request), else 408 and
// close; a kept-alive connection idle for `keepAliveTimeoutMs` between requests is closed; an
// exchange with no byte either way for `exchangeIdleTimeoutMs` ends (408 or 504 if nothing was
// answered yet); an opaque connection idle for `tunnelIdleTimeoutMs` is closed. Bytes held in
// incomplete heads, all connections together, stay under `pendingHeadBytes`: past it the head that
// has waited longest is dropped (408). So 1,000 peers sending half a head cost at most that much
// memory and are gone within the head budget, while complete requests are served as usual.
//
// A `101 Switching Protocols` is taken only as the answer to a request that asked to upgrade
// (asksUpgrade): otherwise whoever answered could turn the client's connection into a raw pipe and
// receive the requests that follow on it — other users' requests, behind an ingress — past every
// filter. Such an answer is never forwarded: the client gets 502 and the connection is closed.

import type { Duplex, Writable } from 'node:stream';
import type { Logger } from '../../common/log.js';
import {
  AGENT_EXCHANGE_IDLE_MS,
  AGENT_H2C_MAX_HEADERS_BLOCK,
  AGENT_KEEPALIVE_IDLE_MS,
  AGENT_LINGER_MS,
  AGENT_PENDING_HEAD_BYTES,
  AGENT_TAP_HARD_BYTES,
  AGENT_TAP_RETRY_MS,
  AGENT_TAP_SOFT_BYTES,
  AGENT_TUNNEL_IDLE_MS,
  HTTP_HEAD_TIMEOUT_MS,
} from '../../common/limits.js';
import { isUnfiltered, pickIntercept, type HttpFilter } from './filter.js';
import { DEFAULT_H2_TUNING, H2Hub, newH2Stats, type H2Stats, type H2Tuning } from './h2.js';
import { asksH2c, h2cUpgradable, spliceUpgradePreface, stream1Headers, SWITCHING_TO_H2C, withoutUpgrade } from './h2c.js';
import {
  asksUpgrade,
  BodyFramer,
  DEFAULT_LIMITS,
  HeadCollector,
  HttpParseError,
  isH2Preface,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  requestBody,
  responseBody,
  sniffHttp,
  sniffTls,
  type Limits,
  type RequestHead,
} from './parse.js';
import { splice, type SpliceOptions, type SpliceResult } from '../../proxy/splice.js';
import { Pull, StreamClosedError } from './pull.js';
import { Watchdog } from './watchdog.js';

export interface InterceptTarget {
  id: string;
  filter: HttpFilter;
  /** A stream to the workstation of this session (a tunnel stream in the agent). */
  open: () => Promise<Duplex>;
}

export interface WiretapTarget {
  id: string;
  open: () => Promise<Duplex>;
}

export interface Engagements {
  /** A stream to the app, `127.0.0.1:PORT`, which the REDIRECT rule does not catch. */
  app: () => Promise<Duplex>;
  /** In the order the sessions engaged: the first whose filter matches takes the request. */
  intercepts: readonly InterceptTarget[];
  wiretaps: readonly WiretapTarget[];
}

/** Time and memory a client connection may take (lib/common/limits.ts says why each value). */
export interface RouterBudgets {
  /** A request head must be complete this long after its first byte (after the accept, for the
   * first request of a connection). */
  headTimeoutMs: number;
  /** Between requests on a kept-alive connection. */
  keepAliveTimeoutMs: number;
  /** No byte either way while a request or its response is in progress. */
  exchangeIdleTimeoutMs: number;
  /** No byte either way on a connection that is opaque to the agent (0: no limit). */
  tunnelIdleTimeoutMs: number;
  /** Bytes in incomplete request heads, all connections of this router together. */
  pendingHeadBytes: number;
  /** After the agent answered and closed, the client's bytes are read and dropped this long. */
  lingerMs: number;
}

export const DEFAULT_BUDGETS: RouterBudgets = {
  headTimeoutMs: HTTP_HEAD_TIMEOUT_MS,
  keepAliveTimeoutMs: AGENT_KEEPALIVE_IDLE_MS,
  exchangeIdleTimeoutMs: AGENT_EXCHANGE_IDLE_MS,
  tunnelIdleTimeoutMs: AGENT_TUNNEL_IDLE_MS,
  pendingHeadBytes: AGENT_PENDING_HEAD_BYTES,
  lingerMs: AGENT_LINGER_MS,
};

export interface RouterOptions {
  /** A fixed set, or a getter read at each connection and each request (sessions come and go). */
  engagements: Engagements | (() => Engagements);
  limits?: Partial<Limits>;
  /** Overrides of DEFAULT_BUDGETS (a config file may set the idle timeouts). */
  budgets?: Partial<RouterBudgets>;
  /** A wiretap copy starts only if the tap's unsent bytes are at most this (default 256 KiB). */
  tapSoftLimit?: number;
  /** A copy that would leave more than this unsent aborts the tap connection (default 1 MiB). */
  tapHardLimit?: number;
  /** After a tap failed or was aborted, its copies are dropped for this long (default 1 s). */
  tapRetryMs?: number;
  /** Overrides of the HTTP/2 settings and upstream session timers (DEFAULT_H2_TUNING). */
  h2?: Partial<H2Tuning>;
  log?: Logger;
}

export interface DestStats {
  requests: number;
  /** Request bytes (heads and bodies) written to the destination. */
  bytesOut: number;
  /** Response bytes read from it and written to the client. */
  bytesIn: number;
  /** Requests answered with 502, or cut, because of this destination. */
  failures: number;
}

export interface TapStats {
  /** Requests (HTTP/2: streams, headers to trailers) copied completely. */
  copies: number;
  /** Requests (HTTP/2: streams) not copied: the tap was behind (or could not be opened). */
  dropped: number;
  /** Copies cut short because the tap fell too far behind mid-request; the tap was reopened. */
  aborted: number;
  bytes: number;
  openFailures: number;
}

export interface RouterStats {
  connections: number;
  /** Connections spliced whole (nothing filtered, no wiretap). */
  spliced: number;
  /** Connections that went through the request loop. */
  http: number;
  /** Connections on a filtered port whose first bytes were not HTTP/1: sent to the app unparsed. */
  notHttp: number;
  /** Requests refused with a 4xx/5xx by the agent itself (malformed, over a limit). */
  rejected: number;
  /** Connections that switched protocols (101, CONNECT) and became opaque. */
  switched: number;
  /** Connections closed because a budget ran out, by budget (evicted: the pending-head bytes). */
  timeouts: Record<Expiry, number>;
  /** 101 answers to requests that did not ask to upgrade: refused (502), never forwarded. */
  unaskedSwitches: number;
  dest: Record<string, DestStats>;
  taps: Record<string, TapStats>;
  /** HTTP/2 connections terminated by the agent, their streams and upstream sessions. */
  h2: H2Stats;
  /** TLS ClientHellos on a port with HTTP filters: their requests cannot be seen, so they went to
   * the app (or to an unfiltered intercept). */
  tls: number;
  /** ... counted for each filtered intercept that could not see them (for `tp list`). */
  tlsByEngagement: Record<string, number>;
}

export const APP = 'app';

type Expiry = 'head' | 'keepAlive' | 'exchange' | 'tunnel' | 'evicted';

/** A budget ran out: the reads it interrupts fail with this. */
class BudgetExpired extends Error {
  constructor(readonly why: Expiry) {
    super(`the ${why} budget ran out`);
    this.name = 'BudgetExpired';
  }
}

/** The destination answered 101 to a request that did not ask to upgrade. */
class UnaskedSwitch extends Error {
  constructor() {
    super('the destination answered 101 Switching Protocols to a request that did not ask to upgrade');
    this.name = 'UnaskedSwitch';
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A response the agent writes itself (it never forwards anything after one but another request). */
export function agentResponse(status: number, message: string, close: boolean): Buffer {
  const body = `tp-agent: ${message}\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`,
  );
}

async function write(w: Writable, b: Buffer): Promise<void> {
  if (w.destroyed || w.writableEnded) throw new StreamClosedError('the stream was closed for writing');
  if (w.write(b)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      w.off('drain', onDrain);
      w.off('close', onClose);
      w.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new StreamClosedError('the stream closed while writing'));
    const onError = (e: Error) => done(e);
    w.on('drain', onDrain);
    w.on('close', onClose);
    w.on('error', onError);
  });
}

function noDelay(d: Duplex): void {
  const s = d as Duplex & { setNoDelay?: (b: boolean) => unknown };
  if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
}

/** The shared splice (lib/proxy/splice.ts) on two Pulls. The shape differs from a Duplex pair:
 * a Pull may hold bytes it read ahead and gave back (what followed a 101's head, a non-HTTP
 * preface), and they must reach the other side before anything read afterwards. */
async function splicePulls(a: Pull, b: Pull, opts: SpliceOptions): Promise<SpliceResult> {
  let aHead = 0;
  let bHead = 0;
  for (const chunk of a.detach()) {
    aHead += chunk.length;
    opts.tapAToB?.(chunk);
    if (!b.s.destroyed) (b.s as Duplex).write(chunk);
  }
  for (const chunk of b.detach()) {
    bHead += chunk.length;
    if (!a.s.destroyed) (a.s as Duplex).write(chunk);
  }
  const r = await splice(a.s as Duplex, b.s as Duplex, opts);
  return { ...r, aToB: r.aToB + aHead, bToA: r.bToA + bHead };
}

/** An opaque connection's bytes, counted once it is over (a → b is client → destination). */
function countTunnel(st: DestStats, r: SpliceResult): void {
  st.bytesOut += r.aToB;
  st.bytesIn += r.bToA;
}

class Upstream {
  readonly pull: Pull;
  constructor(
    readonly id: string,
    readonly d: Duplex,
  ) {
    this.pull = new Pull(d);
    noDelay(d);
  }
  get reusable(): boolean {
    return !this.d.destroyed && !this.d.writableEnded && !this.pull.finished && !this.pull.hasBuffered();
  }
}

class TapConn {
  #d: Duplex | null = null;
  #queue: Buffer[] = []; // while opening
  #queued = 0;
  #copying = false;
  #pendingCopies = 0; // complete copies still queued while the tap opens
  dead = false;
  /** When it failed (open error, abort, peer gone); a closed-by-us tap has none. */
  failedAt: number | undefined;

  constructor(
    readonly target: WiretapTarget,
    private readonly stats: TapStats,
    private readonly soft: number,
    private readonly hard: number,
  ) {
    target.open().then(
      (d) => {
        if (this.dead) return void d.destroy();
        this.#d = d;
        d.on('error', () => this.#kill());
        d.on('close', () => this.#kill());
        d.resume(); // what the workstation answers is discarded
        for (const b of this.#queue) d.write(b);
        this.#queue = [];
        this.#queued = 0;
        this.stats.copies += this.#pendingCopies;
        this.#pendingCopies = 0;
      },
      () => {
        this.stats.openFailures++;
        this.#kill();
      },
    );
  }

  #unsent(): number {
    return this.#d ? this.#d.writableLength : this.#queued;
  }

  #kill(): void {
    if (!this.dead) this.failedAt = Date.now();
    if (this.#copying) {
      this.stats.aborted++;
      this.#copying = false;
    }
    this.dead = true;
    this.#d?.destroy();
    this.#queue = [];
    this.#queued = 0;
    this.stats.dropped += this.#pendingCopies;
    this.#pendingCopies = 0;
  }

  begin(): void {
    this.#copying = !this.dead && this.#unsent() <= this.soft;
    if (!this.#copying) this.stats.dropped++;
  }

  copy(b: Buffer): void {
    if (!this.#copying) return;
    if (this.#unsent() + b.length > this.hard) return this.#kill();
    this.stats.bytes += b.length;
    if (this.#d) this.#d.write(b);
    else {
      this.#queue.push(b);
      this.#queued += b.length;
    }
  }

  end(): void {
    if (this.#copying) {
      if (this.#d) this.stats.copies++;
      else this.#pendingCopies++;
    }
    this.#copying = false;
  }

  close(): void {
    this.#copying = false;
    this.dead = true;
    this.#d?.end();
    const d = this.#d;
    // A tap that never reads would keep its socket forever after end(); nothing is owed to it.
    if (d) setTimeout(() => d.destroy(), 1000).unref();
  }
}

/** The wiretaps of one client connection. */
class Taps {
  #conns = new Map<string, TapConn>();
  constructor(
    private readonly router: HttpRouter,
    private readonly retryMs: number,
  ) {}

  begin(wiretaps: readonly WiretapTarget[]): void {
    const want = new Set(wiretaps.map((w) => w.id));
    for (const [id, c] of this.#conns) {
      if (!want.has(id)) {
        c.close();
        this.#conns.delete(id);
      }
    }
    for (const w of wiretaps) {
      let c = this.#conns.get(w.id);
      if (c?.dead && c.failedAt !== undefined && Date.now() - c.failedAt < this.retryMs) {
        // A tap that just failed or fell behind is not reopened for every request: a stuck
        // workstation would get a new stream per request, each filled and thrown away.
        this.router.tapStats(w.id).dropped++;
        continue;
      }
      if (!c || c.dead) {
        c = this.router.newTap(w);
        this.#conns.set(w.id, c);
      }
      c.begin();
    }
  }
  copy(b: Buffer): void {
    for (const c of this.#conns.values()) c.copy(b);
  }
  end(): void {
    for (const c of this.#conns.values()) c.end();
  }
  close(): void {
    for (const c of this.#conns.values()) c.close();
    this.#conns.clear();
  }
}

interface Exchange {
  /** Bytes of the final (non-1xx) response reached the client: too late for a 502. */
  finalStarted: boolean;
  bodyDone: boolean;
  /** Why the request side failed, if it did. */
  requestError: unknown;
  clientFailed: boolean;
}

export class HttpRouter {
  readonly stats: RouterStats = {
    connections: 0,
    spliced: 0,
    http: 0,
    notHttp: 0,
    rejected: 0,
    switched: 0,
    timeouts: { head: 0, keepAlive: 0, exchange: 0, tunnel: 0, evicted: 0 },
    unaskedSwitches: 0,
    dest: {},
    taps: {},
    h2: newH2Stats(),
    tls: 0,
    tlsByEngagement: {},
  };
  readonly limits: Limits;
  readonly budgets: RouterBudgets;
  /** Connections with an incomplete head → its bytes; in the order their heads started. */
  readonly #pendingHeads = new Map<Connection, number>();
  #pendingBytes = 0;
  readonly #eng: () => Engagements;
  readonly tapSoft: number;
  readonly tapHard: number;
  readonly tapRetryMs: number;
  readonly log: Logger | undefined;
  /** HTTP/2 connections of this port (h2.ts). */
  readonly h2: H2Hub;
  #tlsLoggedAt = 0;

  constructor(opts: RouterOptions) {
    const e = opts.engagements;
    this.#eng = typeof e === 'function' ? e : () => e;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.budgets = { ...DEFAULT_BUDGETS, ...opts.budgets };
    this.tapSoft = opts.tapSoftLimit ?? AGENT_TAP_SOFT_BYTES;
    this.tapHard = opts.tapHardLimit ?? AGENT_TAP_HARD_BYTES;
    this.tapRetryMs = opts.tapRetryMs ?? AGENT_TAP_RETRY_MS;
    this.log = opts.log;
    this.h2 = new H2Hub(this, { ...DEFAULT_H2_TUNING, ...opts.h2 });
  }

  /** Graceful end: GOAWAY to HTTP/2 clients (their streams in flight finish), upstream sessions
   * drain. HTTP/1.1 connections end with the listener. */
  close(): void {
    this.h2.close();
  }

  /** @internal a TLS ClientHello on a connection that the filters would have had to route. */
  noteTls(): void {
    this.stats.tls++;
    const filtered = this.#eng()
      .intercepts.filter((i) => !isUnfiltered(i.filter))
      .map((i) => i.id);
    for (const id of filtered) this.stats.tlsByEngagement[id] = (this.stats.tlsByEngagement[id] ?? 0) + 1;
    const now = Date.now();
    // One line a minute at most: a TLS port gets a ClientHello per connection.
    if (now - this.#tlsLoggedAt < 60_000) return;
    this.#tlsLoggedAt = now;
    this.log?.warn(
      'a TLS connection reached a port with HTTP filters: its requests cannot be seen, so it went to the app (filters match only cleartext HTTP)',
      {
        intercepts: filtered,
        tlsConnections: this.stats.tls,
      },
    );
  }

  engagements(): Engagements {
    return this.#eng();
  }

  destStats(id: string): DestStats {
    return (this.stats.dest[id] ??= { requests: 0, bytesOut: 0, bytesIn: 0, failures: 0 });
  }

  tapStats(id: string): TapStats {
    return (this.stats.taps[id] ??= { copies: 0, dropped: 0, aborted: 0, bytes: 0, openFailures: 0 });
  }

  newTap(w: WiretapTarget): TapConn {
    return new TapConn(w, this.tapStats(w.id), this.tapSoft, this.tapHard);
  }

  /** @internal `c` holds `bytes` of an incomplete head (0: none any more). Past the router's
   * budget, the heads that have waited longest are dropped, never `c` itself. */
  headBytes(c: Connection, bytes: number): void {
    this.#pendingBytes += bytes - (this.#pendingHeads.get(c) ?? 0);
    if (bytes === 0) {
      this.#pendingHeads.delete(c);
      return;
    }
    this.#pendingHeads.set(c, bytes); // a Map keeps first-insertion order: oldest heads first
    if (this.#pendingBytes <= this.budgets.pendingHeadBytes) return;
    for (const old of [...this.#pendingHeads.keys()]) {
      if (this.#pendingBytes <= this.budgets.pendingHeadBytes) break;
      if (old === c) continue;
      old.expire('evicted');
      this.headBytes(old, 0);
    }
  }

  /**
   * Serve one accepted connection until it ends. Never rejects: failures end the connection.
   * The listener should use `allowHalfOpen: true` so a client's FIN does not cut its answer short.
   */
  async handle(client: Duplex): Promise<void> {
    this.stats.connections++;
    noDelay(client);
    const eng = this.#eng();
    const first = eng.intercepts[0];
    if (eng.wiretaps.length === 0 && (!first || isUnfiltered(first.filter))) {
      this.stats.spliced++;
      const id = first?.id ?? APP;
      return this.#spliceWhole(new Pull(client), id, first?.open ?? eng.app);
    }
    client.on('error', () => {}); // a reset while a budget's answer is on its way is expected
    await new Connection(this, client).run().catch((e: unknown) => {
      this.log?.debug('http connection failed', { err: e });
    });
  }

  async #spliceWhole(client: Pull, id: string, open: () => Promise<Duplex>, tap?: (b: Buffer) => void): Promise<void> {
    let d: Duplex;
    try {
      d = await open();
    } catch (e) {
      this.destStats(id).failures++;
      this.log?.debug('dial failed', { dest: id, err: e });
      client.s.destroy();
      return;
    }
    noDelay(d);
    const r = await splicePulls(client, new Pull(d), {
      idleMs: this.budgets.tunnelIdleTimeoutMs,
      onIdle: () => this.stats.timeouts.tunnel++,
      ...(tap ? { tapAToB: tap } : {}),
    });
    countTunnel(this.destStats(id), r);
  }

  /** @internal a non-HTTP connection on a filtered port: whole to the app (or an unfiltered intercept). */
  async spliceOpaque(client: Pull, taps: Taps): Promise<void> {
    const eng = this.#eng();
    const first = eng.intercepts[0];
    const id = first && isUnfiltered(first.filter) ? first.id : APP;
    taps.begin(eng.wiretaps);
    try {
      await this.#spliceWhole(client, id, id === APP ? eng.app : first!.open, (b) => taps.copy(b));
    } finally {
      taps.end();
      taps.close();
    }
  }
}

class Connection {
  readonly #client: Pull;
  readonly #ups = new Map<string, Upstream>();
  readonly #taps: Taps;
  readonly #dog = new Watchdog();
  /** The budget that ran out; from then on nothing but closing happens. */
  #expired: Expiry | undefined;
  /** Bytes of the head being waited for have arrived (a timeout then gets a 408). */
  #partial = false;
  /** The exchange in progress, if any (its state decides what an idle timeout answers). */
  #x: Exchange | undefined;

  constructor(
    private readonly r: HttpRouter,
    readonly socket: Duplex,
  ) {
    this.#client = new Pull(socket);
    this.#taps = new Taps(r, r.tapRetryMs);
  }

  /**
   * A budget ran out: answer what can still be answered (408 for a head or body the client did not
   * finish, 504 for a destination that did not answer), close, and make every pending read fail.
   */
  expire(why: Expiry): void {
    if (this.#expired) return;
    this.#expired = why;
    this.#dog.clear();
    this.r.stats.timeouts[why]++;
    this.r.log?.debug('budget ran out', { budget: why });
    const x = this.#x;
    if (why === 'tunnel' || (why === 'exchange' && x?.finalStarted)) {
      // Mid-answer or opaque: only an abort tells the client the stream is cut short.
      this.socket.destroy();
    } else if (!this.socket.writableEnded && !this.socket.destroyed) {
      let answer: Buffer | undefined;
      if ((why === 'head' || why === 'evicted') && this.#partial)
        answer = agentResponse(408, 'the request head did not arrive in time', true);
      else if (why === 'exchange' && !x!.bodyDone) answer = agentResponse(408, 'the request body stopped arriving', true);
      else if (why === 'exchange') answer = agentResponse(504, 'the destination did not answer in time', true);
      this.socket.end(answer);
    }
    this.#client.abort(new BudgetExpired(why));
    for (const u of this.#ups.values()) u.d.destroy();
  }

  async run(): Promise<void> {
    let handedOff = false;
    // The first request's head is due this long after the accept, bytes or not.
    this.#dog.deadline(this.r.budgets.headTimeoutMs, () => this.expire('head'));
    try {
      // Sniff: a method token and a space, or this is not HTTP/1 (TLS, a binary protocol).
      let seen: Buffer | null = null;
      for (;;) {
        const b = await this.#client.read();
        if (b === null && !seen) {
          this.socket.end();
          return;
        }
        if (b !== null) seen = seen ? Buffer.concat([seen, b]) : b;
        this.#partial = true;
        const tls = b === null ? 'no' : sniffTls(seen!);
        if (tls === 'more') continue;
        // A few token bytes and then EOF: not a request; the app decides what it means.
        const s = b === null || tls === 'tls' ? 'other' : sniffHttp(seen!);
        if (s === 'more') continue;
        this.#client.unread(seen!);
        if (s === 'other') {
          if (tls === 'tls') this.r.noteTls();
          this.r.stats.notHttp++;
          handedOff = true;
          this.#dog.clear();
          return await this.r.spliceOpaque(this.#client, this.#taps);
        }
        break;
      }
      this.r.stats.http++;
      let n = 0;
      for (;;) {
        const next = await this.#request(n++);
        if (next === 'stop') return;
        if (next === 'handed-off') {
          handedOff = true;
          return;
        }
      }
    } finally {
      this.#dog.clear();
      this.r.headBytes(this, 0);
      if (!handedOff) {
        this.#taps.close();
        for (const u of this.#ups.values()) u.d.destroy();
        if (this.socket.writableEnded && !this.socket.destroyed) {
          // Lingering close: after our answer and FIN, discard what the client still sends (the
          // rest of a refused upload) for a while. Closing with unread bytes would send an RST
          // that can reach the client before it has read our 4xx/502.
          this.#client.detach();
          this.socket.on('error', () => {}); // the Pull's listener is gone; a reset now is expected
          this.socket.on('data', () => {});
          this.socket.resume();
          setTimeout(() => this.socket.destroy(), this.r.budgets.lingerMs).unref();
        } else this.socket.destroy();
      }
    }
  }

  async #readHead(index: number): Promise<Buffer | null> {
    const budgets = this.r.budgets;
    // Between requests the keep-alive budget runs until a byte comes, then the head budget. The
    // first request's head budget runs from the accept (see run()).
    let timed = index === 0;
    if (!timed) {
      this.#partial = false;
      this.#dog.idle(budgets.keepAliveTimeoutMs, () => this.expire('keepAlive'));
    }
    const c = new HeadCollector('request', this.r.limits);
    try {
      for (;;) {
        const b = await this.#client.read();
        if (b === null) return null; // a partial head at EOF is dropped with the connection
        this.#partial = true;
        if (!timed) {
          timed = true;
          this.#dog.deadline(budgets.headTimeoutMs, () => this.expire('head'));
        }
        const got = c.push(b);
        if (got) {
          this.#client.unread(got.rest);
          return got.head;
        }
        this.r.headBytes(this, c.size);
      }
    } finally {
      this.r.headBytes(this, 0);
    }
  }

  /** The rest of the connection is HTTP/2: the router's hub serves it from here. */
  #handOffH2(bytes: Buffer): void {
    this.#dog.clear();
    this.r.headBytes(this, 0);
    for (const u of this.#ups.values()) u.d.destroy();
    this.#ups.clear();
    this.#taps.close();
    const rest = this.#client.detach();
    this.r.h2.adopt(this.socket, rest.length ? Buffer.concat([bytes, ...rest]) : bytes);
  }

  /**
   * RFC 7540 §3.2: 101, then the client's preface; the upgraded request becomes stream 1 of the
   * session (h2c.ts says how). The preface is due within the head budget.
   */
  async #upgradeH2c(settings: Buffer, stream1: Buffer): Promise<'handed-off' | 'stop'> {
    this.#partial = false; // a budget that runs out now closes: no HTTP/1.1 answer after a 101
    this.#dog.deadline(this.r.budgets.headTimeoutMs, () => this.expire('head'));
    try {
      await write(this.socket, SWITCHING_TO_H2C);
    } catch {
      return 'stop';
    }
    let got: Buffer = Buffer.alloc(0);
    for (;;) {
      const r = spliceUpgradePreface(got, settings, stream1);
      if (r instanceof Error) {
        this.r.log?.debug('h2c upgrade failed', { err: r.message });
        this.socket.destroy();
        return 'stop';
      }
      if (r !== 'more') {
        this.r.stats.h2.upgrades++;
        this.#handOffH2(r);
        return 'handed-off';
      }
      const b = await this.#client.read();
      if (b === null) {
        this.socket.destroy();
        return 'stop';
      }
      got = got.length ? Buffer.concat([got, b]) : b;
    }
  }

  async #reject(e: HttpParseError): Promise<'stop'> {
    this.r.stats.rejected++;
    this.r.log?.debug('request rejected', { status: e.status, code: e.code, err: e.message });
    await write(this.socket, agentResponse(e.status, e.message, true)).catch(() => {});
    this.socket.end();
    return 'stop';
  }

  async #upstream(id: string, open: () => Promise<Duplex>): Promise<Upstream> {
    const u = this.#ups.get(id);
    if (u?.reusable) return u;
    u?.d.destroy();
    this.#ups.delete(id);
    const nu = new Upstream(id, await open());
    this.#ups.set(id, nu);
    return nu;
  }

  /** One request and its response. */
  async #request(index: number): Promise<'next' | 'stop' | 'handed-off'> {
    let raw: Buffer | null;
    let req: RequestHead;
    let framer: BodyFramer;
    try {
      raw = await this.#readHead(index);
      if (raw === null) {
        this.socket.end();
        return 'stop';
      }
      req = parseRequestHead(raw);
      if (isH2Preface(req)) {
        if (index > 0) throw new HttpParseError(400, 'E_HTTP_BAD_REQUEST_LINE', 'an HTTP/2 preface in the middle of an HTTP/1 connection');
        // Prior-knowledge HTTP/2 (RFC 9113 §3.3): the agent terminates it and routes each stream.
        this.#client.unread(raw);
        this.#handOffH2(Buffer.alloc(0));
        return 'handed-off';
      }
      framer = new BodyFramer(requestBody(req), 400, this.r.limits);
      if (asksH2c(req)) {
        const ok = h2cUpgradable(req, !framer.done);
        const stream1 = 'settings' in ok ? stream1Headers(req, AGENT_H2C_MAX_HEADERS_BLOCK) : undefined;
        if ('settings' in ok && stream1) return await this.#upgradeH2c(ok.settings, stream1);
        // Served as HTTP/1.1, without the fields that would let a destination switch protocols.
        this.r.stats.h2.upgradesRefused++;
        this.r.log?.debug('h2c upgrade not taken; serving HTTP/1.1', {
          why: 'refuse' in ok ? ok.refuse : 'the head is too large for one HEADERS frame',
        });
        raw = withoutUpgrade(raw);
        req = parseRequestHead(raw);
      }
    } catch (e) {
      if (e instanceof HttpParseError) return this.#reject(e);
      throw e;
    }

    const eng = this.r.engagements();
    const target = pickIntercept(eng.intercepts, req);
    const id = target?.id ?? APP;
    const st = this.r.destStats(id);
    st.requests++;
    this.#taps.begin(eng.wiretaps);
    this.#taps.copy(raw);
    if (framer.done) this.#taps.end();

    const x: Exchange = { finalStarted: false, bodyDone: framer.done, requestError: undefined, clientFailed: false };
    this.#x = x;
    this.#dog.idle(this.r.budgets.exchangeIdleTimeoutMs, () => this.expire('exchange'));
    let up: Upstream;
    try {
      up = await this.#upstream(id, target?.open ?? eng.app);
      if (this.#expired) return 'stop';
    } catch (e) {
      if (this.#expired) return 'stop';
      this.r.log?.debug('dial failed', { dest: id, err: e });
      return this.#badGateway(st, x, req, `could not reach ${id === APP ? 'the app' : `the workstation of ${id}`}`);
    }

    const reqP = this.#pumpRequest(raw, framer, up, st, x);
    let res: { keep: boolean; switched: boolean };
    try {
      res = await this.#pumpResponse(req, up, st, x);
    } catch (e) {
      up.d.destroy();
      this.#ups.delete(id);
      if (this.#expired) return 'stop';
      if (e instanceof UnaskedSwitch) {
        // Closed whatever the request said: the sender of the 101 may think it owns the
        // connection now, and nothing the client sends next may reach it as a request.
        this.r.stats.unaskedSwitches++;
        this.r.log?.info('a destination answered 101 to a request that did not ask to upgrade; refused', { dest: id });
        return this.#badGateway(
          st,
          x,
          req,
          `${id === APP ? 'the app' : `the workstation of ${id}`} answered 101 Switching Protocols to a request that did not ask to upgrade`,
          true,
        );
      }
      // If the request side is still reading the client (a slow upload, or a client waiting for
      // 100-continue), do not wait for it: answer now and close. It ends when the client does.
      if (framer.done) await reqP;
      if (this.#expired) return 'stop';
      if (x.clientFailed) return 'stop';
      if (x.requestError instanceof HttpParseError && !x.finalStarted) return this.#reject(x.requestError);
      this.r.log?.debug('upstream failed', { dest: id, err: e });
      if (x.finalStarted) {
        st.failures++;
        return 'stop';
      }
      return this.#badGateway(st, x, req, `${id === APP ? 'the app' : `the workstation of ${id}`} failed before answering`);
    }
    if (!framer.done) {
      // The answer is complete before the request body was read (an early 401/413, or a 417 to
      // `Expect: 100-continue`): the rest of the body has nowhere useful to go, so close, as
      // RFC 9112 §9.6 allows, rather than wait on a client that may never send it.
      up.d.destroy();
      this.#ups.delete(id);
      this.socket.end();
      return 'stop';
    }
    await reqP;
    this.#x = undefined;
    if (x.clientFailed || this.#expired) return 'stop';
    if (res.switched) {
      if (x.requestError) return 'stop';
      // 101 (to a request that asked for it) / CONNECT 2xx: the rest of the connection belongs to
      // whoever got this request.
      this.r.stats.switched++;
      this.#taps.end();
      this.#taps.close();
      for (const [k, u] of this.#ups) if (u !== up) (u.d.destroy(), this.#ups.delete(k));
      // From here the tunnel budget is the splice's idle limit.
      this.#dog.clear();
      const r = await splicePulls(this.#client, up.pull, {
        idleMs: this.r.budgets.tunnelIdleTimeoutMs,
        onIdle: () => this.expire('tunnel'),
      });
      countTunnel(st, r);
      return 'handed-off';
    }
    if (x.requestError) {
      // The answer is out, but the request body broke: the connection is out of step.
      up.d.destroy();
      this.#ups.delete(id);
      return 'stop';
    }
    if (!res.keep) {
      up.d.destroy();
      this.#ups.delete(id);
    }
    if (!res.keep || !keepsAlive(req)) {
      this.socket.end();
      return 'stop';
    }
    return 'next';
  }

  async #badGateway(st: DestStats, x: Exchange, req: RequestHead, msg: string, close = false): Promise<'next' | 'stop'> {
    st.failures++;
    this.r.stats.rejected++;
    // Keep the connection only if the client's request was read completely (so the next bytes are
    // a new request) and it wants to keep it.
    const keep = !close && x.bodyDone && !x.requestError && keepsAlive(req);
    try {
      await write(this.socket, agentResponse(502, msg, !keep));
    } catch {
      return 'stop';
    }
    if (!keep) {
      this.socket.end();
      return 'stop';
    }
    return 'next';
  }

  /** The request head and body to the destination (and copies to the wiretaps). Never rejects. */
  async #pumpRequest(raw: Buffer, framer: BodyFramer, up: Upstream, st: DestStats, x: Exchange): Promise<void> {
    try {
      await write(up.d, raw);
      st.bytesOut += raw.length;
      while (!framer.done) {
        let b: Buffer | null;
        try {
          b = await this.#client.read();
        } catch (e) {
          x.clientFailed = true;
          throw e;
        }
        this.#dog.touch();
        if (b === null) {
          x.clientFailed = true;
          throw new StreamClosedError('the client closed in the middle of a request body');
        }
        const n = framer.feed(b); // throws on malformed chunked framing, before forwarding
        const part = n === b.length ? b : b.subarray(0, n);
        if (n < b.length) this.#client.unread(b.subarray(n));
        this.#taps.copy(part);
        if (framer.done) this.#taps.end();
        await write(up.d, part);
        st.bytesOut += part.length;
      }
      x.bodyDone = true;
    } catch (e) {
      x.requestError = e;
      // A budget's answer (408) may still be on its way out: expire() closes the socket itself.
      if (x.clientFailed && !this.#expired) this.socket.destroy();
      // Wakes the response side if it is still waiting, so the exchange ends either way.
      up.d.destroy();
    }
  }

  /** Response heads (1xx included) and the final response's body, back to the client. */
  async #pumpResponse(req: RequestHead, up: Upstream, st: DestStats, x: Exchange): Promise<{ keep: boolean; switched: boolean }> {
    const toClient = async (b: Buffer) => {
      try {
        await write(this.socket, b);
      } catch (e) {
        x.clientFailed = true;
        throw e;
      }
      // The client took it: a client that stops reading stops these, and the idle budget ends it.
      this.#dog.touch();
      st.bytesIn += b.length;
    };
    const fromUpstream = async () => {
      const b = await up.pull.read();
      this.#dog.touch();
      return b;
    };
    for (;;) {
      const c = new HeadCollector('response', this.r.limits);
      let got: { head: Buffer; rest: Buffer } | null = null;
      while (!got) {
        const b = await fromUpstream();
        if (b === null) throw new StreamClosedError('the destination closed before answering');
        got = c.push(b);
      }
      up.pull.unread(got.rest);
      const h = parseResponseHead(got.head);
      const kind = responseBody(h, req.method);
      if (kind.kind === 'interim') {
        await toClient(got.head);
        continue;
      }
      // RFC 9110 §15.2.2: a server MUST NOT switch to a protocol the client did not ask for.
      if (h.status === 101 && !asksUpgrade(req)) throw new UnaskedSwitch();
      x.finalStarted = true;
      await toClient(got.head);
      if (kind.kind === 'switch') return { keep: false, switched: true };
      const framer = new BodyFramer(kind, 502, this.r.limits);
      while (!framer.done) {
        const b = await fromUpstream();
        if (b === null) {
          if (framer.eof()) break;
          throw new StreamClosedError('the destination closed in the middle of a response body');
        }
        const n = framer.feed(b);
        if (n < b.length) up.pull.unread(b.subarray(n));
        await toClient(n === b.length ? b : b.subarray(0, n));
      }
      return { keep: kind.kind !== 'close' && keepsAlive(h), switched: false };
    }
  }
}
