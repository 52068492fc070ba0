import test from 'ava';
import http2, { constants } from 'node:http2';
import net from 'node:net';
import { DialError } from '../../../../lib/proxy/dialer.js';
import { DirectDialer } from '../../../../lib/proxy/direct-dialer.js';
import { encodeDatagramCapsule } from '../../../../lib/proxy/tunnel/capsule.js';
import { TunnelClient } from '../../../../lib/proxy/tunnel/client.js';
import { TunnelCallError, TunnelVersionError } from '../../../../lib/proxy/tunnel/errors.js';
import { HEADERS, type ApiDefinition } from '../../../../lib/proxy/tunnel/protocol.js';
import { TunnelServer } from '../../../../lib/proxy/tunnel/server.js';
import { echoTarget, readAll, sleep, tunnel, udpEcho, within } from './harness.js';

// An API as a seam module defines one: its type, and a validator per call and watch.
interface TestApi {
  calls: {
    hello: { request: { name: string }; response: { who: string } };
    echo: { request: { text: string }; response: { text: string; who: string | undefined } };
    fail: { request: { kind: 'typed' | 'plain' }; response: Record<string, never> };
    heartbeat: { request: Record<string, never>; response: Record<string, never> };
  };
  watches: {
    ticks: { request: { count: number; then?: 'end' | 'hang' | 'throw' }; event: { i: number } };
  };
}
const anyObject = (b: unknown) => b as never;
const testApi = (unauthenticated: Array<'hello'> = []): ApiDefinition<TestApi> => ({
  unauthenticated,
  calls: {
    hello: anyObject,
    echo: (b) => {
      const o = b as { text?: unknown };
      if (typeof o.text !== 'string') throw new Error('text must be a string');
      return { text: o.text };
    },
    fail: anyObject,
    heartbeat: anyObject,
  },
  watches: { ticks: anyObject },
});

type TestServer = TunnelServer<TestApi, string>;
function managerLike(server: TestServer): TestServer {
  let n = 0;
  return server
    .handle('hello', (req, ctx) => {
      ctx.conn.auth = `s-${++n}-${req.name}`;
      return { who: ctx.conn.auth };
    })
    .handle('echo', (req, ctx) => ({ text: req.text, who: ctx.conn.auth }))
    .handle('fail', (req) => {
      if (req.kind === 'typed') throw new TunnelCallError('E_WORKLOAD_NOT_FOUND', 'no such workload', 404, 'try tp list');
      throw new Error('kaboom');
    })
    .watch('ticks', async (req, emit, ctx) => {
      for (let i = 0; i < req.count; i++) emit({ i });
      if (req.then === 'throw') throw new TunnelCallError('E_ENGAGEMENT_ENDED', 'the workload went away', 410);
      if (req.then === 'hang') {
        await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
        hangAborted = true;
      }
    });
}
let hangAborted = false;

async function apiTunnel(unauthenticated: Array<'hello'> = []) {
  const server = managerLike(
    new TunnelServer<TestApi, string>({ api: testApi(unauthenticated), dialer: new DirectDialer({ connectTimeoutMs: 2000 }) }),
  );
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await TunnelClient.connect<TestApi>({ host: '127.0.0.1', port });
  return { server, client, port, close: async () => (await client.close(), await server.close()) };
}

test('hello: what the hello of an API proves is bound to the connection; later streams see it', async (t) => {
  const tn = await apiTunnel(['hello']);
  const hello = await tn.client.call('hello', { name: 'alice' });
  t.regex(hello.who, /^s-\d+-alice$/);
  const echo = await tn.client.call('echo', { text: 'hi' });
  t.deepEqual(echo, { text: 'hi', who: hello.who });
  t.is(tn.client.version, 2);
  t.true(tn.client.serverCapabilities.includes('connect-udp'));
  await tn.close();
});

test('#11: before the hello, every stream but the hello is refused unread (401), flows included', async (t) => {
  const tn = await apiTunnel(['hello']);
  const echo = await t.throwsAsync(tn.client.call('echo', { text: 'x'.repeat(1 << 20) }));
  t.like(echo, { code: 'E_UNAUTHENTICATED', status: 401 });
  const watch = await t.throwsAsync(tn.client.watch('ticks', { count: 1 }, () => {}).done);
  t.like(watch, { code: 'E_UNAUTHENTICATED' });
  const target = await echoTarget();
  const dial = await t.throwsAsync(tn.client.dialTcp('127.0.0.1', target.port));
  t.like(dial, { failure: 'forbidden' });
  t.is(tn.server.stats.unauthenticated, 3);
  // The hello itself is capped: a peer that has not authenticated gets a few KB, not megabytes.
  const big = await t.throwsAsync(tn.client.call('hello', { name: 'x'.repeat(64 << 10) }));
  t.like(big, { status: 413 });
  await tn.client.call('hello', { name: 'bob' });
  const flow = await tn.client.dialTcp('127.0.0.1', target.port);
  flow.end('after hello');
  t.is((await readAll(flow)).toString(), 'after hello');
  await tn.close();
  await target.close();
});

test('stream kinds: an extended CONNECT reaches the handler of its kind with its path; refusals carry a reason', async (t) => {
  const tn = await apiTunnel();
  const target = await echoTarget();
  const seen: string[] = [];
  tn.server.connectKind('tp-test', async (path) => {
    seen.push(path);
    if (path === '/no') throw new DialError('forbidden', 'not yours');
    const { connect } = await import('node:net');
    const s = connect({ host: '127.0.0.1', port: target.port });
    await new Promise((r) => s.once('connect', r));
    return s;
  });
  const ok = await tn.client.openStream('tp-test', '/yes');
  ok.end('kind');
  t.is((await readAll(ok)).toString(), 'kind');
  const no = await t.throwsAsync(tn.client.openStream('tp-test', '/no'));
  t.like(no, { failure: 'forbidden', message: 'not yours' });
  const unknown = await t.throwsAsync(tn.client.openStream('tp-other', '/x'));
  t.like(unknown, { failure: 'other' });
  t.deepEqual(seen, ['/yes', '/no']);
  await tn.close();
  await target.close();
});

test('control calls: unknown method, invalid body, typed and untyped handler errors', async (t) => {
  const tn = await apiTunnel();
  const unknown = await t.throwsAsync(tn.client.call('heartbeat', {}));
  t.like(unknown, { code: 'E_TUNNEL_UNKNOWN_METHOD', status: 404 });
  const invalid = await t.throwsAsync(tn.client.call('echo', { text: 5 } as unknown as { text: string }));
  t.like(invalid, { code: 'E_TUNNEL_BAD_REQUEST', status: 400 });
  t.regex(invalid!.message, /text must be a string/);
  const typed = await t.throwsAsync(tn.client.call('fail', { kind: 'typed' }));
  t.like(typed, { code: 'E_WORKLOAD_NOT_FOUND', status: 404, message: 'no such workload', hint: 'try tp list' });
  const plain = await t.throwsAsync(tn.client.call('fail', { kind: 'plain' }));
  t.like(plain, { code: 'E_TUNNEL_INTERNAL', status: 500, message: 'kaboom' });
  await tn.close();
});

test('handshake: an incompatible peer gets an error naming both versions', async (t) => {
  const server = new TunnelServer({ version: 1, minVersion: 1 });
  const { port } = await server.listen(0);
  const err = await t.throwsAsync(TunnelClient.connect({ host: '127.0.0.1', port, version: 3, minVersion: 2 }));
  t.true(err instanceof TunnelVersionError);
  t.is(
    err!.message,
    'tunnel protocol version mismatch: the peer speaks version 2..3, the traffic manager speaks version 1; upgrade the traffic manager so both match',
  );
  await server.close();
});

test('handshake: requests before it are refused with a clear error', async (t) => {
  const server = managerLike(new TunnelServer<TestApi, string>({ api: testApi(), dialer: new DirectDialer() }));
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
  const tn = await apiTunnel();
  const got: number[] = [];
  const w = tn.client.watch('ticks', { count: 500 }, (ev) => got.push(ev.i));
  await within(w.done, 5000, 'watch end');
  t.deepEqual(
    got,
    Array.from({ length: 500 }, (_, i) => i),
  );
  await tn.close();
});

test('watch: cancel ends the server handler; an error after the start arrives as the last line', async (t) => {
  const tn = await apiTunnel();
  hangAborted = false;
  const got: number[] = [];
  const w = tn.client.watch('ticks', { count: 2, then: 'hang' }, (ev) => got.push(ev.i));
  while (got.length < 2) await sleep(10);
  w.cancel();
  await within(w.done, 5000, 'cancelled watch');
  await within(
    (async () => {
      while (!hangAborted) await sleep(10);
    })(),
    5000,
    'handler sees abort',
  );
  t.true(hangAborted);

  const failing = tn.client.watch('ticks', { count: 1, then: 'throw' }, () => {});
  const err = await t.throwsAsync(within(failing.done, 5000, 'failing watch'));
  t.like(err, { code: 'E_ENGAGEMENT_ENDED', message: 'the workload went away' });
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
  const server = managerLike(new TunnelServer<TestApi, string>({ api: testApi(), dialer: new DirectDialer() }));
  const agentPort = net.createServer((sock) => server.accept(sock));
  await new Promise<void>((r) => agentPort.listen(0, '127.0.0.1', r));
  const seen: string[] = [];
  server.on('connection', (c) => seen.push(`open ${c.id}`));
  const socket = net.connect((agentPort.address() as net.AddressInfo).port, '127.0.0.1');
  const client = await TunnelClient.connect<TestApi>({ socket, peer: 'agent' });
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
  hs.end(JSON.stringify({ version: 2, minVersion: 2, peer: 'fuzzer', capabilities: [] }));
  await readAll(hs);
  await within(
    new Promise<void>((r) => (raw.remoteSettings.enableConnectProtocol ? r() : raw.once('remoteSettings', () => r()))),
    5000,
    'settings',
  );
  const udp = raw.request({
    ':method': 'CONNECT',
    ':protocol': 'connect-udp',
    ':scheme': 'http',
    ':path': `/.well-known/masque/udp/127.0.0.1/${echo.port}/`,
    ':authority': 'tp',
    [HEADERS.version]: '2',
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
  const server = managerLike(new TunnelServer<TestApi, string>({ api: testApi(), dialer: new DirectDialer() }));
  server.accept(serverEnd);
  const client = await within(TunnelClient.connect<TestApi>({ socket: clientEnd }), 5000, 'connect over pipes');
  t.regex((await client.call('hello', { name: 'pipe' })).who, /pipe$/);
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
