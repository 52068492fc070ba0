// The no-root proxy of `tp connect --socks`: one local port that speaks SOCKS5 (RFC 1928/1929,
// CONNECT and UDP ASSOCIATE) and HTTP proxy (CONNECT and absolute-URI requests), told apart by
// the first byte of each connection. Flows leave through a Dialer (lib/proxy/dialer.ts): the
// tunnel client in production, so names resolve in the cluster (socks5h semantics).
//
// Why not the `socksv5` npm package the design card names: it was last changed in 2015 (0.0.6);
// its server resolves DOMAINNAME requests with the workstation's dns.lookup before connecting,
// which is exactly wrong for cluster names (only its "intercept" hook avoids that, by giving up
// the rest of its logic); it has no UDP ASSOCIATE (answers 0x07), no way to share the port with
// an HTTP proxy, no TypeScript types, and it pulls in `ipv6: "*"` (an unpinned, bundled 2013
// library). Its relay is `a.pipe(b).pipe(a)` with errors after connect swallowed by a no-op
// listener, so a reset on one side leaves the other open, and its failure mapping keys on
// local errno codes, not on what the tunnel reports. The protocol is small; owning it costs
// less than wrapping that.

import { createServer, type Server, type Socket } from 'node:net';
import { HTTP_HEAD_TIMEOUT_MS, PROXY_MAX_HANDSHAKES, SOCKS_HANDSHAKE_MS, SOCKS_MAX_UDP_FLOWS } from '../../common/limits.js';
import type { Dialer } from '../dialer.js';
import type { ProxyContext } from './context.js';
import { HttpProxy } from './http-proxy.js';
import { HandshakeReader } from './reader.js';
import { handleSocks5 } from './socks5-session.js';
import { SOCKS4, SOCKS4_REJECT, SOCKS5 } from './socks5.js';
import { newStats, noLog, type Credentials, type LogFn, type ProxyStats } from './types.js';
import { TpError } from '../../common/errors.js';

export interface ProxyServerOptions {
  /** Where flows go: the tunnel client in production. */
  dialer: Dialer;
  /** Default 127.0.0.1: the proxy has no authentication unless `credentials` is set, so it must
   * not be reachable from the network by default. */
  host?: string;
  /** Default 1080; 0 picks a free port (tests). */
  port?: number;
  /** When set, SOCKS5 clients must use username/password (RFC 1929) and HTTP clients Basic
   * Proxy-Authorization; without it, no authentication. */
  credentials?: Credentials;
  log?: LogFn;
  /** A connection that has not finished its SOCKS handshake by then is closed (SOCKS_HANDSHAKE_MS). */
  handshakeTimeoutMs?: number;
  /** An HTTP request head must be complete this long after the connection waits for one
   * (HTTP_HEAD_TIMEOUT_MS). */
  headTimeoutMs?: number;
  /** Connections in their SOCKS handshake or first HTTP head at once; more are closed at accept
   * (PROXY_MAX_HANDSHAKES). */
  maxHandshakes?: number;
  /** Destinations per UDP association (SOCKS_MAX_UDP_FLOWS). */
  maxUdpFlows?: number;
}

export class ProxyListenError extends TpError {
  declare readonly code: 'E_PROXY_ADDRESS_IN_USE' | 'E_PROXY_LISTEN';
  constructor(code: 'E_PROXY_ADDRESS_IN_USE' | 'E_PROXY_LISTEN', message: string, options: { cause: unknown }) {
    super(code, message, options);
    this.name = 'ProxyListenError';
  }
}

export class ProxyServer {
  readonly #ctx: ProxyContext;
  readonly #host: string;
  readonly #port: number;
  readonly #handshakeTimeoutMs: number;
  readonly #maxHandshakes: number;
  #handshaking = 0;
  readonly #http: HttpProxy;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #nextId = 1;

  constructor(opts: ProxyServerOptions) {
    this.#ctx = {
      dialer: opts.dialer,
      credentials: opts.credentials,
      stats: newStats(),
      log: opts.log ?? noLog,
      maxUdpFlows: opts.maxUdpFlows ?? SOCKS_MAX_UDP_FLOWS,
    };
    this.#host = opts.host ?? '127.0.0.1';
    this.#port = opts.port ?? 1080;
    this.#handshakeTimeoutMs = opts.handshakeTimeoutMs ?? SOCKS_HANDSHAKE_MS;
    this.#maxHandshakes = opts.maxHandshakes ?? PROXY_MAX_HANDSHAKES;
    this.#http = new HttpProxy(this.#ctx, opts.headTimeoutMs ?? HTTP_HEAD_TIMEOUT_MS);
  }

  /** Live counters (the same object every time; copy it to keep a snapshot). */
  get stats(): ProxyStats {
    return this.#ctx.stats;
  }

  /** Starts listening; resolves with the bound address. Rejects with ProxyListenError. */
  start(): Promise<{ host: string; port: number }> {
    if (this.#server) return Promise.reject(new Error('ProxyServer already started'));
    // allowHalfOpen: a client's FIN must reach the target as a FIN while the answer still
    // flows back (curl -T, HTTP/1.0, netcat -N).
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#accept(s));
    this.#server = server;
    const where = `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        this.#server = undefined;
        if (err.code === 'EADDRINUSE') {
          reject(
            new ProxyListenError(
              'E_PROXY_ADDRESS_IN_USE',
              `cannot start the SOCKS/HTTP proxy on ${where}: the address is already in use; stop the program using it or choose another port (--socks HOST:PORT)`,
              { cause: err },
            ),
          );
        } else {
          reject(
            new ProxyListenError(
              'E_PROXY_LISTEN',
              `cannot start the SOCKS/HTTP proxy on ${where}: ${err.message}; choose another address (--socks HOST:PORT)`,
              { cause: err },
            ),
          );
        }
      });
      server.listen(this.#port, this.#host, () => {
        server.on('error', (err) => this.#ctx.log('error', 'proxy listener error', { error: err.message }));
        const a = server.address();
        const bound = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.#host, port: this.#port };
        this.#ctx.log('info', 'proxy listening', bound);
        resolve(bound);
      });
    });
  }

  /** Stops accepting and ends every connection (and with it every flow and UDP association). */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  #accept(socket: Socket): void {
    const stats = this.#ctx.stats;
    // Half-open handshakes are what a flood holds: each costs a socket and a buffer, and nothing
    // of what it sent is useful yet. Past the cap, new connections are closed at once; those
    // already in a handshake finish or time out as usual, so the cap frees itself.
    if (this.#handshaking >= this.#maxHandshakes) {
      stats.handshakesRefused++;
      socket.destroy();
      return;
    }
    this.#handshaking++;
    let handshaking = true;
    const handshakeDone = () => {
      if (handshaking) this.#handshaking--;
      handshaking = false;
    };
    socket.once('close', handshakeDone);
    const id = this.#nextId++;
    stats.connectionsActive++;
    stats.connectionsTotal++;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    // Errors are handled where the socket is used (splice, handshake); this one keeps a reset
    // from being an uncaught exception in between.
    socket.on('error', (err) => this.#ctx.log('debug', 'client socket error', { conn: id, error: err.message }));
    socket.once('close', () => {
      stats.connectionsActive--;
      this.#sockets.delete(socket);
    });
    void this.#dispatch(socket, id, handshakeDone).catch((err: unknown) => {
      // A throw here is a bug of ours; it must cost one connection, not the proxy.
      this.#ctx.log('error', 'proxy connection handler failed', { conn: id, error: String((err as Error)?.stack ?? err) });
      socket.destroy();
    });
  }

  async #dispatch(socket: Socket, id: number, handshakeDone: () => void): Promise<void> {
    const reader = new HandshakeReader(socket);
    // Silent or slow peers must not hold a socket forever; the timer covers the SOCKS handshake
    // up to a complete request (the dial has its own timeout in the dialer) and the first
    // byte of HTTP (then the request head budget of HttpProxy takes over).
    const timer = setTimeout(() => {
      this.#ctx.stats.protocolErrors++;
      this.#ctx.log('debug', 'handshake timeout', { conn: id });
      socket.destroy();
    }, this.#handshakeTimeoutMs);
    try {
      const first = await reader.peek();
      if (first === null) return void socket.destroy();
      switch (first[0]) {
        case SOCKS5:
          this.#ctx.stats.socks5Connections++;
          return await handleSocks5(this.#ctx, socket, reader, id, () => {
            clearTimeout(timer);
            handshakeDone();
          });
        case SOCKS4:
          // SOCKS4 has no way to resolve names remotely that clients use consistently (4a is
          // an extension), and no auth; answer its "rejected" code so the client says so.
          this.#ctx.stats.socks4Rejected++;
          this.#ctx.log('info', 'socks4 client rejected: use SOCKS5 (socks5h://)', { conn: id });
          return void socket.end(SOCKS4_REJECT);
        default:
          clearTimeout(timer);
          this.#ctx.stats.httpConnections++;
          reader.release();
          return this.#http.handle(socket, handshakeDone);
      }
    } finally {
      clearTimeout(timer);
    }
  }
}
