import test from 'ava';
import http2, { constants } from 'node:http2';
import net from 'node:net';
import { DialError } from '../../../../lib/proxy/dialer.js';
import { DirectDialer } from '../../../../lib/proxy/direct-dialer.js';
import { encodeDatagramCapsule } from '../../../../lib/proxy/tunnel/capsule.js';
import { TunnelClient } from '../../../../lib/proxy/tunnel/client.js';
import { TunnelCallError, TunnelVersionError } from '../../../../lib/proxy/tunnel/errors.js';
import { HEADERS } from '../../../../lib/proxy/tunnel/protocol.js';
import { TunnelServer } from '../../../../lib/proxy/tunnel/server.js';
import { echoTarget, readAll, sleep, tunnel, udpEcho, within } from './harness.js';

// How another module adds calls and topics: one declaration, typed on both ends.
declare module '../../../../lib/proxy/tunnel/protocol.js' {
  interface ControlCalls {
    echo: { request: { text: string }; response: { text: string; sessionId: string | undefined } };
    fail: { request: { kind: 'typed' | 'plain' }; response: Record<string, never> };
  }
  interface Watches {
    ticks: { request: { count: number; then?: 'end' | 'hang' | 'throw' }; event: { i: number } };
  }
}

function managerLike(server: TunnelServer): TunnelServer {
  let n = 0;
  return server
    .handle('hello', (req, ctx) => {
      ctx.conn.sessionId = `s-${++n}-${req.name}`;
      return { sessionId: ctx.conn.sessionId, heartbeatIntervalMs: 5000 };
    })
    .handle('echo', (req, ctx) => ({ text: req.text, sessionId: ctx.sessionId }), (b) => {
      const o = b as { text?: unknown };
      if (typeof o.text !== 'string') throw new Error('text must be a string');
      return { text: o.text };
    })
    .handle('fail', (req) => {
      if (req.kind === 'typed') throw new TunnelCallError('E_NOPE', 'no such workload', 404, 'try tp list');
      throw new Error('kaboom');
    })
    .watch('ticks', async (req, emit, ctx) => {
      for (let i = 0; i < req.count; i++) emit({ i });
      if (req.then === 'throw') throw new TunnelCallError('E_GONE', 'the workload went away', 410);
      if (req.then === 'hang') {
        await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
        hangAborted = true;
      }
    });
}
let hangAborted = false;

test('hello: the session id is adopted and sent on every later stream', async (t) => {
  const tn = await tunnel();
  managerLike(tn.server);
  const hello = await tn.client.call('hello', { name: 'alice' });
  t.regex(hello.sessionId, /^s-\d+-alice$/);
  t.is(tn.client.sessionId, hello.sessionId);
  const echo = await tn.client.call('echo', { text: 'hi' });
  t.deepEqual(echo, { text: 'hi', sessionId: hello.sessionId });
  t.is(tn.client.version, 1);
  t.true(tn.client.serverCapabilities.includes('connect-udp'));
  await tn.close();
});

test('control calls: unknown method, invalid body, typed and untyped handler errors', async (t) => {
  const tn = await tunnel();
  managerLike(tn.server);
  const unknown = await t.throwsAsync(tn.client.call('heartbeat', { sessionId: 'x' }));
  t.like(unknown, { code: 'E_TUNNEL_UNKNOWN_METHOD', status: 404 });
  const invalid = await t.throwsAsync(tn.client.call('echo', { text: 5 } as unknown as { text: string }));
  t.like(invalid, { code: 'E_TUNNEL_BAD_REQUEST', status: 400 });
  t.regex(invalid!.message, /text must be a string/);
  const typed = await t.throwsAsync(tn.client.call('fail', { kind: 'typed' }));
  t.like(typed, { code: 'E_NOPE', status: 404, message: 'no such workload', hint: 'try tp list' });
  const plain = await t.throwsAsync(tn.client.call('fail', { kind: 'plain' }));
  t.like(plain, { code: 'E_TUNNEL_INTERNAL', status: 500, message: 'kaboom' });
  await tn.close();
});

test('handshake: an incompatible peer gets an error naming both versions', async (t) => {
  const server = new TunnelServer({ version: 1, minVersion: 1 });
  const { port } = await server.listen(0);
  const err = await t.throwsAsync(TunnelClient.connect({ host: '127.0.0.1', port, version: 3, minVersion: 2 }));
  t.true(err instanceof TunnelVersionError);
  t.is(err!.message, 'tunnel protocol version mismatch: the peer speaks version 2..3, the traffic manager speaks version 1; upgrade the traffic manager so both match');
  await server.close();
});

test('handshake: requests before it are refused with a clear error', async (t) => {
  const server = managerLike(new TunnelServer({ dialer: new DirectDialer() }));
  const { port } = await server.listen(0);
  const raw = http2.connect(`http://127.0.0.1:${port}`);
  const post = raw.request({ ':method': 'POST', ':path': '/v1/hello' });
  post.end('{}');
  const status = new Promise<number>((r) => post.once('response', (h) => r(Number(h[':status']))));
  t.is(await within(status, 5000, 'status'), 400);
  t.regex((await readAll(post)).toString(), /E_TUNNEL_NO_HANDSHAKE.*must come before/);
  const conn = raw.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
  const h = await within(new Promise<http2.IncomingHttpHeaders>((r) => conn.once('response', r)), 5000, 'connect');
  t.is(Number(h[':status']), 400);
  raw.close();
  await server.close();
});

test('watch: events arrive in order and the stream ends when the server is done', async (t) => {
  const tn = await tunnel();
  managerLike(tn.server);
  const got: number[] = [];
  const w = tn.client.watch('ticks', { count: 500 }, (ev) => got.push(ev.i));
  await within(w.done, 5000, 'watch end');
  t.deepEqual(got, Array.from({ length: 500 }, (_, i) => i));
  await tn.close();
});

test('watch: cancel ends the server handler; an error after the start arrives as the last line', async (t) => {
  const tn = await tunnel();
  managerLike(tn.server);
  hangAborted = false;
  const got: number[] = [];
  const w = tn.client.watch('ticks', { count: 2, then: 'hang' }, (ev) => got.push(ev.i));
  while (got.length < 2) await sleep(10);
  w.cancel();
  await within(w.done, 5000, 'cancelled watch');
  await within((async () => { while (!hangAborted) await sleep(10); })(), 5000, 'handler sees abort');
  t.true(hangAborted);

  const failing = tn.client.watch('ticks', { count: 1, then: 'throw' }, () => {});
  const err = await t.throwsAsync(within(failing.done, 5000, 'failing watch'));
  t.like(err, { code: 'E_GONE', message: 'the workload went away' });
  await tn.close();
});

test('session close: the client emits close and later dials fail as DialError', async (t) => {
  const tn = await tunnel();
  const echo = await echoTarget();
  const flow = await tn.client.dialTcp('127.0.0.1', echo.port);
  const flowClosed = new Promise((r) => flow.once('close', r));
  const closed = new Promise((r) => tn.client.once('close', r));
  await tn.server.close();
  await within(closed, 5000, 'client close event');
  await within(flowClosed, 5000, 'flows on the session end too');
  t.true(tn.client.closed);
  const err = await t.throwsAsync(tn.client.dialTcp('127.0.0.1', echo.port));
  t.true(err instanceof DialError);
  t.like(err, { failure: 'other' });
  await echo.close();
});

test('accept(): a connection from elsewhere (the agent port) is served the same way', async (t) => {
  const server = managerLike(new TunnelServer({ dialer: new DirectDialer() }));
  const agentPort = net.createServer((sock) => server.accept(sock));
  await new Promise<void>((r) => agentPort.listen(0, '127.0.0.1', r));
  const seen: string[] = [];
  server.on('connection', (c) => seen.push(`open ${c.id}`));
  const socket = net.connect((agentPort.address() as net.AddressInfo).port, '127.0.0.1');
  const client = await TunnelClient.connect({ socket, peer: 'agent' });
  await client.call('hello', { name: 'pod-1' });
  const echo = await echoTarget();
  const flow = await client.dialTcp('127.0.0.1', echo.port);
  flow.end('via accept');
  t.is((await readAll(flow)).toString(), 'via accept');
  t.is(seen.length, 1);
  t.is([...server.connections][0]!.peer, 'agent');
  await client.close();
  await server.close();
  agentPort.close();
  await echo.close();
});

test('malformed capsule: the stream is reset, the session and other flows live on', async (t) => {
  const tn = await tunnel();
  const echo = await udpEcho();
  const raw = http2.connect(`http://127.0.0.1:${tn.port}`);
  const hs = raw.request({ ':method': 'POST', ':path': '/v1/handshake' });
  hs.end(JSON.stringify({ version: 1, minVersion: 1, peer: 'fuzzer', capabilities: [] }));
  await readAll(hs);
  await within(new Promise<void>((r) => (raw.remoteSettings.enableConnectProtocol ? r() : raw.once('remoteSettings', () => r()))), 5000, 'settings');
  const udp = raw.request({
    ':method': 'CONNECT',
    ':protocol': 'connect-udp',
    ':scheme': 'http',
    ':path': `/.well-known/masque/udp/127.0.0.1/${echo.port}/`,
    ':authority': 'tp',
    [HEADERS.version]: '1',
  });
  udp.on('error', () => {});
  const status = await within(new Promise<number>((r) => udp.once('response', (h) => r(Number(h[':status'])))), 5000, '200');
  t.is(status, 200);
  udp.write(encodeDatagramCapsule(Buffer.from('fine')));
  udp.write(Buffer.from([0x00, 0x80, 0xff, 0xff, 0xff])); // DATAGRAM of ~1 GiB: malformed
  await within(new Promise((r) => udp.once('close', r)), 5000, 'reset');
  t.is(udp.rstCode, constants.NGHTTP2_PROTOCOL_ERROR);
  // The same session still carries new flows.
  const flow = await tn.client.dialUdp('127.0.0.1', echo.port);
  const got = new Promise<string>((r) => flow.onDatagram((p) => r(p.toString())));
  flow.send(Buffer.from('still alive'));
  t.is(await within(got, 5000, 'echo after reset'), 'still alive');
  raw.close();
  await tn.close();
  echo.close();
});

test('handshake: a CONNECT before it is refused with the dial-error header', async (t) => {
  const server = new TunnelServer({ dialer: new DirectDialer() });
  const { port } = await server.listen(0);
  const raw = http2.connect(`http://127.0.0.1:${port}`);
  const conn = raw.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
  conn.on('error', () => {});
  const h = await within(new Promise<http2.IncomingHttpHeaders>((r) => conn.once('response', r)), 5000, 'connect');
  t.is(Number(h[':status']), 400);
  t.is(h[HEADERS.dialError], 'other');
  t.regex(decodeURIComponent(String(h[HEADERS.dialMessage])), /handshake .* must come before/);
  raw.close();
  await server.close();
});

test('a plain in-memory Duplex pair (what a kube port-forward hands us) carries the session', async (t) => {
  const { Duplex, PassThrough } = await import('node:stream');
  // Two pipes crossed: no kernel socket, like client-node's WebSocket port-forward stream.
  const up = new PassThrough();
  const down = new PassThrough();
  const clientEnd = Duplex.from({ readable: down, writable: up });
  const serverEnd = Duplex.from({ readable: up, writable: down });
  const server = managerLike(new TunnelServer({ dialer: new DirectDialer() }));
  server.accept(serverEnd);
  const client = await within(TunnelClient.connect({ socket: clientEnd }), 5000, 'connect over pipes');
  t.regex((await client.call('hello', { name: 'pipe' })).sessionId, /pipe$/);
  const echo = await echoTarget();
  const flow = await client.dialTcp('127.0.0.1', echo.port);
  const payload = Buffer.alloc(3 << 20, 0x5a); // more than one stream window
  const got = readAll(flow);
  flow.end(payload);
  t.true((await within(got, 20_000, 'echo over pipes')).equals(payload));
  const closed = new Promise((r) => client.once('close', r));
  await server.close();
  await within(closed, 5000, 'close over pipes');
  await echo.close();
});
