// The HTTP proxy half of the port: `CONNECT host:port` tunnels and absolute-URI requests
// (`GET http://svc.ns/path`). Node's own HTTP/1.1 parser does the framing: sniffed connections
// are handed to an http.Server that never listens, which brings keep-alive, pipelining,
// chunked bodies and 100-continue for free. Each forwarded request dials its own upstream
// stream (sent with `Connection: close`): dials go through the tunnel, and a pool per client
// connection can come later if profiles ask for it. An absolute-URI request with Upgrade
// (WebSocket through a plain proxy) is passed on as a raw head and then spliced.

import { request as httpRequest, Server, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { HTTP_HEAD_TIMEOUT_MS, HTTP_PROXY_KEEPALIVE_MS, HTTP_PROXY_MAX_HEADER_BYTES } from '../../common/limits.js';
import { credentialsMatch, dialFor, relay, type ProxyContext } from './context.js';
import { HeadBudget } from './head-budget.js';
import { describeFailure, httpStatusFor } from './failure.js';
import { endToEndHeaders, formatAuthority, parseAbsoluteForm, parseAuthorityForm, parseBasicAuth } from './http-target.js';

const REALM = 'Proxy-Authenticate: Basic realm="tp", charset="UTF-8"';

/** A complete response on a raw socket, for the CONNECT path where no ServerResponse exists. */
function rawResponse(status: number, reason: string, body: string, extra: string[] = []): string {
  const text = `${body}\n`;
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
    ...extra,
    '',
    text,
  ].join('\r\n');
}

function textResponse(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  const text = `${body}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

export class HttpProxy {
  readonly #ctx: ProxyContext;
  readonly #server: Server;
  readonly #heads: HeadBudget;

  /** `headTimeoutMs`: a request head must be complete this long after the connection starts
   * waiting for one (default HTTP_HEAD_TIMEOUT_MS). */
  constructor(ctx: ProxyContext, headTimeoutMs = HTTP_HEAD_TIMEOUT_MS) {
    this.#ctx = ctx;
    this.#server = new Server({
      // A proxied upload or download may legitimately take hours; idle sockets are bounded by
      // keepAliveTimeout between requests, and heads by the HeadBudget, instead.
      requestTimeout: 0,
      keepAliveTimeout: HTTP_PROXY_KEEPALIVE_MS,
      maxHeaderSize: HTTP_PROXY_MAX_HEADER_BYTES,
    });
    this.#heads = new HeadBudget(this.#server, headTimeoutMs, () => {
      ctx.stats.headTimeouts++;
      ctx.log('debug', 'http proxy: request head timeout');
    });
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#forward(req, res));
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#tunnel(req, socket as Socket, head));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.#upgrade(req, socket as Socket, head));
    this.#server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      this.#ctx.stats.protocolErrors++;
      this.#ctx.log('debug', 'http proxy bad request', { error: err.message, code: err.code });
      if (socket.writable && err.code !== 'ECONNRESET') {
        socket.end(rawResponse(400, 'Bad Request', 'tp proxy: the request is not valid HTTP/1.1'));
      } else socket.destroy();
    });
  }

  /** Takes over a sniffed connection; its first bytes must have been unshift()ed back.
   * `onFirstHead` runs once, when the first request head is complete or the socket closes. */
  handle(socket: Socket, onFirstHead?: () => void): void {
    this.#heads.watch(socket, onFirstHead);
    this.#server.emit('connection', socket);
  }

  /** True if the request may pass; otherwise the caller answers 407. */
  #authorized(req: IncomingMessage): boolean {
    const want = this.#ctx.credentials;
    if (!want) return true;
    const got = parseBasicAuth(req.headers['proxy-authorization']);
    if (got && credentialsMatch(want, got)) return true;
    this.#ctx.stats.authFailures++;
    this.#ctx.log('info', 'http proxy authentication failed', { username: got?.username, present: got !== undefined });
    return false;
  }

  async #tunnel(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.setTimeout(0); // the tunnel's idleness is the application's business
    socket.on('error', () => {}); // splice or the dial path below decides what an error means
    if (!this.#authorized(req)) {
      socket.end(rawResponse(407, 'Proxy Authentication Required', 'tp proxy: proxy credentials are required', [REALM]));
      return;
    }
    const target = parseAuthorityForm(req.url ?? '');
    if (!target.ok) {
      this.#ctx.stats.protocolErrors++;
      socket.end(rawResponse(400, 'Bad Request', `tp proxy: ${target.reason}`));
      return;
    }
    const { host, port } = target.value;
    const fields = { proto: 'http-connect', host, port };
    const dialed = await dialFor(this.#ctx, socket, host, port);
    if (!dialed.ok) {
      const { status, reason } = httpStatusFor(dialed.failure);
      const line = describeFailure(dialed.failure, host, port);
      this.#ctx.log('info', 'http connect dial failed', { ...fields, failure: dialed.failure });
      if (!socket.destroyed) socket.end(rawResponse(status, reason, line));
      return;
    }
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    // Bytes the client sent right behind the CONNECT head (TLS ClientHello, optimistic data).
    if (head.length > 0) socket.unshift(head);
    relay(this.#ctx, socket, dialed.stream, fields);
  }

  /** An absolute-URI request with `Upgrade` (WebSocket through a plain HTTP proxy): the head
   * goes to the origin in origin-form with Connection/Upgrade kept (they are the point), then
   * the two sockets are spliced and the origin's 101 (or refusal) reaches the client as is. */
  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.setTimeout(0);
    socket.on('error', () => {});
    const refuse = (status: number, reason: string, line: string, extra: string[] = []) =>
      void (socket.destroyed || socket.end(rawResponse(status, reason, line, extra)));
    if (!this.#authorized(req)) {
      return refuse(407, 'Proxy Authentication Required', 'tp proxy: proxy credentials are required', [REALM]);
    }
    const target = parseAbsoluteForm(req.url ?? '');
    if (!target.ok) {
      this.#ctx.stats.protocolErrors++;
      return refuse(400, 'Bad Request', `tp proxy: ${target.reason}`);
    }
    const { host, port, path } = target.value;
    const fields = { proto: 'http-upgrade', host, port };
    const dialed = await dialFor(this.#ctx, socket, host, port);
    if (!dialed.ok) {
      const { status, reason } = httpStatusFor(dialed.failure);
      this.#ctx.log('info', 'http upgrade dial failed', { ...fields, failure: dialed.failure });
      return refuse(status, reason, describeFailure(dialed.failure, host, port));
    }
    // Connection and Upgrade are hop-by-hop, but this hop asks for the same upgrade.
    const headers = [
      'Host',
      formatAuthority(host, port, 80),
      ...endToEndHeaders(req.rawHeaders, ['host']),
      'Connection',
      'Upgrade',
      'Upgrade',
      String(req.headers['upgrade']),
    ];
    let text = `${req.method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i + 1 < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    dialed.stream.write(`${text}\r\n`);
    if (head.length > 0) socket.unshift(head);
    relay(this.#ctx, socket, dialed.stream, fields);
  }

  #forward(req: IncomingMessage, res: ServerResponse): void {
    this.#ctx.stats.httpRequests++;
    if (!this.#authorized(req)) {
      textResponse(res, 407, 'tp proxy: proxy credentials are required', {
        'Proxy-Authenticate': 'Basic realm="tp", charset="UTF-8"',
      });
      return;
    }
    const target = parseAbsoluteForm(req.url ?? '');
    if (!target.ok) {
      this.#ctx.stats.protocolErrors++;
      textResponse(res, 400, `tp proxy: ${target.reason}`);
      return;
    }
    void this.#forwardTo(req, res, target.value.host, target.value.port, target.value.path);
  }

  async #forwardTo(req: IncomingMessage, res: ServerResponse, host: string, port: number, path: string): Promise<void> {
    const fields = { proto: 'http', method: req.method, host, port };
    const client = req.socket;
    const dialed = await dialFor(this.#ctx, client, host, port);
    if (!dialed.ok) {
      const { status } = httpStatusFor(dialed.failure);
      this.#ctx.log('info', 'http dial failed', { ...fields, failure: dialed.failure });
      if (!res.headersSent && !client.destroyed) textResponse(res, status, describeFailure(dialed.failure, host, port));
      return;
    }
    const upstream = dialed.stream;
    this.#ctx.stats.flowsActive++;
    this.#ctx.stats.flowsTotal++;
    let done = false;
    const finish = (err?: Error | null) => {
      if (done) return;
      done = true;
      this.#ctx.stats.flowsActive--;
      if (err) this.#ctx.log('debug', 'http request failed', { ...fields, error: err.message });
      upstream.destroy();
    };

    // RFC 9110 §7.2: the proxy sets Host from the target URI. Expect was answered by Node's
    // server already (100 Continue); passing it on would make the origin wait for nothing.
    const headers = ['Host', formatAuthority(host, port, 80), ...endToEndHeaders(req.rawHeaders, ['host', 'expect'])];
    // The body was de-chunked by the parser; say chunked again so Node frames it the same way.
    if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
    // This upstream stream serves one request (see the top of the file); say so, or an origin
    // would keep it open after the response.
    headers.push('Connection', 'close');

    const up = httpRequest({
      method: req.method,
      path,
      headers: headers as unknown as Record<string, string>, // Node accepts the raw [k, v, …] form
      createConnection: () => upstream as Socket,
    });
    up.on('response', (upRes) => {
      const status = upRes.statusCode ?? 502;
      res.writeHead(status, upRes.statusMessage, endToEndHeaders(upRes.rawHeaders) as unknown as Record<string, string>);
      pipeline(upRes, res, (err) => finish(err));
    });
    up.on('error', (err) => {
      if (!res.headersSent) {
        textResponse(res, 502, `tp proxy: ${formatAuthority(host, port, 80)} closed the connection before answering`);
      } else res.destroy(err); // mid-body: only an abort tells the client the body is cut short
      finish(err);
    });
    res.on('close', () => {
      if (!res.writableFinished) finish(new Error('client went away'));
    });
    pipeline(req, up, (err) => {
      if (err) finish(err);
    });
  }
}
