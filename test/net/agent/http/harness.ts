// Loopback harness for the agent's HTTP router: local HTTP servers standing for the app and the
// workstations of sessions, a listener that hands accepted sockets to an HttpRouter, and dialers.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { HttpRouter, type RouterOptions } from '../../../../lib/agent/http/router.js';

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes: a test can check a body without keeping a copy. */
export function pattern(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  return b;
}

export interface Echo {
  who: string;
  method: string;
  url: string;
  rawHeaders: string[];
  length: number;
  sha: string;
}

export interface Origin {
  who: string;
  server: HttpServer;
  port: number;
  /** Sockets accepted: keep-alive reuse shows as one. */
  connections: number;
  requests: number;
}

/**
 * An HTTP server that answers every request with a JSON Echo of what it received;
 * `GET /big/N` answers N pattern bytes (Content-Length, or chunked with ?chunked).
 */
export async function startOrigin(who: string): Promise<Origin> {
  const o: Origin = { who, server: undefined as unknown as HttpServer, port: 0, connections: 0, requests: 0 };
  const server = createHttpServer({ keepAliveTimeout: 30_000 }, async (req: IncomingMessage, res) => {
    o.requests++;
    const big = /\/big\/(\d+)/.exec(req.url ?? '');
    if (big) {
      const body = pattern(Number(big[1]));
      if (!req.url!.includes('chunked')) res.setHeader('content-length', body.length);
      res.setHeader('x-who', who);
      for (let i = 0; i < body.length; i += 256 * 1024) {
        if (!res.write(body.subarray(i, i + 256 * 1024))) await once(res, 'drain');
      }
      res.end();
      return;
    }
    const h = createHash('sha256');
    let length = 0;
    try {
      for await (const c of req) {
        h.update(c as Buffer);
        length += (c as Buffer).length;
      }
    } catch {
      return; // the client (the agent) cut the request: nothing to answer
    }
    const echo: Echo = { who, method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, length, sha: h.digest('hex') };
    res.setHeader('x-who', who);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(echo));
  });
  server.on('connection', () => o.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  o.server = server;
  o.port = (server.address() as AddressInfo).port;
  return o;
}

export function dialer(port: number): () => Promise<Duplex> {
  return () =>
    new Promise<Duplex>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
}

export interface Agent {
  router: HttpRouter;
  server: Server;
  port: number;
  done: Promise<void>[];
  close(): Promise<void>;
}

/** The agent's listener: what the REDIRECT rule would hand it. */
export async function startAgent(opts: RouterOptions): Promise<Agent> {
  const router = new HttpRouter(opts);
  const done: Promise<void>[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    done.push(router.handle(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    router,
    server,
    port: (server.address() as AddressInfo).port,
    done,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await Promise.all(done);
    },
  };
}

/** A raw TCP server that records every byte each connection sent it; `read: false` never reads. */
export async function startSink(opts: { read: boolean }) {
  const conns: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    const got: Buffer[] = [];
    conns.push(got);
    if (opts.read) s.on('data', (b: Buffer) => got.push(b));
    else s.pause();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    conns,
    bytes: () => Buffer.concat(conns.flat()),
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A stream to a peer that never reads: nothing written is ever acknowledged, so its unsent bytes
 * (writableLength) only grow — what a workstation with a zero TCP window looks like to the agent,
 * independent of the kernel's socket buffer sizes. */
export function neverDrains(): Duplex {
  return new Duplex({ read() {}, write() {} });
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/** Send raw bytes on one connection and collect everything until the agent closes it. */
export async function rawExchange(port: number, parts: Buffer[], opts: { end?: boolean } = {}): Promise<Buffer> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const got: Buffer[] = [];
  s.on('data', (b: Buffer) => got.push(b));
  for (const p of parts) s.write(p);
  if (opts.end) s.end();
  await once(s, 'close');
  return Buffer.concat(got);
}
