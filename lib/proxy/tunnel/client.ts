// The peer's end of the tunnel (user daemon, agent): one HTTP/2 session to the traffic manager over
// a byte stream the owner supplies (a kube port-forward) or a host:port. It is a Dialer, so the
// SOCKS proxy and the netstack use it exactly as they would use DirectDialer.
//
// The owner reconnects: on 'close' this object is finished; make a new one with connect().

import { EventEmitter } from 'node:events';
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type DialFailure, type Dialer, type UdpFlow } from '../dialer.js';
import { TunnelCallError, TunnelParseError, TunnelVersionError } from './errors.js';
import { NdjsonDecoder } from './ndjson.js';
import {
  type ApiSpec,
  type CallName,
  type CallRequest,
  type CallResponse,
  type Capability,
  DEFAULT_CAPABILITIES,
  ERROR_CODES,
  type HandshakeRequest,
  type HandshakeResponse,
  HEADERS,
  type NoApi,
  PATHS,
  type TopicName,
  TUNNEL_PROTOCOL_MIN_VERSION,
  TUNNEL_PROTOCOL_VERSION,
  type WatchEvent,
  type WatchRequest,
  type WireError,
  callPath,
  decodeHeaderText,
  dialFailureFrom,
  watchPath,
} from './protocol.js';
import { MAX_CALL_BODY, MAX_SESSION_MEMORY_MB, SESSION_WINDOW, baseSettings } from './settings.js';
import { formatAuthority, udpPath } from './target.js';
import { StreamUdpFlow } from './udp-flow.js';

/** A silently dead connection to the manager is noticed within PING_INTERVAL_MS +
 * PING_TIMEOUT_MS (15 s): a PING crosses the port-forward in milliseconds when it lives. */
export const PING_INTERVAL_MS = 10_000;
export const PING_TIMEOUT_MS = 5_000;

export interface TunnelClientOptions {
  /** An established byte stream to the manager (a port-forward). Either this or host+port. */
  socket?: Duplex;
  host?: string;
  port?: number;
  /** Who we are, for the manager's logs and policy: 'client' or 'agent'. */
  peer?: string;
  capabilities?: Capability[];
  /** Session setup and handshake together must finish within this. */
  connectTimeoutMs?: number;
  /** A PING every this many ms; no answer within pingTimeoutMs ends the session, so a
   * port-forward that died silently (a laptop that slept, a dropped VPN, no RST) is noticed and
   * the owner reconnects. 0 disables. Default PING_INTERVAL_MS. */
  pingIntervalMs?: number;
  /** Default PING_TIMEOUT_MS. */
  pingTimeoutMs?: number;
  /** Overrides for tests of version negotiation. */
  version?: number;
  minVersion?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface WatchHandle {
  /** Ends the watch (RST_STREAM CANCEL); `done` then resolves. */
  cancel(): void;
  /** Resolves when the server ends the watch or it is cancelled; rejects on an error. */
  readonly done: Promise<void>;
}

// :authority for requests that are not CONNECT; the manager ignores it.
const AUTHORITY = 'tp-traffic-manager';

/** Events: 'close' (err?: Error) — the session is gone; every flow on it was reset.
 * `A` is the API the manager serves on this connection (lib/common/rpc/manager.ts or agent.ts). */
export class TunnelClient<A extends ApiSpec = NoApi> extends EventEmitter implements Dialer {
  /** The version both ends agreed on. */
  version = 0;
  serverCapabilities: Capability[] = [];
  #closed = false;
  #ping: NodeJS.Timeout | undefined;

  private constructor(readonly session: ClientHttp2Session) {
    super();
  }

  /** Opens the session and performs the handshake. Rejects with TunnelVersionError when the
   * manager speaks no version we do, TunnelCallError for other failures. */
  static async connect<A extends ApiSpec = NoApi>(opts: TunnelClientOptions): Promise<TunnelClient<A>> {
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const session = await openSession(opts, timeoutMs);
    const client = new TunnelClient<A>(session);
    client.#watchSession(opts.pingIntervalMs ?? PING_INTERVAL_MS, opts.pingTimeoutMs ?? PING_TIMEOUT_MS);
    try {
      await client.#handshake(opts, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      session.destroy();
      throw err;
    }
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A control call of the API. Rejects with TunnelCallError. */
  async call<M extends CallName<A>>(method: M, body: CallRequest<A, M>, opts: CallOptions = {}): Promise<CallResponse<A, M>> {
    return (await this.#post(callPath(method), body, opts.signal)) as CallResponse<A, M>;
  }

  /** Subscribes to a topic of the API; onEvent gets each event in order. */
  watch<T extends TopicName<A>>(topic: T, body: WatchRequest<A, T>, onEvent: (event: WatchEvent<A, T>) => void): WatchHandle {
    let req: ClientHttp2Stream | undefined;
    let cancelled = false;
    const done = new Promise<void>((resolve, reject) => {
      if (this.#closed) return reject(closedError());
      req = this.session.request(this.#headers({ ':method': 'POST', ':path': watchPath(topic) }));
      req.on('error', () => {});
      req.end(JSON.stringify(body));
      req.once('response', (h) => {
        const status = Number(h[':status']);
        if (status !== 200) {
          const fromHeaders = headerError(status, h);
          if (fromHeaders) return reject(fromHeaders);
          void readBody(req!).then((b) => reject(callError(status, b)), reject);
          return;
        }
        const dec = new NdjsonDecoder();
        const deliver = (lines: unknown[]) => {
          for (const line of lines) {
            const l = line as { event?: unknown } & Partial<WireError>;
            if (typeof l.error === 'string') throw new TunnelCallError(l.error, l.message ?? l.error, 500, l.hint);
            onEvent(l.event as WatchEvent<A, T>);
          }
        };
        req!.on('data', (c: Buffer) => {
          try {
            deliver(dec.push(c));
          } catch (err) {
            req!.close(constants.NGHTTP2_CANCEL);
            reject(err);
          }
        });
        req!.once('end', () => {
          try {
            deliver(dec.end());
            resolve();
          } catch (err) {
            reject(err);
          }
        });
      });
      req.once('close', () => {
        if (cancelled) resolve();
        else reject(new TunnelCallError(ERROR_CODES.closed, `watch ${topic} ended without finishing (code ${req!.rstCode})`, 0));
      });
    });
    return {
      cancel: () => {
        cancelled = true;
        if (req && !req.closed) req.close(constants.NGHTTP2_CANCEL);
      },
      done,
    };
  }

  /** TCP flow via CONNECT. Resolves only once the manager's dial succeeded. The returned Duplex
   * is the Http2Stream: end() sends END_STREAM (FIN), destroy() sends RST_STREAM (RST).
   * A reset from the far side shows as 'aborted' and then 'close' with rstCode ≠ 0; Node may
   * emit 'end' in between, so a consumer that relays to a socket should use lib/proxy/splice.ts
   * (or watch 'aborted') to turn it into a TCP RST rather than a FIN. */
  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    return this.#dial(`tcp ${formatAuthority(host, port)}`, { ':method': 'CONNECT', ':authority': formatAuthority(host, port) }, signal);
  }

  /** A stream of an API-defined kind (extended CONNECT, RFC 8441): resolves once the manager has
   * the other end (200); a refusal rejects with a DialError carrying the manager's sentence. The
   * stream behaves like a TCP flow from dialTcp. */
  openStream(kind: string, path: string, signal?: AbortSignal): Promise<Duplex> {
    return this.#dial(
      `${kind} ${path}`,
      { ':method': 'CONNECT', ':protocol': kind, ':scheme': 'http', ':path': path, ':authority': AUTHORITY },
      signal,
    );
  }

  /** UDP flow via extended CONNECT (RFC 9298). */
  async dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    const stream = await this.#dial(
      `udp ${formatAuthority(host, port)}`,
      {
        ':method': 'CONNECT',
        ':protocol': 'connect-udp',
        ':scheme': 'http',
        ':path': udpPath(host, port),
        ':authority': AUTHORITY,
        [HEADERS.capsuleProtocol]: '?1',
      },
      signal,
    );
    return new StreamUdpFlow(stream);
  }

  /** Ends the session now; flows on it are reset. */
  close(): Promise<void> {
    if (this.session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.session.once('close', () => resolve());
      this.session.destroy();
    });
  }

  #dial(what: string, headers: OutgoingHttpHeaders, signal?: AbortSignal): Promise<ClientHttp2Stream> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new DialError('other', `dial ${what}: the tunnel to the traffic manager is closed`));
      if (signal?.aborted) return reject(abortError(what, signal));
      let req: ClientHttp2Stream;
      try {
        req = this.session.request(this.#headers(headers), { endStream: false });
      } catch (err) {
        return reject(new DialError('other', `dial ${what}: ${(err as Error).message}`));
      }
      // Stream errors after the dial surface as 'close' (with rstCode) to whoever owns the
      // stream; without a listener Node would throw them at the process.
      req.on('error', () => {});
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        req.close(constants.NGHTTP2_CANCEL);
        reject(abortError(what, signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('response', (h: IncomingHttpHeaders) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        const status = Number(h[':status']);
        if (status === 200) return resolve(req);
        const reason = h[HEADERS.dialError];
        const failure = dialFailureFrom(status, typeof reason === 'string' ? reason : undefined);
        const detail = decodeHeaderText(h[HEADERS.dialMessage] as string | undefined) ?? `status ${status}`;
        req.close(constants.NGHTTP2_CANCEL);
        reject(new DialError(failure, detail));
      });
      req.once('close', () => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        reject(new DialError('other', `dial ${what}: the tunnel stream closed before the manager answered`));
      });
    });
  }

  #headers(h: OutgoingHttpHeaders): OutgoingHttpHeaders {
    return { ...h, [HEADERS.version]: String(this.version) };
  }

  async #handshake(opts: TunnelClientOptions, signal: AbortSignal): Promise<void> {
    const ours = {
      version: opts.version ?? TUNNEL_PROTOCOL_VERSION,
      minVersion: opts.minVersion ?? TUNNEL_PROTOCOL_MIN_VERSION,
    };
    const req: HandshakeRequest = {
      ...ours,
      peer: opts.peer ?? 'client',
      capabilities: [...(opts.capabilities ?? DEFAULT_CAPABILITIES)],
    };
    let res: HandshakeResponse;
    try {
      res = (await this.#post(PATHS.handshake, req, signal, false)) as HandshakeResponse;
    } catch (err) {
      if (err instanceof TunnelCallError && err.code === ERROR_CODES.version) throw new TunnelVersionError(err.message);
      throw err;
    }
    if (!Number.isInteger(res.version) || res.version < ours.minVersion || res.version > ours.version) {
      throw new TunnelVersionError(
        `tunnel protocol version mismatch: the traffic manager chose version ${res.version}, ` +
          `this peer speaks version ${ours.minVersion}..${ours.version}`,
      );
    }
    this.version = res.version;
    this.serverCapabilities = Array.isArray(res.capabilities) ? res.capabilities : [];
  }

  /** POSTs JSON, returns the parsed 200 body; non-200 rejects with the server's WireError. */
  #post(path: string, body: unknown, signal?: AbortSignal, withHeaders = true): Promise<unknown> {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const headers = { ':method': 'POST', ':path': path, 'content-type': 'application/json' };
      const req = this.session.request(withHeaders ? this.#headers(headers) : headers);
      req.on('error', () => {});
      const onAbort = () => {
        req.close(constants.NGHTTP2_CANCEL);
        reject(new TunnelCallError(ERROR_CODES.closed, `${path}: cancelled`, 0));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.end(JSON.stringify(body ?? {}));
      let status = 0;
      let refused: TunnelCallError | undefined;
      req.once('response', (h) => {
        status = Number(h[':status']);
        refused = headerError(status, h);
        if (refused) {
          signal?.removeEventListener('abort', onAbort);
          reject(refused);
        }
      });
      readBody(req).then(
        (text) => {
          signal?.removeEventListener('abort', onAbort);
          if (status === 200) {
            try {
              resolve(JSON.parse(text));
            } catch (err) {
              reject(new TunnelParseError(`${path}: response is not JSON: ${(err as Error).message}`));
            }
          } else reject(callError(status, text));
        },
        (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  #watchSession(pingIntervalMs: number, pingTimeoutMs: number): void {
    const s = this.session;
    s.on('error', () => {});
    s.once('close', () => {
      this.#closed = true;
      clearInterval(this.#ping);
      this.emit('close');
    });
    // A GOAWAY means the manager is going away: no new streams will be accepted.
    s.once('goaway', () => (this.#closed = true));
    if (pingIntervalMs > 0) {
      this.#ping = setInterval(() => {
        const timer = setTimeout(
          () => s.destroy(new Error(`the traffic manager did not answer a PING within ${pingTimeoutMs} ms: the connection is dead`)),
          pingTimeoutMs,
        );
        timer.unref();
        try {
          s.ping(() => clearTimeout(timer));
        } catch {
          clearTimeout(timer);
        }
      }, pingIntervalMs);
      this.#ping.unref();
    }
  }
}

function openSession(opts: TunnelClientOptions, timeoutMs: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    let socket = opts.socket;
    if (socket === undefined) {
      if (opts.host === undefined || opts.port === undefined) {
        return reject(new TypeError('TunnelClient.connect needs a socket or host and port'));
      }
      socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
    } else {
      (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
    }
    const s = socket;
    const session = http2.connect(`http://${AUTHORITY}`, {
      createConnection: () => s,
      settings: baseSettings,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(new TunnelCallError(ERROR_CODES.closed, `cannot open the tunnel to the traffic manager: ${err.message}`, 0));
    };
    const timer = setTimeout(() => fail(new Error(`no HTTP/2 session within ${timeoutMs} ms`)), timeoutMs);
    session.once('error', fail);
    session.once('connect', () => {
      clearTimeout(timer);
      session.off('error', fail);
      session.setLocalWindowSize(SESSION_WINDOW);
      resolve(session);
    });
  });
}

function readBody(req: ClientHttp2Stream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_CALL_BODY) {
        req.close(constants.NGHTTP2_CANCEL);
        reject(new TunnelParseError(`response body over ${MAX_CALL_BODY} bytes`));
      } else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('close', () =>
      reject(new TunnelCallError(ERROR_CODES.closed, `tunnel stream closed before the response ended (code ${req.rstCode})`, 0)),
    );
  });
}

/** A request refused unread carries its WireError in the response headers, with no body. */
function headerError(status: number, h: IncomingHttpHeaders): TunnelCallError | undefined {
  const code = h[HEADERS.errorCode];
  if (typeof code !== 'string' || !code.startsWith('E_')) return undefined;
  return new TunnelCallError(code as WireError['error'], decodeHeaderText(h[HEADERS.errorMessage] as string | undefined) ?? code, status);
}

function callError(status: number, text: string): TunnelCallError {
  try {
    const w = JSON.parse(text) as Partial<WireError>;
    if (typeof w.error === 'string' && typeof w.message === 'string') {
      return new TunnelCallError(w.error as WireError['error'], w.message, status, w.hint);
    }
  } catch {
    // fall through: not a WireError (a proxy's page, say)
  }
  return new TunnelCallError(ERROR_CODES.internal, `traffic manager answered ${status}: ${text.slice(0, 200)}`, status);
}

const closedError = () =>
  new TunnelCallError(ERROR_CODES.closed, 'the tunnel to the traffic manager is closed', 0, 'reconnect with `tp connect`');

function abortError(what: string, signal: AbortSignal): DialError {
  const f: DialFailure = (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError' ? 'timeout' : 'other';
  return new DialError(f, `dial ${what} aborted`);
}
