// The traffic manager's end of the tunnel: one HTTP/2 (h2c) session per peer, reached through a
// kube port-forward or loopback only, so there is no TLS here (DESIGN.md §3 "Auth").
//
// Streams on a session, by :method and path:
//   POST /v1/handshake          version + capabilities; must come first on every session
//   POST /v1/<method>           control call: JSON in, JSON out (errors: WireError + status)
//   POST /v1/watch/<topic>      JSON in, NDJSON out until either side ends
//   CONNECT host:port           TCP flow: dial, 200 only once connected, then splice
//   CONNECT :protocol connect-udp, :path /.well-known/masque/udp/{host}/{port}/   UDP flow

import { EventEmitter } from 'node:events';
import http2, {
  constants,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type Dialer, type UdpFlow } from '../dialer.js';
import { TunnelCallError, TunnelParseError } from './errors.js';
import { IdleTimer } from './idle.js';
import { encodeNdjson } from './ndjson.js';
import {
  type CallRequest,
  type CallResponse,
  type Capability,
  DEFAULT_CAPABILITIES,
  ERROR_CODES,
  type HandshakeRequest,
  type HandshakeResponse,
  HEADERS,
  type Method,
  NAME_RE,
  negotiateVersion,
  PATHS,
  type Topic,
  TUNNEL_PROTOCOL_MIN_VERSION,
  TUNNEL_PROTOCOL_VERSION,
  type WatchEvent,
  type WatchRequest,
  type WireError,
  dialFailureStatus,
  encodeHeaderText,
} from './protocol.js';
import { MAX_CALL_BODY, MAX_SESSION_MEMORY_MB, MAX_WATCH_BUFFERED, SESSION_WINDOW, UDP_IDLE_MS, serverSettings } from './settings.js';
import { splice } from './splice.js';
import { parseAuthority, parseUdpPath } from './target.js';
import { StreamUdpFlow } from './udp-flow.js';

/** One HTTP/2 connection from a peer. The manager hangs its own state on it (`sessionId`,
 * `attrs`) so that later streams on the same connection know whose they are. */
export class PeerConnection {
  static #next = 1;
  readonly id = PeerConnection.#next++;
  /** Set by the handshake. */
  version: number | undefined;
  peer: string | undefined;
  capabilities: Capability[] = [];
  /** Set by the manager's hello handler; streams without HEADERS.session fall back to it. */
  sessionId: string | undefined;
  readonly attrs = new Map<string, unknown>();
  constructor(readonly h2: ServerHttp2Session) {}
}

export interface StreamContext {
  readonly conn: PeerConnection;
  /** HEADERS.session if the peer sent one, else the connection's. */
  readonly sessionId: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the stream closes (the peer cancelled or the session died). */
  readonly signal: AbortSignal;
}

export type CallHandler<M extends Method> = (
  req: CallRequest<M>,
  ctx: StreamContext,
) => CallResponse<M> | Promise<CallResponse<M>>;
/** Emits one event; returns false once the watch is over (cancelled, or cut off as too slow). */
export type Emit<T extends Topic> = (event: WatchEvent<T>) => boolean;
export type WatchHandler<T extends Topic> = (
  req: WatchRequest<T>,
  emit: Emit<T>,
  ctx: StreamContext,
) => void | Promise<void>;
/** Turns untrusted JSON into a request or throws (→ 400 with the thrown message). */
export type Validator<R> = (body: unknown) => R;

export interface TunnelServerOptions {
  /** Where CONNECT streams go. A function picks per stream (e.g. per session, for policy).
   * Without one, every CONNECT is answered 403 'forbidden'. */
  dialer?: Dialer | ((ctx: StreamContext) => Dialer);
  capabilities?: Capability[];
  udpIdleMs?: number;
  /** Overrides for tests of version negotiation. */
  version?: number;
  minVersion?: number;
}

export interface TunnelServerStats {
  connections: number;
  calls: number;
  watches: number;
  tcpFlows: number;
  udpFlows: number;
  dialFailures: number;
  badRequests: number;
}

/** Events: 'connection' (PeerConnection), 'connection-close' (PeerConnection). */
export class TunnelServer extends EventEmitter {
  readonly h2: Http2Server;
  readonly connections = new Set<PeerConnection>();
  readonly #bySession = new WeakMap<object, PeerConnection>();
  readonly stats: TunnelServerStats = {
    connections: 0,
    calls: 0,
    watches: 0,
    tcpFlows: 0,
    udpFlows: 0,
    dialFailures: 0,
    badRequests: 0,
  };
  readonly #calls = new Map<string, { handler: CallHandler<Method>; validate: Validator<unknown> | undefined }>();
  readonly #watches = new Map<string, { handler: WatchHandler<Topic>; validate: Validator<unknown> | undefined }>();
  readonly #opts: TunnelServerOptions;
  readonly #versions: { version: number; minVersion: number };

  constructor(opts: TunnelServerOptions = {}) {
    super();
    this.#opts = opts;
    this.#versions = {
      version: opts.version ?? TUNNEL_PROTOCOL_VERSION,
      minVersion: opts.minVersion ?? TUNNEL_PROTOCOL_MIN_VERSION,
    };
    this.h2 = http2.createServer({ settings: serverSettings, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    this.h2.on('connection', (sock: Socket) => sock.setNoDelay?.(true));
    this.h2.on('session', (s: ServerHttp2Session) => this.#onSession(s));
    this.h2.on('stream', (stream, headers) => this.#onStream(stream, headers));
    // A broken peer must never take the manager down; the session's own 'close' cleans up.
    this.h2.on('sessionError', () => {});
  }

  /** Registers a control call. `validate` checks the JSON before the handler sees it. */
  handle<M extends Method>(method: M, handler: CallHandler<M>, validate?: Validator<CallRequest<M>>): this {
    if (!NAME_RE.test(method)) throw new Error(`bad control method name ${JSON.stringify(method)}`);
    this.#calls.set(method, { handler: handler as unknown as CallHandler<Method>, validate });
    return this;
  }

  /** Registers a watch topic. The stream ends when the handler's promise settles. */
  watch<T extends Topic>(topic: T, handler: WatchHandler<T>, validate?: Validator<WatchRequest<T>>): this {
    if (!NAME_RE.test(topic)) throw new Error(`bad watch topic ${JSON.stringify(topic)}`);
    this.#watches.set(topic, { handler: handler as unknown as WatchHandler<Topic>, validate });
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
    // The stream window comes from SETTINGS; the session window only grows via WINDOW_UPDATE.
    s.setLocalWindowSize(SESSION_WINDOW);
    const conn = new PeerConnection(s);
    this.connections.add(conn);
    this.#bySession.set(s, conn);
    this.stats.connections++;
    s.on('error', () => {});
    s.once('close', () => {
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
    const refuse = (body: WireError) =>
      method === 'CONNECT' ? this.#rejectDial(stream, 400, 'other', body.message) : this.#reject(stream, 400, body);
    if (conn.version === undefined) {
      return refuse({
        error: ERROR_CODES.noHandshake,
        message: `the tunnel handshake (POST ${PATHS.handshake}) must come before any other request`,
      });
    }
    const sent = headers[HEADERS.version];
    if (sent !== undefined && Number(sent) !== conn.version) {
      return refuse({
        error: ERROR_CODES.version,
        message: `request speaks tunnel protocol version ${String(sent)}, this session negotiated ${conn.version}`,
      });
    }

    const ac = new AbortController();
    stream.once('close', () => ac.abort());
    const header = headers[HEADERS.session];
    const ctx: StreamContext = {
      conn,
      sessionId: typeof header === 'string' ? header : conn.sessionId,
      headers,
      signal: ac.signal,
    };

    if (method === 'CONNECT') {
      const protocol = headers[':protocol'];
      if (protocol === undefined) return void this.#connectTcp(stream, ctx);
      if (protocol === 'connect-udp') return void this.#connectUdp(stream, ctx, path);
      return this.#rejectDial(stream, 501, 'other', `unsupported CONNECT protocol ${String(protocol)}`);
    }
    if (method !== 'POST') {
      return this.#reject(stream, 405, { error: ERROR_CODES.badRequest, message: `method ${method} not allowed` });
    }
    if (path.startsWith(PATHS.watchPrefix)) return void this.#watch(stream, ctx, path.slice(PATHS.watchPrefix.length));
    if (path.startsWith(PATHS.callPrefix)) return void this.#call(stream, ctx, path.slice(PATHS.callPrefix.length));
    this.#reject(stream, 404, { error: ERROR_CODES.unknownMethod, message: `no route for ${path}` });
  }

  #connOf(stream: ServerHttp2Stream): PeerConnection | undefined {
    return stream.session ? this.#bySession.get(stream.session) : undefined;
  }

  async #handshake(stream: ServerHttp2Stream, conn: PeerConnection): Promise<void> {
    let req: HandshakeRequest;
    try {
      req = validateHandshake(await readJson(stream));
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

  async #call(stream: ServerHttp2Stream, ctx: StreamContext, name: string): Promise<void> {
    const entry = this.#calls.get(name);
    if (entry === undefined) {
      return this.#reject(stream, 404, {
        error: ERROR_CODES.unknownMethod,
        message: `the traffic manager has no control call "${name}"`,
      });
    }
    this.stats.calls++;
    try {
      const body = await readJson(stream);
      const req = entry.validate ? validating(entry.validate, body) : body;
      const res = await entry.handler(req as CallRequest<Method>, ctx);
      respondJson(stream, 200, res ?? {});
    } catch (err) {
      this.#rejectErr(stream, err);
    }
  }

  async #watch(stream: ServerHttp2Stream, ctx: StreamContext, topic: string): Promise<void> {
    const entry = this.#watches.get(topic);
    if (entry === undefined) {
      return this.#reject(stream, 404, { error: ERROR_CODES.unknownMethod, message: `no watch topic "${topic}"` });
    }
    this.stats.watches++;
    let req: unknown;
    try {
      const body = await readJson(stream);
      req = entry.validate ? validating(entry.validate, body) : body;
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
      await entry.handler(req as WatchRequest<Topic>, emit as Emit<Topic>, ctx);
      if (stream.writable) stream.end();
    } catch (err) {
      // The status is already sent: the error travels as the last line.
      if (stream.writable) stream.end(encodeNdjson(wireErrorOf(err).body));
    }
  }

  async #connectTcp(stream: ServerHttp2Stream, ctx: StreamContext): Promise<void> {
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

  async #connectUdp(stream: ServerHttp2Stream, ctx: StreamContext, path: string): Promise<void> {
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

  #dialerFor(ctx: StreamContext): Dialer | undefined {
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
function readJson(stream: Duplex): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_CALL_BODY) {
        stream.pause();
        reject(new BadRequest(`request body over ${MAX_CALL_BODY} bytes`, ERROR_CODES.tooLarge, 413));
        return;
      }
      chunks.push(c);
    });
    stream.once('end', () => {
      if (size > MAX_CALL_BODY) return;
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

function validateHandshake(b: unknown): HandshakeRequest {
  const o = b as Partial<HandshakeRequest> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    !Number.isInteger(o.version) ||
    !Number.isInteger(o.minVersion) ||
    typeof o.peer !== 'string' ||
    !Array.isArray(o.capabilities) ||
    !o.capabilities.every((c) => typeof c === 'string')
  ) {
    throw new BadRequest('handshake needs {version, minVersion, peer, capabilities}');
  }
  return o as HandshakeRequest;
}
