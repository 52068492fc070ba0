// The proxy over a dialer that returns HTTP/2 CONNECT streams (RFC 9113 §8.5), as the tunnel
// client does in production: the proxy must work with any Duplex, not only a net.Socket
// (no localAddress, no setNoDelay, END_STREAM for half-close).

import test from 'ava';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect as h2connect, createServer as createH2Server, constants, type ClientHttp2Session } from 'node:http2';
import { connect, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type Dialer, type UdpFlow } from '../../../../lib/proxy/dialer.js';
import { curl, readToEnd, socksConnect, startOrigin, startProxy } from './harness.js';

/** A stand-in for the traffic manager: dials what each CONNECT stream names, on loopback. */
async function startManager(): Promise<{ port: number; close: () => void }> {
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    const [host, port] = String(headers[':authority']).split(':');
    if (host !== '127.0.0.1') {
      stream.respond({ ':status': 502, 'x-tp-reason': 'nxdomain' }, { endStream: true });
      return;
    }
    const s = connect({ host, port: Number(port), allowHalfOpen: true });
    s.once('connect', () => {
      stream.respond({ ':status': 200 });
      stream.pipe(s).pipe(stream);
    });
    s.on('error', () => stream.respond({ ':status': 502, 'x-tp-reason': 'refused' }, { endStream: true }));
    stream.on('error', () => s.destroy());
    stream.on('close', () => s.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

class H2Dialer implements Dialer {
  constructor(
    private readonly session: ClientHttp2Session,
    private readonly names: Record<string, number>,
  ) {}
  dialTcp(host: string, port: number): Promise<Duplex> {
    const mapped = this.names[host];
    const authority = mapped !== undefined ? `127.0.0.1:${mapped}` : `${host}:${port}`;
    const stream = this.session.request({ ':method': 'CONNECT', ':authority': authority });
    return new Promise((resolve, reject) => {
      stream.once('response', (h) => {
        if (h[':status'] === 200) resolve(stream);
        else {
          reject(new DialError(h['x-tp-reason'] === 'refused' ? 'refused' : 'nxdomain', `manager said ${h[':status']}`));
          stream.close(constants.NGHTTP2_CANCEL);
        }
      });
      stream.once('error', (e) => reject(new DialError('other', e.message)));
    });
  }
  dialUdp(): Promise<UdpFlow> {
    return Promise.reject(new DialError('other', 'no UDP in this test'));
  }
}

const origin = await startOrigin('echo');
const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
echo.listen(0, '127.0.0.1');
await once(echo, 'listening');
const manager = await startManager();
const session = h2connect(`http://127.0.0.1:${manager.port}`);
const dialer = new H2Dialer(session, { 'echo.default': origin.port, 'pipe.default': (echo.address() as { port: number }).port });
const { proxy, port } = await startProxy({ dialer });
test.after.always(async () => {
  await proxy.stop();
  session.close();
  manager.close();
  origin.server.close();
  echo.close();
});

test('h2 dialer: curl --socks5-hostname, -x (absolute-URI) and -p (CONNECT) all work over CONNECT streams', async (t) => {
  for (const args of [
    ['--socks5-hostname', `127.0.0.1:${port}`],
    ['-x', `http://127.0.0.1:${port}`],
    ['-p', '-x', `http://127.0.0.1:${port}`],
  ]) {
    const r = await curl([...args, 'http://echo.default/over-h2']);
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stdout, /"url":"\/over-h2"/);
  }
});

test('h2 dialer: a failed CONNECT stream becomes SOCKS 0x04 / HTTP 502', async (t) => {
  const s = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://missing.default/']);
  t.is(s.code, 97);
  t.regex(s.stderr, /\(4\)/);
  const h = await curl(['-w', '%{http_code}', '-o', '/dev/null', '-x', `http://127.0.0.1:${port}`, 'http://missing.default/']);
  t.is(h.stdout, '502');
});

test('h2 dialer: half-close becomes END_STREAM and 16 MiB echo back byte-exact', async (t) => {
  t.timeout(60_000);
  const c = await socksConnect(port, 'pipe.default', 7);
  const data = Buffer.alloc(16 << 20);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
  const back = readToEnd(c, 30_000);
  c.end(data);
  const got = await back;
  t.is(got.length, data.length);
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
});
