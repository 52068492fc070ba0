// The proxy against real curl on loopback: every way in (SOCKS5 by name and by IP, HTTP
// absolute-URI, HTTP CONNECT), auth, and the failures curl must report clearly.

import test from 'ava';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { ProxyListenError, ProxyServer } from '../../../../lib/proxy/socks/index.js';
import { curl, readToEnd, startOrigin, startProxy, TestDialer, type Route } from './harness.js';

const origin = await startOrigin('echo');
const route = (host: string, port: number): Route => {
  if (host === 'echo.default' || (host === '127.0.0.1' && port === 80)) return { host: '127.0.0.1', port: origin.port };
  if (host === 'refused.default' || port === 1) return 'refused';
  if (host === 'blackhole.default') return 'hang';
  if (host === 'gone.default') return 'unreachable';
  if (host === 'secret.default') return 'forbidden';
  return 'nxdomain';
};
const dialer = new TestDialer(route);
const { proxy, port } = await startProxy({ dialer });
const P = `127.0.0.1:${port}`;
const authed = await startProxy({ dialer, credentials: { username: 'alice', password: 's3cret' } });
const A = `127.0.0.1:${authed.port}`;

test.after.always(async () => {
  await proxy.stop();
  await authed.proxy.stop();
  origin.server.close();
});

const body = (r: { stdout: string }) => JSON.parse(r.stdout) as { url: string; headers: Record<string, string>; body: string };

test('socks5h: curl --socks5-hostname reaches echo.default; the name is passed to the dialer unresolved', async (t) => {
  const r = await curl(['--socks5-hostname', P, 'http://echo.default/hello?x=1']);
  t.is(r.code, 0, r.stderr);
  t.is(body(r).url, '/hello?x=1');
  t.true(dialer.calls.some((c) => c.host === 'echo.default' && c.port === 80));
});

test('socks5: curl --socks5 with an IP address', async (t) => {
  const r = await curl(['--socks5', P, 'http://127.0.0.1/by-ip']);
  t.is(r.code, 0, r.stderr);
  t.is(body(r).url, '/by-ip');
});

test('socks5: a refused dial is reply 0x05, curl exits 97 and says so', async (t) => {
  const r = await curl(['--socks5-hostname', P, 'http://refused.default/']);
  t.is(r.code, 97);
  t.regex(r.stderr, /\(5\)/);
});

test('socks5: timeout, unreachable and nxdomain are reply 0x04 (host unreachable)', async (t) => {
  for (const host of ['blackhole.default', 'gone.default', 'nowhere.default']) {
    const r = await curl(['--socks5-hostname', P, `http://${host}/`]);
    t.is(r.code, 97, host);
    t.regex(r.stderr, /\(4\)/, host);
  }
});

test('socks5: a forbidden target is reply 0x02', async (t) => {
  const r = await curl(['--socks5-hostname', P, 'http://secret.default/']);
  t.is(r.code, 97);
  t.regex(r.stderr, /\(2\)/);
});

test('http: absolute-URI GET, Host from the URI, hop-by-hop headers dropped both ways, keep-alive across requests', async (t) => {
  const r = await curl([
    '-v',
    '-x',
    `http://${P}`,
    '-H',
    'Proxy-Connection: keep-alive',
    '-H',
    'X-End: 1',
    'http://echo.default/one',
    'http://echo.default/two',
  ]);
  t.is(r.code, 0, r.stderr);
  const [one, two] = r.stdout.split('}{').map((s, i) => (i === 0 ? `${s}}` : `{${s}`));
  const h1 = JSON.parse(one!) as { url: string; headers: Record<string, string> };
  t.is(h1.url, '/one');
  t.is(h1.headers['host'], 'echo.default');
  t.is(h1.headers['x-end'], '1');
  t.false('proxy-connection' in h1.headers);
  t.is((JSON.parse(two!) as { url: string }).url, '/two');
  t.regex(r.stderr, /Re-using existing connection/);
  t.notRegex(r.stderr, /< Keep-Alive: timeout=5/i); // the origin's hop-by-hop header stays there
  t.regex(r.stderr, /< x-origin: echo/i);
});

test('http: absolute-URI POST with a body (fixed length and chunked)', async (t) => {
  const fixed = await curl(['-x', `http://${P}`, '--data-binary', 'hello body', 'http://echo.default/post']);
  t.is(body(fixed).body, 'hello body');
  const chunked = await curl([
    '-x',
    `http://${P}`,
    '-H',
    'Transfer-Encoding: chunked',
    '--data-binary',
    'chunky',
    'http://echo.default/post',
  ]);
  t.is(body(chunked).body, 'chunky');
});

test('http: CONNECT tunnel (curl -p)', async (t) => {
  const r = await curl(['-p', '-x', `http://${P}`, 'http://echo.default/tunneled']);
  t.is(r.code, 0, r.stderr);
  t.is(body(r).url, '/tunneled');
});

test('http: a refused dial is 502 with a one-line reason; a timeout is 504', async (t) => {
  const refused = await curl(['-w', '\n%{http_code}', '-x', `http://${P}`, 'http://refused.default/']);
  t.is(refused.code, 0);
  t.is(refused.stdout, 'tp proxy: refused.default:80 refused the connection\n\n502');
  const slow = await curl(['-w', '\n%{http_code}', '-x', `http://${P}`, 'http://blackhole.default/']);
  t.regex(slow.stdout, /did not answer in time\n\n504$/);
  const tunnel = await curl(['-p', '-x', `http://${P}`, 'http://nowhere.default/']);
  t.is(tunnel.code, 56);
  t.regex(tunnel.stderr, /502/);
});

test('http: an origin-form request to the proxy is a 400 that says what to do', async (t) => {
  const r = await curl(['-w', '\n%{http_code}', `http://${P}/not-a-proxy-request`]);
  t.regex(r.stdout, /absolute URI.*\n\n400$/s);
});

test('auth: socks5 with the right --proxy-user passes, the wrong one fails and the server stays up', async (t) => {
  const good = await curl(['--socks5-hostname', A, '--proxy-user', 'alice:s3cret', 'http://echo.default/ok']);
  t.is(good.code, 0, good.stderr);
  const bad = await curl(['--socks5-hostname', A, '--proxy-user', 'alice:wrong', 'http://echo.default/']);
  t.is(bad.code, 97);
  t.regex(bad.stderr, /rejected/i);
  const none = await curl(['--socks5-hostname', A, 'http://echo.default/']);
  t.is(none.code, 97);
  t.regex(none.stderr, /No authentication method was acceptable/i);
  t.is((await curl(['--socks5-hostname', A, '--proxy-user', 'alice:s3cret', 'http://echo.default/again'])).code, 0);
  t.true(authed.proxy.stats.authFailures >= 2);
});

test('auth: http proxy wants Basic credentials: 407 without, 200 with', async (t) => {
  const none = await curl(['-w', '%{http_code}', '-o', '/dev/null', '-x', `http://${A}`, 'http://echo.default/']);
  t.is(none.stdout, '407');
  const wrong = await curl(['-p', '-x', `http://${A}`, '--proxy-user', 'alice:nope', 'http://echo.default/']);
  t.is(wrong.code, 56);
  t.regex(wrong.stderr, /407/);
  const good = await curl(['-x', `http://${A}`, '--proxy-user', 'alice:s3cret', 'http://echo.default/in']);
  t.is(body(good).url, '/in');
  t.false('proxy-authorization' in body(good).headers); // credentials never reach the origin
  const goodTunnel = await curl(['-p', '-x', `http://${A}`, '--proxy-user', 'alice:s3cret', 'http://echo.default/in']);
  t.is(goodTunnel.code, 0);
});

test('socks4: curl --socks4 gets "request rejected" (0x5B) and the server stays up', async (t) => {
  const r = await curl(['--socks4', P, 'http://127.0.0.1/']);
  t.is(r.code, 97);
  t.regex(r.stderr, /\(91\)/);
  t.is((await curl(['--socks5-hostname', P, 'http://echo.default/still-up'])).code, 0);
});

/** Sends raw bytes and returns everything the proxy answers before it closes. */
async function exchange(bytes: number[][]): Promise<Buffer> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const all = readToEnd(s);
  for (const b of bytes) s.write(Buffer.from(b));
  return all;
}

test('malformed: BIND gets 0x07, a bad address type 0x08, a bad request version 0x01, then close', async (t) => {
  t.deepEqual(
    [
      ...(await exchange([
        [5, 1, 0],
        [5, 2, 0, 1, 127, 0, 0, 1, 0, 80],
      ])),
    ],
    [5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0],
  );
  t.deepEqual(
    [
      ...(await exchange([
        [5, 1, 0],
        [5, 1, 0, 9, 1, 2],
      ])),
    ],
    [5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0],
  );
  t.deepEqual(
    [
      ...(await exchange([
        [5, 1, 0],
        [4, 1, 0, 1, 127, 0, 0, 1, 0, 80],
      ])),
    ],
    [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0],
  );
});

test('malformed: no acceptable method gets 0xFF; a truncated greeting or request just closes', async (t) => {
  t.deepEqual([...(await exchange([[5, 1, 0x80]]))], [5, 0xff]);
  const trunc = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(trunc, 'connect');
  const got = readToEnd(trunc);
  trunc.end(Buffer.from([5, 1, 0, 5, 1, 0, 3, 20, 0x61])); // request cut inside the name, then EOF
  t.deepEqual([...(await got)], [5, 0]);
});

test('malformed: a silent client is closed after the handshake timeout', async (t) => {
  const quick = await startProxy({ dialer, handshakeTimeoutMs: 200 });
  const s = connect({ host: '127.0.0.1', port: quick.port });
  await once(s, 'connect');
  s.write(Buffer.from([5, 1, 0])); // greeting, then nothing
  const got = await readToEnd(s, 3000);
  t.deepEqual([...got], [5, 0]);
  await quick.proxy.stop();
});

test('malformed: garbage on the port gets an HTTP 400, and the server keeps serving', async (t) => {
  const got = await exchange([
    [0x16, 0x03, 0x01, 0x00],
    [0x0d, 0x0a, 0x0d, 0x0a],
  ]); // a stray TLS record
  t.regex(got.toString('latin1'), /^HTTP\/1\.1 400/);
  t.is((await curl(['--socks5-hostname', P, 'http://echo.default/after-garbage'])).code, 0);
});

test('pipelined: greeting, request and payload in one write reach the target in order', async (t) => {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const name = Buffer.from('echo.default');
  s.write(
    Buffer.concat([
      Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]),
      name,
      Buffer.from([0, 80]),
      Buffer.from('GET /pipelined HTTP/1.1\r\nHost: echo.default\r\nConnection: close\r\n\r\n'),
    ]),
  );
  const all = await readToEnd(s);
  t.deepEqual([...all.subarray(0, 4)], [5, 0, 5, 0]);
  t.regex(all.toString('latin1'), /"url":"\/pipelined"/);
});

test('half-close: the client FIN reaches the target and the answer still comes back', async (t) => {
  // A target that answers only after the request side has ended (like `sort` behind nc -N).
  const target = createServer({ allowHalfOpen: true }, (c) => {
    const parts: Buffer[] = [];
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('end', () => c.end(Buffer.concat(parts).toString().toUpperCase()));
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const tport = (target.address() as { port: number }).port;
  const p2 = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: tport })) });
  const { socksConnect } = await import('./harness.js');
  const s = await socksConnect(p2.port, 'upper.default', 9);
  const answer = readToEnd(s);
  s.end('half closed');
  t.is((await answer).toString(), 'HALF CLOSED');
  await p2.proxy.stop();
  target.close();
});

test('port in use: start() rejects with one sentence naming the address and what to do', async (t) => {
  const other = new ProxyServer({ dialer, port });
  const err = await t.throwsAsync(other.start(), { instanceOf: ProxyListenError });
  t.is((err as ProxyListenError).code, 'E_PROXY_ADDRESS_IN_USE');
  t.is(
    err!.message,
    `cannot start the SOCKS/HTTP proxy on 127.0.0.1:${port}: the address is already in use; stop the program using it or choose another port (--socks HOST:PORT)`,
  );
  t.is((await curl(['--socks5-hostname', P, 'http://echo.default/'])).code, 0);
});

test('stop: live flows are closed and counters return to zero', async (t) => {
  const p3 = await startProxy({ dialer });
  const { socksConnect } = await import('./harness.js');
  const s = await socksConnect(p3.port, 'echo.default', 80);
  t.is(p3.proxy.stats.flowsActive, 1);
  // The client was opened half-open: the proxy's FIN shows as 'end', not 'close'.
  const ended = Promise.race([once(s, 'end'), once(s, 'close')]);
  s.on('error', () => {});
  s.resume();
  await p3.proxy.stop();
  await ended;
  s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  t.is(p3.proxy.stats.flowsActive, 0);
  t.is(p3.proxy.stats.connectionsActive, 0);
});

test('ipv6: the proxy listens on ::1 and passes IPv6 literal targets (SOCKS ATYP 4, [v6] URIs) to the dialer', async (t) => {
  const v6dialer = new TestDialer(() => ({ host: '127.0.0.1', port: origin.port }));
  const p6 = await startProxy({ dialer: v6dialer, host: '::1' });
  try {
    const socks = await curl(['--socks5', `[::1]:${p6.port}`, 'http://[fd00::1]/six']);
    t.is(socks.code, 0, socks.stderr);
    const http = await curl(['-x', `http://[::1]:${p6.port}`, 'http://[fd00::1]:8080/six']);
    t.is(body(http).headers['host'], '[fd00::1]:8080');
    t.deepEqual(
      v6dialer.calls.map((c) => [c.host, c.port]),
      [
        ['fd00::1', 80],
        ['fd00::1', 8080],
      ],
    );
  } finally {
    await p6.proxy.stop();
  }
});

test('http: an absolute-URI Upgrade request (WebSocket-style) is passed on and spliced after the 101', async (t) => {
  // A raw origin that accepts any upgrade and then echoes in upper case.
  let seenHead = '';
  const ws = createServer((c) => {
    c.on('error', () => {}); // the proxy resets it when the client goes away abruptly
    c.once('data', (d: Buffer) => {
      seenHead = d.toString('latin1');
      c.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tp-test\r\n\r\n');
      c.on('data', (m: Buffer) => c.write(m.toString().toUpperCase()));
    });
  });
  ws.listen(0, '127.0.0.1');
  await once(ws, 'listening');
  const wsPort = (ws.address() as { port: number }).port;
  const pu = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: wsPort })) });
  const s = connect({ host: '127.0.0.1', port: pu.port });
  await once(s, 'connect');
  s.write(
    'GET http://ws.default/chat?room=1 HTTP/1.1\r\nHost: ws.default\r\nConnection: Upgrade\r\nUpgrade: tp-test\r\nProxy-Connection: keep-alive\r\n\r\n',
  );
  const [first] = (await once(s, 'data')) as [Buffer];
  t.regex(first.toString('latin1'), /^HTTP\/1\.1 101 /);
  s.write('hello');
  const [echoed] = (await once(s, 'data')) as [Buffer];
  t.is(echoed.toString(), 'HELLO');
  t.regex(seenHead, /^GET \/chat\?room=1 HTTP\/1\.1\r\n/);
  t.regex(seenHead, /\r\nUpgrade: tp-test\r\n/);
  t.notRegex(seenHead, /Proxy-Connection/i);
  s.destroy();
  await pu.proxy.stop();
  ws.close();
});

test('observability: the log hook gets structured fields, flow events go to diagnostics_channel', async (t) => {
  const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const events: unknown[] = [];
  const onClose = (m: unknown) => events.push(m);
  subscribe('tp:flow:close', onClose);
  const pl = await startProxy({ dialer, log: (level, msg, fields) => lines.push({ level, msg, fields }) });
  try {
    await curl(['--socks5-hostname', `127.0.0.1:${pl.port}`, 'http://refused.default/']);
    t.true(
      lines.some((l) => l.msg === 'socks5 dial failed' && l.fields?.['failure'] === 'refused' && l.fields?.['host'] === 'refused.default'),
    );
    t.is((await curl(['--socks5-hostname', `127.0.0.1:${pl.port}`, 'http://echo.default/observed'])).code, 0);
    const deadline = Date.now() + 2000;
    while (!events.some((e) => (e as { host?: string }).host === 'echo.default') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    t.true(events.some((e) => (e as { host?: string }).host === 'echo.default'));
  } finally {
    unsubscribe('tp:flow:close', onClose);
    await pl.proxy.stop();
  }
});

test('abort: a target that resets makes the client see a reset, not a clean end', async (t) => {
  const rst = createServer((c) => c.once('data', () => c.resetAndDestroy()));
  rst.listen(0, '127.0.0.1');
  await once(rst, 'listening');
  const rport = (rst.address() as { port: number }).port;
  const pr = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: rport })) });
  const { socksConnect } = await import('./harness.js');
  const s = await socksConnect(pr.port, 'reset.default', 80);
  const outcome = new Promise<string>((resolve) => {
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.once('end', () => resolve('end'));
  });
  s.resume();
  s.write('trigger');
  t.is(await outcome, 'ECONNRESET');
  s.destroy();
  await pr.proxy.stop();
  rst.close();
});
