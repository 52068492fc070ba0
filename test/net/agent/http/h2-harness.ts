// node:http2 servers and clients on loopback for the agent's HTTP/2 router (issue #13).
import { once } from 'node:events';
import {
  connect as h2connect,
  createServer as createH2Server,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type H2Handler = (s: ServerHttp2Stream, h: IncomingHttpHeaders, o: H2Origin) => void;

export interface H2Origin {
  who: string;
  port: number;
  server: Http2Server;
  /** TCP connections (sessions) accepted. */
  sessions: ServerHttp2Session[];
  /** rstCode of every stream when it closed (0: ended cleanly). */
  closed: number[];
  handler: H2Handler;
  close(): Promise<void>;
}

/** Default: answer `{ who, path, dev, method }` after reading the whole request body. */
export const echo: H2Handler = (s, h, o) => {
  let n = 0;
  s.on('data', (b: Buffer) => (n += b.length));
  s.on('end', () => {
    if (s.closed) return;
    s.respond({ ':status': 200, 'content-type': 'application/json', 'x-who': o.who });
    s.end(
      JSON.stringify({ who: o.who, path: h[':path'], dev: h['x-dev'] ?? null, method: h[':method'], bytes: n, authority: h[':authority'] }),
    );
  });
};

export async function startH2Origin(who: string, handler: H2Handler = echo): Promise<H2Origin> {
  const server = createH2Server();
  const o: H2Origin = { who, port: 0, server, sessions: [], closed: [], handler, close: async () => {} };
  server.on('session', (s) => {
    o.sessions.push(s);
    s.on('error', () => {});
  });
  server.on('stream', (s, h) => {
    s.on('error', () => {});
    s.on('close', () => o.closed.push(s.rstCode ?? -1));
    o.handler(s, h, o);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  o.port = (server.address() as AddressInfo).port;
  o.close = async () => {
    for (const s of o.sessions) s.destroy();
    server.close();
  };
  return o;
}

export function h2client(port: number, settings?: Parameters<typeof h2connect>[1]): ClientHttp2Session {
  const c = h2connect(`http://127.0.0.1:${port}`, settings ?? {});
  c.on('error', () => {});
  return c;
}

export interface H2Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/** One request; resolves when the stream closed, however it closed. */
export function h2request(c: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<H2Res> {
  return new Promise((resolve) => {
    const r = c.request({ ':method': body ? 'POST' : 'GET', ...headers }, body ? {} : { endStream: true });
    const got: Buffer[] = [];
    const res: H2Res = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: undefined, rstCode: undefined };
    r.on('response', (h) => {
      res.status = Number(h[':status']);
      res.headers = h;
    });
    r.on('trailers', (t) => (res.trailers = t));
    r.on('data', (b: Buffer) => got.push(b));
    r.on('error', () => {});
    r.on('close', () => {
      res.body = Buffer.concat(got);
      res.rstCode = r.rstCode;
      resolve(res);
    });
    if (body) r.end(body);
  });
}

/**
 * A TCP relay in front of `port` that can be frozen: it then stops moving bytes either way
 * without closing, as a tunnel to a workstation that vanished without a FIN looks to the agent.
 */
export async function freezableRelay(port: number) {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((a) => {
    const b = connect({ host: '127.0.0.1', port });
    for (const s of [a, b]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    a.on('data', (d: Buffer) => frozen || b.write(d));
    b.on('data', (d: Buffer) => frozen || a.write(d));
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => (frozen = true),
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
