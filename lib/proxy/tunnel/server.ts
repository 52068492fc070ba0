// The traffic manager's end of the tunnel: one HTTP/2 (h2c) session per peer, reached through a
// kube port-forward or loopback only, so there is no TLS here (DESIGN.md §3 "Auth").
//
// Streams on a session, by :method and path:
//   POST /v1/handshake          version + capabilities; must come first on every session
//   POST /v1/<method>           control call: JSON in, JSON out (errors: WireError + status)
//   POST /v1/watch/<topic>      JSON in, NDJSON out until either side ends
//   CONNECT host:port           TCP flow: dial, 200 only once connected, then splice
//   CONNECT :protocol connect-udp, :path /.well-known/masque/udp/{host}/{port}/   UDP flow
//   CONNECT :protocol <kind>    a stream kind the API registered (connectKind): its handler
//                               authorizes it and supplies the other end, then splice
//
// Authentication belongs to the API (its hello); the server only enforces that, while a
// connection has no `auth`, nothing but the handshake and the API's unauthenticated calls is
// served, and nothing of a refused stream is read.

import { EventEmitter } from 'node:events';
import http2, { constants, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type Dialer, type UdpFlow } from '../dialer.js';
import { validator } from '../../common/rpc/schema.js';
import { TunnelCallError, TunnelParseError } from './errors.js';
import { IdleTimer } from './idle.js';
import { encodeNdjson } from './ndjson.js';
import {
  type ApiDefinition,
  type ApiSpec,
  type CallName,
  type CallRequest,
  type CallResponse,
  type Capability,
  DEFAULT_CAPABILITIES,
  ERROR_CODES,
  handshakeSchema,
  type HandshakeRequest,
  type HandshakeResponse,
  HEADERS,
  NAME_RE,
  NO_API,
  type NoApi,
  negotiateVersion,
  PATHS,
  STREAM_KIND_RE,
  type TopicName,
  TUNNEL_PROTOCOL_MIN_VERSION,
  TUNNEL_PROTOCOL_VERSION,
  type Validator,
  type WatchEvent,
  type WatchRequest,
  type WireError,
  dialFailureStatus,
  encodeHeaderText,
} from './protocol.js';
import {
  AUTH_TIMEOUT_MS,
  MAX_CALL_BODY,
  MAX_CONNECTIONS,
  MAX_SERVER_SESSION_MEMORY_MB,
  MAX_SESSION_MEMORY_MB,
  MAX_STREAMS_PER_CONNECTION,
  MAX_STREAMS_UNAUTHENTICATED,
  MAX_UNAUTHENTICATED_BODY,
  MAX_UNAUTHENTICATED_CONNECTIONS,
  MAX_UNAUTHENTICATED_PER_PEER,
  MAX_WATCH_BUFFERED,
  SESSION_WINDOW,
  STREAM_WINDOW,
  UDP_IDLE_MS,
  UNAUTHENTICATED_STREAM_WINDOW,
  serverSettings,
} from './settings.js';
import { splice } from '../splice.js';
import { parseAuthority, parseUdpPath } from './target.js';
import { StreamUdpFlow } from './udp-flow.js';

/** One HTTP/2 connection from a peer. The API's hello sets `auth` (who the peer proved to be);
 * every later stream of the connection is bound to it. */
export class PeerConnection<Auth = unknown> {
  static #next = 1;
  readonly id = PeerConnection.#next++;
  /** Set by the handshake. */
  version: number | undefined;
  peer: string | undefined;
  capabilities: Capability[] = [];
  #auth: Auth | undefined;
  /** Set by the server: lifts the connection's pre-authentication budgets. */
  onAuthenticated: (() => void) | undefined;
  constructor(readonly h2: ServerHttp2Session) {}
  /** Set by the API's authenticating call; undefined until then. */
  get auth(): Auth | undefined {
    return this.#auth;
  }
  set auth(a: Auth | undefined) {
    this.#auth = a;
    if (a !== undefined) this.onAuthenticated?.();
  }
  /** The peer's address as the server socket saw it (a port-forward shows as loopback). */
  get remoteAddress(): string | undefined {
    return this.h2.socket?.remoteAddress;
  }
}

export interface StreamContext<Auth = unknown> {
  readonly conn: PeerConnection<Auth>;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the stream closes (the peer cancelled or the session died). */
  readonly signal: AbortSignal;
}

export type CallHandler<A extends ApiSpec, M extends CallName<A>, Auth> = (
  req: CallRequest<A, M>,
  ctx: StreamContext<Auth>,
) => CallResponse<A, M> | Promise<CallResponse<A, M>>;
/** Emits one event; returns false once the watch is over (cancelled, or cut off as too slow). */
export type Emit<E> = (event: E) => boolean;
export type WatchHandler<A extends ApiSpec, T extends TopicName<A>, Auth> = (
  req: WatchRequest<A, T>,
  emit: Emit<WatchEvent<A, T>>,
  ctx: StreamContext<Auth>,
) => void | Promise<void>;
/** Opens the other end of a stream of one kind, or throws a DialError (its failure becomes the
 * status: 'forbidden' 403, 'timeout' 504, else 502). `path` is the request's `:path`. Or it takes
 * the stream itself: `accept()` answers 200 and hands over this stream (to be spliced by whoever
 * gets it — the other half of a pairing), and the handler resolves undefined. Two streams of one
 * pairing are spliced to each other directly: no copy in between. */
export type StreamKindHandler<Auth> = (path: string, ctx: StreamContext<Auth>, accept: () => Duplex) => Promise<Duplex | undefined>;

/** Connection and stream budgets of a server (defaults in settings.ts). */
export interface TunnelServerLimits {
  maxConnections: number;
  maxUnauthenticated: number;
  maxUnauthenticatedPerPeer: number;
  authTimeoutMs: number;
  maxStreams: number;
}

export interface TunnelServerOptions<A extends ApiSpec, Auth> {
  /** The API this server serves: its validators and unauthenticated calls. */
  api?: ApiDefinition<A>;
  /** Where CONNECT streams go. A function picks per stream (e.g. per session, for policy) and may
   * return undefined to refuse. Without one, every CONNECT is answered 403 'forbidden'. */
  dialer?: Dialer | ((ctx: StreamContext<Auth>) => Dialer | undefined);
  capabilities?: Capability[];
  udpIdleMs?: number;
  /** Overrides for tests of version negotiation. */
  version?: number;
  minVersion?: number;
  limits?: Partial<TunnelServerLimits>;
}

export interface TunnelServerStats {
  connections: number;
  calls: number;
  watches: number;
  tcpFlows: number;
  udpFlows: number;
  kindStreams: number;
  dialFailures: number;
  badRequests: number;
  unauthenticated: number;
  /** Connections closed at once because a connection budget was full. */
  shed: number;
  /** Connections closed because they did not authenticate in time. */
  authTimeouts: number;
}

/** Events: 'connection' (PeerConnection), 'connection-close' (PeerConnection). */
export class TunnelServer<A extends ApiSpec = NoApi, Auth = unknown> extends EventEmitter {
  readonly h2: Http2Server;
  readonly connections = new Set<PeerConnection<Auth>>();
  readonly #bySession = new WeakMap<object, PeerConnection<Auth>>();
  readonly stats: TunnelServerStats = {
    connections: 0,
    calls: 0,
    watches: 0,
    tcpFlows: 0,
    udpFlows: 0,
    kindStreams: 0,
    dialFailures: 0,
    badRequests: 0,
    unauthenticated: 0,
    shed: 0,
    authTimeouts: 0,
  };
  readonly #calls = new Map<string, CallHandler<A, CallName<A>, Auth>>();
  readonly #watches = new Map<string, WatchHandler<A, TopicName<A>, Auth>>();
  readonly #kinds = new Map<string, StreamKindHandler<Auth>>();
  readonly #opts: TunnelServerOptions<A, Auth>;
  readonly #api: ApiDefinition<A>;
  readonly #versions: { version: number; minVersion: number };
  readonly limits: TunnelServerLimits;
  /** Connections not yet authenticated, in total and per peer address. */
  #pending = 0;
  readonly #pendingByPeer = new Map<string, number>();
  #sockets = 0;

  constructor(opts: TunnelServerOptions<A, Auth> = {}) {
    super();
    this.#opts = opts;
    this.#api = opts.api ?? (NO_API as unknown as ApiDefinition<A>);
    this.#versions = {
      version: opts.version ?? TUNNEL_PROTOCOL_VERSION,
      minVersion: opts.minVersion ?? TUNNEL_PROTOCOL_MIN_VERSION,
    };
    this.limits = {
      maxConnections: MAX_CONNECTIONS,
      maxUnauthenticated: MAX_UNAUTHENTICATED_CONNECTIONS,
      maxUnauthenticatedPerPeer: MAX_UNAUTHENTICATED_PER_PEER,
      authTimeoutMs: AUTH_TIMEOUT_MS,
      maxStreams: MAX_STREAMS_PER_CONNECTION,
      ...opts.limits,
    };
    const requiresAuth = this.#api.unauthenticated.length > 0;
    this.h2 = http2.createServer({
      // A connection starts with room for its handshake and hello only; its hello raises it.
      settings: requiresAuth
        ? { ...serverSettings, maxConcurrentStreams: MAX_STREAMS_UNAUTHENTICATED, initialWindowSize: UNAUTHENTICATED_STREAM_WINDOW }
        : { ...serverSettings, maxConcurrentStreams: this.limits.maxStreams },
      maxSessionMemory: requiresAuth ? MAX_SERVER_SESSION_MEMORY_MB : MAX_SESSION_MEMORY_MB,
    });
    this.h2.on('connection', (sock: Socket) => {
      sock.setNoDelay?.(true);
      this.#sockets++;
      sock.once('close', () => this.#sockets--);
      if (this.#sockets > this.limits.maxConnections) {
        // Shed new work, keep serving the sessions we have. Not synchronously: Node is still
        // setting the session up on this socket (it feeds it bytes already read, as the port
        // mux leaves them) and a session destroyed under it throws from its core.
        this.stats.shed++;
        setImmediate(() => sock.destroy());
      }
    });
    this.h2.on('session', (s: ServerHttp2Session) => this.#onSession(s));
    this.h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
    // A broken peer must never take the manager down; the session's own 'close' cleans up.
    this.h2.on('sessionError', () => {});
  }

  /** Registers a control call of the API; its validator runs before the handler. */
  handle<M extends CallName<A>>(method: M, handler: CallHandler<A, M, Auth>): this {
    if (!NAME_RE.test(method)) throw new Error(`bad control method name ${JSON.stringify(method)}`);
    if (!(method in this.#api.calls)) throw new Error(`${method} is not a call of this API`);
    this.#calls.set(method, handler as unknown as CallHandler<A, CallName<A>, Auth>);
    return this;
  }

  /** Registers a watch topic of the API. The stream ends when the handler's promise settles. */
  watch<T extends TopicName<A>>(topic: T, handler: WatchHandler<A, T, Auth>): this {
    if (!NAME_RE.test(topic)) throw new Error(`bad watch topic ${JSON.stringify(topic)}`);
    if (!(topic in this.#api.watches)) throw new Error(`${topic} is not a watch of this API`);
    this.#watches.set(topic, handler as unknown as WatchHandler<A, TopicName<A>, Auth>);
    return this;
  }

  /** Registers a stream kind: `CONNECT` with `:protocol` = kind. */
  connectKind(kind: string, handler: StreamKindHandler<Auth>): this {
    if (!STREAM_KIND_RE.test(kind) || kind === 'connect-udp') throw new Error(`bad stream kind ${JSON.stringify(kind)}`);
    this.#kinds.set(kind, handler);
    return this;
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.h2.once('error', reject);
      this.h2.listen(port, host, () => {
        this.h2.off('error', reject);
        resolve(this.h2.address() as AddressInfo);
      });
    });
  }

  /** Serves a connection that arrived some other way (the agent port, a test pipe). */
  accept(socket: Duplex): void {
    this.h2.emit('connection', socket);
  }

  /** Stops listening and drops every session (flows are reset; peers see their session close). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.h2.listening ? this.h2.close(() => resolve()) : resolve()));
    for (const c of this.connections) c.h2.destroy();
    await closed;
  }

  #onSession(s: ServerHttp2Session): void {
    const requiresAuth = this.#api.unauthenticated.length > 0;
    // The stream window comes from SETTINGS; the session window only grows via WINDOW_UPDATE.
    // A peer that has not authenticated keeps the protocol's small default windows.
    if (!requiresAuth) s.setLocalWindowSize(SESSION_WINDOW);
    const conn = new PeerConnection<Auth>(s);
    this.connections.add(conn);
    this.#bySession.set(s, conn);
    this.stats.connections++;
    s.on('error', () => {});
    let release = () => {};
    if (requiresAuth) {
      const peer = conn.remoteAddress ?? 'unknown';
      const perPeer = this.#pendingByPeer.get(peer) ?? 0;
      if (this.#pending >= this.limits.maxUnauthenticated || perPeer >= this.limits.maxUnauthenticatedPerPeer) {
        this.stats.shed++;
        setImmediate(() => s.destroy()); // see the 'connection' handler: never under Node's setup
        return;
      }
      this.#pending++;
      this.#pendingByPeer.set(peer, perPeer + 1);
      const timer = setTimeout(() => {
        if (conn.auth !== undefined) return;
        this.stats.authTimeouts++;
        s.destroy();
      }, this.limits.authTimeoutMs);
      timer.unref?.();
      let released = false;
      release = () => {
        if (released) return;
        released = true;
        clearTimeout(timer);
        this.#pending--;
        const n = (this.#pendingByPeer.get(peer) ?? 1) - 1;
        if (n > 0) this.#pendingByPeer.set(peer, n);
        else this.#pendingByPeer.delete(peer);
      };
      conn.onAuthenticated = () => {
        release();
        try {
          s.settings({ maxConcurrentStreams: this.limits.maxStreams, initialWindowSize: STREAM_WINDOW });
          s.setLocalWindowSize(SESSION_WINDOW);
        } catch {
          // the session is closing
        }
      };
    }
    s.once('close', () => {
      release();
      this.connections.delete(conn);
      this.emit('connection-close', conn);
    });
    this.emit('connection', conn);
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const conn = this.#connOf(stream);
    if (conn === undefined) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const method = headers[':method'];
    const path = headers[':path'] ?? '';
    if (method === 'POST' && path === PATHS.handshake) return void this.#handshake(stream, conn);

    // A CONNECT is answered the way a client maps dial failures (reason header), the rest in JSON.
    const refuse = (status: number, body: WireError) =>
      method === 'CONNECT'
        ? this.#rejectDial(stream, status, status === 401 ? 'forbidden' : 'other', body.message)
        : this.#reject(stream, status, body);
    // Refused unread: the answer in headers only (no body to wait behind), then RST_STREAM
    // NO_ERROR, which tells the peer to stop sending the request (RFC 9113 §8.1).
    const refuseUnread = (status: number, body: WireError) => {
      if (method === 'CONNECT') this.#rejectDial(stream, status, status === 401 ? 'forbidden' : 'other', body.message);
      else if (!stream.closed && !stream.destroyed && !stream.headersSent) {
        if (status === 400) this.stats.badRequests++;
        stream.respond(
          { ':status': status, [HEADERS.errorCode]: body.error, [HEADERS.errorMessage]: encodeHeaderText(body.message) },
          { endStream: true },
        );
      }
      stream.close(constants.NGHTTP2_NO_ERROR);
    };
    if (conn.version === undefined) {
      const body = {
        error: ERROR_CODES.noHandshake,
        message: `the tunnel handshake (POST ${PATHS.handshake}) must come before any other request`,
      };
      // Nothing of the refused request is read or kept where the API needs authentication.
      return this.#api.unauthenticated.length > 0 ? refuseUnread(400, body) : refuse(400, body);
    }
    const sent = headers[HEADERS.version];
    if (sent !== undefined && Number(sent) !== conn.version) {
      return refuse(400, {
        error: ERROR_CODES.version,
        message: `request speaks tunnel protocol version ${String(sent)}, this session negotiated ${conn.version}`,
      });
    }
    const call =
      method === 'POST' && path.startsWith(PATHS.callPrefix) && !path.startsWith(PATHS.watchPrefix)
        ? path.slice(PATHS.callPrefix.length)
        : undefined;
    const open = this.#api.unauthenticated.length === 0 || conn.auth !== undefined;
    if (!open && !(call !== undefined && (this.#api.unauthenticated as readonly string[]).includes(call))) {
      // Nothing of a peer that has not proved who it is gets read or held: answer and reset.
      this.stats.unauthenticated++;
      return refuseUnread(401, { error: ERROR_CODES.unauthenticated, message: 'this connection has not authenticated; say hello first' });
    }

    const ac = new AbortController();
    stream.once('close', () => ac.abort());
    const ctx: StreamContext<Auth> = { conn, headers, signal: ac.signal };
    const bodyLimit = open ? MAX_CALL_BODY : (this.#api.unauthenticatedBodyLimit ?? MAX_UNAUTHENTICATED_BODY);

    if (method === 'CONNECT') {
      const protocol = headers[':protocol'];
      if (protocol === undefined) return void this.#connectTcp(stream, ctx);
      if (protocol === 'connect-udp') return void this.#connectUdp(stream, ctx, path);
      const kind = typeof protocol === 'string' ? this.#kinds.get(protocol) : undefined;
      if (kind !== undefined) return void this.#connectKind(stream, ctx, kind, path);
      return this.#rejectDial(stream, 501, 'other', `unsupported CONNECT protocol ${String(protocol)}`);
    }
    if (method !== 'POST') {
      return this.#reject(stream, 405, { error: ERROR_CODES.badRequest, message: `method ${method} not allowed` });
    }
    if (path.startsWith(PATHS.watchPrefix)) return void this.#watch(stream, ctx, path.slice(PATHS.watchPrefix.length));
    if (call !== undefined) return void this.#call(stream, ctx, call, bodyLimit);
    this.#reject(stream, 404, { error: ERROR_CODES.unknownMethod, message: `no route for ${path}` });
  }

  #connOf(stream: ServerHttp2Stream): PeerConnection<Auth> | undefined {
    return stream.session ? this.#bySession.get(stream.session) : undefined;
  }

  async #handshake(stream: ServerHttp2Stream, conn: PeerConnection<Auth>): Promise<void> {
    let req: HandshakeRequest;
    try {
      req = validating(validateHandshake, await readJson(stream, MAX_UNAUTHENTICATED_BODY));
    } catch (err) {
      return this.#rejectErr(stream, err);
    }
    const v = negotiateVersion(this.#versions, req);
    if (!v.ok) return this.#reject(stream, 426, { error: ERROR_CODES.version, message: v.message });
    conn.version = v.version;
    conn.peer = req.peer;
    conn.capabilities = req.capabilities;
    const res: HandshakeResponse = {
      version: v.version,
      capabilities: [...(this.#opts.capabilities ?? DEFAULT_CAPABILITIES)],
    };
    respondJson(stream, 200, res);
  }

  async #call(stream: ServerHttp2Stream, ctx: StreamContext<Auth>, name: string, bodyLimit: number): Promise<void> {
    const handler = this.#calls.get(name);
    const validate = (this.#api.calls as Record<string, Validator<unknown>>)[name];
    if (handler === undefined || validate === undefined) {
      return this.#reject(stream, 404, {
        error: ERROR_CODES.unknownMethod,
        message: `the traffic manager has no control call "${name}"`,
      });
    }
    this.stats.calls++;
    try {
      const body = await readJson(stream, bodyLimit);
      const req = validating(validate, body);
      const res = await handler(req as CallRequest<A, CallName<A>>, ctx);
      respondJson(stream, 200, res ?? {});
    } catch (err) {
      this.#rejectErr(stream, err);
    }
  }

  async #watch(stream: ServerHttp2Stream, ctx: StreamContext<Auth>, topic: string): Promise<void> {
    const handler = this.#watches.get(topic);
    const validate = (this.#api.watches as Record<string, Validator<unknown>>)[topic];
    if (handler === undefined || validate === undefined) {
      return this.#reject(stream, 404, { error: ERROR_CODES.unknownMethod, message: `no watch topic "${topic}"` });
    }
    this.stats.watches++;
    let req: unknown;
    try {
      const body = await readJson(stream, MAX_CALL_BODY);
      req = validating(validate, body);
    } catch (err) {
      return this.#rejectErr(stream, err);
    }
    if (stream.closed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    const emit = (event: unknown): boolean => {
      if (stream.closed || stream.destroyed || !stream.writable) return false;
      if (stream.writableLength > MAX_WATCH_BUFFERED) {
        // The reader is not keeping up; holding more would grow without bound.
        stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
        return false;
      }
      stream.write(encodeNdjson({ event }));
      return true;
    };
    try {
      await handler(req as WatchRequest<A, TopicName<A>>, emit as Emit<WatchEvent<A, TopicName<A>>>, ctx);
      if (stream.writable) stream.end();
    } catch (err) {
      // The status is already sent: the error travels as the last line.
      if (stream.writable) stream.end(encodeNdjson(wireErrorOf(err).body));
    }
  }

  async #connectTcp(stream: ServerHttp2Stream, ctx: StreamContext<Auth>): Promise<void> {
    const authority = ctx.headers[':authority'] ?? '';
    const target = parseAuthority(authority);
    if (target === undefined) return this.#rejectDial(stream, 400, 'other', `bad CONNECT target "${authority}"`);
    const dialer = this.#dialerFor(ctx);
    if (dialer === undefined) return this.#rejectDial(stream, 403, 'forbidden', 'this tunnel does not dial out');
    let sock: Duplex;
    try {
      sock = await dialer.dialTcp(target.host, target.port, ctx.signal);
    } catch (err) {
      return this.#dialFailed(stream, err);
    }
    if (stream.closed || stream.destroyed) {
      // The peer gave up while we dialled.
      sock.destroy();
      return;
    }
    this.stats.tcpFlows++;
    stream.respond({ ':status': 200 });
    await splice(stream, sock);
  }

  async #connectKind(stream: ServerHttp2Stream, ctx: StreamContext<Auth>, open: StreamKindHandler<Auth>, path: string): Promise<void> {
    let other: Duplex | undefined;
    const accept = (): Duplex => {
      this.stats.kindStreams++;
      stream.respond({ ':status': 200 });
      return stream;
    };
    try {
      other = await open(path, ctx, accept);
    } catch (err) {
      return this.#dialFailed(stream, err);
    }
    if (other === undefined) return; // taken by the handler: its new owner splices it
    if (stream.closed || stream.destroyed) {
      other.destroy();
      return;
    }
    this.stats.kindStreams++;
    stream.respond({ ':status': 200 });
    await splice(stream, other);
  }

  async #connectUdp(stream: ServerHttp2Stream, ctx: StreamContext<Auth>, path: string): Promise<void> {
    const target = parseUdpPath(path);
    if (target === undefined) return this.#rejectDial(stream, 400, 'other', `bad connect-udp path "${path}"`);
    const dialer = this.#dialerFor(ctx);
    if (dialer === undefined) return this.#rejectDial(stream, 403, 'forbidden', 'this tunnel does not dial out');
    let flow: UdpFlow;
    try {
      flow = await dialer.dialUdp(target.host, target.port, ctx.signal);
    } catch (err) {
      return this.#dialFailed(stream, err);
    }
    if (stream.closed || stream.destroyed) {
      flow.close();
      return;
    }
    this.stats.udpFlows++;
    stream.respond({ ':status': 200, [HEADERS.capsuleProtocol]: '?1' });
    relayUdp(new StreamUdpFlow(stream), flow, this.#opts.udpIdleMs ?? UDP_IDLE_MS);
  }

  #dialerFor(ctx: StreamContext<Auth>): Dialer | undefined {
    const d = this.#opts.dialer;
    return typeof d === 'function' ? d(ctx) : d;
  }

  #dialFailed(stream: ServerHttp2Stream, err: unknown): void {
    this.stats.dialFailures++;
    if (err instanceof DialError) this.#rejectDial(stream, dialFailureStatus(err.failure), err.failure, err.message);
    else this.#rejectDial(stream, 502, 'other', (err as Error)?.message ?? String(err));
  }

  #rejectDial(stream: ServerHttp2Stream, status: number, failure: string, message: string): void {
    if (status === 400) this.stats.badRequests++;
    if (stream.closed || stream.destroyed || stream.headersSent) return;
    stream.respond(
      { ':status': status, [HEADERS.dialError]: failure, [HEADERS.dialMessage]: encodeHeaderText(message) },
      { endStream: true },
    );
  }

  #rejectErr(stream: ServerHttp2Stream, err: unknown): void {
    const { status, body } = wireErrorOf(err);
    this.#reject(stream, status, body);
  }

  #reject(stream: ServerHttp2Stream, status: number, body: WireError): void {
    if (status === 400) this.stats.badRequests++;
    respondJson(stream, status, body);
  }
}

/** Relays datagrams both ways until either flow closes or nothing moves for idleMs. */
function relayUdp(remote: StreamUdpFlow, target: UdpFlow, idleMs: number): void {
  const idle = new IdleTimer(idleMs, () => {
    remote.close();
    target.close();
  });
  remote.onDatagram((p) => {
    idle.touch();
    target.send(p);
  });
  target.onDatagram((p) => {
    idle.touch();
    remote.send(p);
  });
  const end = () => {
    idle.stop();
    remote.close();
    target.close();
  };
  void remote.closed.then(end);
  void target.closed.then(end);
}

const validateHandshake = validator(handshakeSchema);

class BadRequest extends TunnelCallError {
  constructor(message: string, code: WireError['error'] = ERROR_CODES.badRequest, status = 400) {
    super(code, message, status);
  }
}

function validating<R>(validate: Validator<R>, body: unknown): R {
  try {
    return validate(body);
  } catch (err) {
    throw err instanceof TunnelCallError ? err : new BadRequest(`invalid request: ${(err as Error).message}`);
  }
}

function wireErrorOf(err: unknown): { status: number; body: WireError } {
  if (err instanceof TunnelCallError) return { status: err.status, body: err.toWire() };
  if (err instanceof TunnelParseError) return { status: 400, body: { error: ERROR_CODES.badRequest, message: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { error: ERROR_CODES.internal, message } };
}

function respondJson(stream: ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': status, 'content-type': 'application/json' });
  stream.end(JSON.stringify(body));
}

/** Reads a bounded JSON body; an empty body reads as {}. */
function readJson(stream: Duplex, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        stream.pause();
        reject(new BadRequest(`request body over ${limit} bytes`, ERROR_CODES.tooLarge, 413));
        return;
      }
      chunks.push(c);
    });
    stream.once('end', () => {
      if (size > limit) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new BadRequest(`request body is not JSON: ${(err as Error).message}`));
      }
    });
    stream.once('close', () => reject(new BadRequest('stream closed before the request body ended')));
  });
}
