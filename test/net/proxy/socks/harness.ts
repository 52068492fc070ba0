// Loopback fixtures for the proxy's net tests: a Dialer that plays the cluster (names map to
// local servers, some names and ports fail the way the tunnel reports), an HTTP origin, a UDP
// echo server, a curl runner and a hand-made SOCKS5 client.

import { execFile } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type DialFailure, type Dialer, type UdpFlow } from '../../../../lib/proxy/dialer.js';
import { ProxyServer, type ProxyServerOptions } from '../../../../lib/proxy/socks/index.js';

export type Route = { host: string; port: number } | DialFailure | 'hang';

/** Resolves names the way the cluster would, by a table the test gives. */
export class TestDialer implements Dialer {
  readonly calls: { kind: 'tcp' | 'udp'; host: string; port: number }[] = [];
  constructor(private readonly route: (host: string, port: number) => Route) {}

  async dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    this.calls.push({ kind: 'tcp', host, port });
    const r = await this.#resolve(host, port, signal);
    const s = connect({ host: r.host, port: r.port, allowHalfOpen: true, noDelay: true });
    return new Promise<Duplex>((resolve, reject) => {
      const onAbort = () => s.destroy();
      signal?.addEventListener('abort', onAbort, { once: true });
      s.once('connect', () => {
        signal?.removeEventListener('abort', onAbort);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new DialError(err.code === 'ECONNREFUSED' ? 'refused' : 'other', err.message));
      });
    });
  }

  async dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    this.calls.push({ kind: 'udp', host, port });
    const r = await this.#resolve(host, port, signal);
    const sock = createSocket('udp4');
    sock.on('error', () => {});
    await new Promise<void>((res) => sock.connect(r.port, r.host, res));
    let closed = false;
    let resolveClosed!: () => void;
    const closedP = new Promise<void>((res) => (resolveClosed = res));
    return {
      send: (p) => (closed ? false : (sock.send(p), true)),
      onDatagram: (l) => void sock.on('message', (m) => l(m)),
      close: () => {
        if (closed) return;
        closed = true;
        sock.close(() => resolveClosed());
      },
      closed: closedP,
    };
  }

  async #resolve(host: string, port: number, signal?: AbortSignal): Promise<{ host: string; port: number }> {
    const r = this.route(host, port);
    if (r === 'hang') {
      // Like a dial to a black hole: the tunnel gives up after its timeout (short here).
      await new Promise<void>((res) => {
        const t = setTimeout(res, 300);
        signal?.addEventListener('abort', () => (clearTimeout(t), res()), { once: true });
      });
      throw new DialError('timeout', `dial ${host}:${port} timed out`);
    }
    if (typeof r === 'string') throw new DialError(r, `dial ${host}:${port}: ${r}`);
    return r;
  }
}

/** An HTTP origin that reports what it received, so tests can check forwarding. */
export async function startOrigin(name = 'echo'): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': name, 'keep-alive': 'timeout=5' });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** A UDP server that answers every datagram with "echo:" + the datagram. */
export async function startUdpEcho(): Promise<{ sock: DgramSocket; port: number }> {
  const sock = createSocket('udp4');
  sock.on('message', (m, r) => sock.send([Buffer.from('echo:'), m], r.port, r.address));
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  return { sock, port: sock.address().port };
}

export async function startProxy(opts: Omit<ProxyServerOptions, 'port' | 'host'> & { host?: string }) {
  const proxy = new ProxyServer({ port: 0, ...opts });
  const addr = await proxy.start();
  return { proxy, port: addr.port };
}

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl with a hard time limit; never rejects, the exit code is part of the answer. */
export function curl(args: string[], timeoutMs = 10_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args],
      { timeout: timeoutMs + 2000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Reads exactly n bytes from a socket (test client side), or rejects if it ends first. */
export function readExactly(s: Socket, n: number, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => done(new Error(`timed out waiting for ${n} bytes, got ${buf.length}`)), timeoutMs);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        const rest = buf.subarray(n);
        done();
        if (rest.length) s.unshift(rest);
        resolve(buf.subarray(0, n));
      }
    };
    const onEnd = () => done(new Error(`connection ended after ${buf.length} of ${n} bytes`));
    const done = (err?: Error) => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
      s.pause();
      if (err) reject(err);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
    s.resume();
  });
}

/** Everything the peer sends until it closes (bounded by time). */
export function readToEnd(s: Socket, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => reject(new Error('timed out waiting for the peer to close')), timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
    s.on('error', () => {});
    s.resume();
  });
}

/** A SOCKS5 CONNECT by hand (no auth); resolves with the socket ready for payload. */
export async function socksConnect(proxyPort: number, host: string, port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true, noDelay: true });
  await once(s, 'connect');
  const name = Buffer.from(host, 'latin1');
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  s.write(Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 3, name.length]), name, p]));
  const method = await readExactly(s, 2);
  if (method[1] !== 0) throw new Error(`method ${method[1]}`);
  const head = await readExactly(s, 4);
  if (head[1] !== 0) throw new Error(`SOCKS reply ${head[1]}`);
  const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : (await readExactly(s, 1))[0]! + 2;
  await readExactly(s, rest);
  return s;
}
