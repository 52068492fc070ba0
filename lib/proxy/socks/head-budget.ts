// The request-head budget of the HTTP proxy (#12). Node enforces `headersTimeout` only for
// connections of a server that listens (it tracks them from the 'listening' event); the proxy's
// http.Server never listens — sniffed sockets are handed to it — so without this a peer that sends
// half a request head keeps its socket and Node's buffers forever. Here: whenever a connection
// waits for a request head (handed over, or its last response finished), the head must be complete
// within `ms`, however slowly its bytes trickle. A request in progress is not timed by this.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const TIMEOUT_ANSWER = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

interface Waiting {
  timer: NodeJS.Timeout | undefined;
  /** Requests whose response has not finished: while any, no head is awaited. */
  inFlight: number;
  /** bytesRead when the wait began: more since means a head has started (→ 408, not silence). */
  readAtArm: number;
  /** Called once, at the first complete head (the handshake cap's end of handshake). */
  onFirstHead: (() => void) | undefined;
}

export class HeadBudget {
  readonly #conns = new WeakMap<Duplex, Waiting>();

  constructor(
    server: Server,
    private readonly ms: number,
    private readonly onExpire: () => void,
  ) {
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
    // CONNECT and Upgrade take the socket out of HTTP: no more heads on it.
    server.prependListener('connect', (_req: IncomingMessage, s: Duplex) => this.#leave(s));
    server.prependListener('upgrade', (_req: IncomingMessage, s: Duplex) => this.#leave(s));
  }

  /** A connection the server was just handed. */
  watch(socket: Socket, onFirstHead?: () => void): void {
    const w: Waiting = { timer: undefined, inFlight: 0, readAtArm: 0, onFirstHead };
    this.#conns.set(socket, w);
    socket.once('close', () => {
      clearTimeout(w.timer);
      this.#firstHead(w);
    });
    this.#arm(socket, w);
  }

  #arm(socket: Socket, w: Waiting): void {
    clearTimeout(w.timer);
    w.readAtArm = socket.bytesRead;
    w.timer = setTimeout(() => {
      this.onExpire();
      // Nothing arrived: an idle keep-alive connection, closed silently (RFC 9112 §9.5). Part of a
      // head arrived: say why before closing.
      if (socket.bytesRead > w.readAtArm && socket.writable) socket.end(TIMEOUT_ANSWER);
      socket.destroySoon();
      setTimeout(() => socket.destroy(), 1000).unref();
    }, this.ms);
    w.timer.unref();
  }

  #firstHead(w: Waiting): void {
    const f = w.onFirstHead;
    w.onFirstHead = undefined;
    f?.();
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const w = this.#conns.get(socket);
    if (!w) return;
    this.#firstHead(w);
    clearTimeout(w.timer);
    w.inFlight++;
    res.once('close', () => {
      if (--w.inFlight === 0 && !socket.destroyed) this.#arm(socket, w);
    });
  }

  #leave(s: Duplex): void {
    const w = this.#conns.get(s);
    if (!w) return;
    this.#firstHead(w);
    clearTimeout(w.timer);
    this.#conns.delete(s);
  }
}
