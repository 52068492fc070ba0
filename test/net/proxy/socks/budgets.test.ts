// #12: slowloris and handshake floods on the port of `tp connect --socks`. Budgets are small here so
// each mechanism is reached quickly; every wait is bounded.
import test from 'ava';
import { once } from 'node:events';
import { connect } from 'node:net';
import { curl, startOrigin, startProxy, TestDialer } from './harness.js';
import { closedWithin } from '../../../helpers/socket-closed.js';

const origin = await startOrigin('echo');
const dialer = new TestDialer((host) => (host === 'echo.default' ? { host: '127.0.0.1', port: origin.port } : 'unreachable'));
test.after.always(() => origin.server.close());

/** Connect, send `bytes`, optionally trickle more; resolves with what came back and whether the
 * proxy closed the connection within `ms`. */
async function hold(port: number, bytes: string | Buffer, ms: number, trickle?: string) {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await once(s, 'connect');
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString('latin1')));
  s.write(bytes);
  const drip = trickle ? setInterval(() => !s.destroyed && s.write(trickle), 50) : undefined;
  const closed = await closedWithin(s, ms);
  clearInterval(drip);
  s.destroy();
  return { closed, got };
}

test('#12 slowloris on the HTTP proxy: a head trickled byte by byte gets 408 and a close at the head budget; requests keep working', async (t) => {
  const { proxy, port } = await startProxy({ dialer, headTimeoutMs: 300 });
  try {
    const slow = Array.from({ length: 20 }, () => hold(port, 'GET http://echo.default/ HTTP/1.1\r\nHost: echo.default\r\nX-', 5000, 'a'));
    const ok = await curl(['-x', `http://127.0.0.1:${port}`, 'http://echo.default/while-slow']);
    t.is(ok.code, 0, ok.stderr);
    const res = await Promise.all(slow);
    t.true(
      res.every((r) => r.closed),
      'every half-sent head was closed',
    );
    t.true(res.every((r) => r.got.startsWith('HTTP/1.1 408 Request Timeout\r\n')));
    t.is(proxy.stats.headTimeouts, 20);
  } finally {
    await proxy.stop();
  }
});

test('#12 slowloris on the HTTP proxy: the head budget restarts after each response, and an idle kept-alive connection is closed silently', async (t) => {
  const { proxy, port } = await startProxy({ dialer, headTimeoutMs: 1000 });
  try {
    const r = await hold(port, 'GET http://echo.default/one HTTP/1.1\r\nHost: echo.default\r\n\r\n', 5000);
    t.true(r.closed);
    t.regex(r.got, /^HTTP\/1\.1 200 /);
    t.notRegex(r.got, /408/);
    // A second head started after the first answer: timed from then, not from the accept.
    const s = connect({ host: '127.0.0.1', port });
    await once(s, 'connect');
    let got = '';
    s.on('data', (b: Buffer) => (got += b.toString('latin1')));
    for (let i = 0; i < 3; i++) {
      s.write(`GET http://echo.default/r${i} HTTP/1.1\r\nHost: echo.default\r\n\r\n`);
      await new Promise((res) => setTimeout(res, 300)); // well under the budget each time
    }
    t.false(s.destroyed, 'answered requests keep the connection');
    t.is(got.split('HTTP/1.1 200').length, 4);
    s.destroy();
  } finally {
    await proxy.stop();
  }
});

test('#12 handshake flood: past maxHandshakes new connections are closed at once; finished handshakes free their place', async (t) => {
  const { proxy, port } = await startProxy({ dialer, maxHandshakes: 10, handshakeTimeoutMs: 60_000, headTimeoutMs: 60_000 });
  try {
    // Ten half-open handshakes, SOCKS and HTTP, held.
    const held = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const s = connect({ host: '127.0.0.1', port });
        s.on('error', () => {});
        await once(s, 'connect');
        s.write(i % 2 ? Buffer.from([5, 1, 0]) : Buffer.from('GET http://echo.default/ HTTP/1.1\r\n'));
        return s;
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    const refused = await hold(port, Buffer.from([5, 1, 0]), 3000);
    t.true(refused.closed);
    t.is(proxy.stats.handshakesRefused, 1);
    // Closing the held ones makes room: a real client gets through.
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const ok = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://echo.default/after-flood']);
    t.is(ok.code, 0, ok.stderr);
    const http = await curl(['-x', `http://127.0.0.1:${port}`, 'http://echo.default/after-flood-http']);
    t.is(http.code, 0, http.stderr);
  } finally {
    await proxy.stop();
  }
});
