// #12: what a hostile peer in another pod can try on an intercepted port, against the router on
// loopback — request smuggling, filter bypass, a 101 nobody asked for, slowloris and slow bodies,
// and heads that pile up. Budgets are small here (milliseconds) so each mechanism is reached
// quickly; slowloris-realtime.test.ts runs the real 30 s head budget once.
import test from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { DEFAULT_BUDGETS, type RouterOptions } from '../../../../lib/agent/http/router.js';
import { HTTP_HEAD_TIMEOUT_MS } from '../../../../lib/common/limits.js';
import { dialer, rawExchange, startAgent, startOrigin, waitFor } from './harness.js';
import { closedWithin } from '../../../helpers/socket-closed.js';

const app = await startOrigin('app');
const sessA = await startOrigin('A');
test.after.always(() => {
  app.server.close();
  sessA.server.close();
});

const filtered = (extra: Partial<RouterOptions> = {}) =>
  startAgent({
    engagements: {
      app: dialer(app.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sessA.port) }],
      wiretaps: [],
    },
    ...extra,
  });

/** A client that sends `bytes` and then nothing; remembers what came back. `closed` is true once
 * the agent closed the connection, false if it still had not 10 s later (a bounded wait). */
async function halfOpen(port: number, bytes: string) {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await once(s, 'connect');
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString('latin1')));
  const closed = closedWithin(s, 10_000).finally(() => s.destroy());
  if (bytes) s.write(bytes);
  return { socket: s, closed, got: () => got };
}

async function get(port: number, path: string, headers = ''): Promise<string> {
  return (await rawExchange(port, [Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`)])).toString(
    'latin1',
  );
}

async function tcpServer(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onConn(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

test.serial('#12 smuggling: every smuggling input gets 400 and a closed connection; no destination sees a byte of it', async (t) => {
  const ag = await filtered();
  try {
    const H = 'Host: x\r\nx-dev: alice\r\n';
    const inputs = [
      `GET / HTTP/1.1\n${H}\n`, // bare LF
      `GET / HTTP/1.1\r\n${H}\r\r\n`, // CR CR LF ends the head for a lenient parser
      `GET / HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\r\n\r\n`,
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n 6\r\n\r\nhelloworld`, // obs-fold
      `POST / HTTP/1.1\r\n${H}Content-Length: \xa05\r\n\r\nhello`, // NBSP padding
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\x85\r\n\r\nhello`, // NEL padding
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\t\r\n\r\nhello`,
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhelloworld`,
      `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhelloworld`,
      `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n`,
    ];
    const before = app.requests + sessA.requests;
    for (const input of inputs) {
      const out = (await rawExchange(ag.port, [Buffer.from(input, 'latin1')])).toString('latin1'); // resolves on close
      t.true(out.startsWith('HTTP/1.1 400 '), `${JSON.stringify(input)} → ${JSON.stringify(out.slice(0, 40))}`);
      t.regex(out, /connection: close/);
      t.is(app.requests + sessA.requests, before, JSON.stringify(input));
    }
    // A chunk line out of grammar is found after the head went on (bodies stream): still 400 and
    // close for the client, and the destination's connection is cut mid-body, never reused.
    const body = (
      await rawExchange(ag.port, [Buffer.from(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`)])
    ).toString();
    t.regex(body, /^HTTP\/1\.1 400 /);
    // Behind a good request on the same connection: the good one is answered, the bad one is not passed.
    const out = (await rawExchange(ag.port, [Buffer.from(`GET /ok HTTP/1.1\r\n${H}\r\nGET /bad HTTP/1.1\n${H}\n`, 'latin1')])).toString(
      'latin1',
    );
    t.regex(out, /"url":"\/ok"/);
    t.regex(out, /HTTP\/1\.1 400 /);
    t.notRegex(out, /"url":"\/bad"/);
  } finally {
    await ag.close();
  }
});

test.serial('#12 filter bypass: a request behind empty lines is matched by the header filter, not handed to the app whole', async (t) => {
  const ag = await filtered();
  try {
    for (const lead of ['\r\n', '\r\n\r\n']) {
      const out = (
        await rawExchange(ag.port, [Buffer.from(`${lead}GET /lead HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\nConnection: close\r\n\r\n`)])
      ).toString();
      t.regex(out, /"who":"A","method":"GET","url":"\/lead"/, JSON.stringify(lead));
    }
    // On a kept-alive connection too, after a body, as old clients send it.
    const out = (
      await rawExchange(ag.port, [
        Buffer.from(
          'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\nGET /q HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\nConnection: close\r\n\r\n',
        ),
      ])
    ).toString();
    t.regex(out, /"who":"app","method":"POST","url":"\/p"/);
    t.regex(out, /"who":"A","method":"GET","url":"\/q"/);
    t.is(ag.router.stats.notHttp, 0);
    // A lone LF before the request line is not an empty line (RFC 9112 §2.2): 400, not the app.
    const lf = (await rawExchange(ag.port, [Buffer.from('\nGET / HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\n\r\n')])).toString();
    t.regex(lf, /^HTTP\/1\.1 400 /);
  } finally {
    await ag.close();
  }
});

test.serial(
  '#12 101 hijack: a 101 to a request that did not ask to upgrade is 502 and a close; later requests never reach its sender',
  async (t) => {
    // A workstation (or an app) that answers 101 to anything and then keeps every byte it gets.
    const seen: string[] = [];
    const evil = await tcpServer((s) => {
      let got = '';
      seen.push('');
      const i = seen.length - 1;
      s.on('data', (b: Buffer) => {
        got += b.toString('latin1');
        seen[i] = got;
        if (got.includes('\r\n\r\n') && !got.includes('answered')) {
          got += 'answered';
          s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: upgrade\r\n\r\nhello from the 101 sender');
        }
      });
    });
    const viaIntercept = await startAgent({
      engagements: {
        app: dialer(app.port),
        intercepts: [{ id: 'E', filter: { headers: { 'x-dev': 'evil' } }, open: dialer(evil.port) }],
        wiretaps: [],
      },
    });
    const viaApp = await startAgent({
      engagements: {
        app: dialer(evil.port),
        intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sessA.port) }],
        wiretaps: [],
      },
    });
    try {
      const appBefore = app.requests;
      const out = (
        await rawExchange(viaIntercept.port, [
          Buffer.from(
            'GET /first HTTP/1.1\r\nHost: x\r\nx-dev: evil\r\n\r\nGET /victim HTTP/1.1\r\nHost: x\r\nAuthorization: secret\r\n\r\n',
          ),
        ])
      ).toString('latin1');
      t.regex(out, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
      t.regex(out, /connection: close/);
      t.notRegex(out, /HTTP\/1\.1 101|hello from the 101 sender/);
      t.is(app.requests, appBefore, 'the connection was closed: the pipelined request went nowhere');
      t.is(viaIntercept.router.stats.unaskedSwitches, 1);
      t.is(viaIntercept.router.stats.switched, 0);

      // The app itself answering 101: the same, and the next request is not carried to it.
      const out2 = (
        await rawExchange(viaApp.port, [
          Buffer.from('GET /plain HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\n\r\n'),
        ])
      ).toString('latin1');
      t.regex(out2, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
      t.notRegex(out2, /"url":"\/next"/);
      for (const bytes of seen) {
        t.notRegex(bytes, /victim|\/next|secret/, 'nothing after the first request reached the sender of the 101');
      }
      // A request that asked for the upgrade still gets it (WebSocket): see routing.test.ts.
    } finally {
      await viaIntercept.close();
      await viaApp.close();
      evil.server.close();
    }
  },
);

test.serial(
  '#12 slowloris: heads that never complete are closed with 408 within the head budget; complete requests are answered meanwhile',
  async (t) => {
    const ag = await filtered({ budgets: { headTimeoutMs: 400 } });
    try {
      const peers = await Promise.all(Array.from({ length: 100 }, (_, i) => halfOpen(ag.port, `GET /slow/${i} HTTP/1.1\r\nHost: x\r\nX-`)));
      // A trickle does not reset the head budget (it is a deadline, not an idle timeout).
      const trickle = setInterval(() => {
        for (const p of peers) if (!p.socket.destroyed) p.socket.write('a');
      }, 50);
      try {
        for (let i = 0; i < 3; i++) t.regex(await get(ag.port, `/normal/${i}`, 'x-dev: alice\r\n'), /"who":"A"/);
        t.true((await Promise.all(peers.map((p) => p.closed))).every(Boolean), 'every half-sent head was closed');
      } finally {
        clearInterval(trickle);
      }
      t.true(peers.every((p) => p.got().startsWith('HTTP/1.1 408 Request Timeout\r\n')));
      t.is(ag.router.stats.timeouts.head, 100);
      t.regex(await get(ag.port, '/after'), /"who":"app"/);
    } finally {
      await ag.close();
    }
  },
);

test.serial('#12 slowloris: a connection that sends nothing is closed, without an answer, when the head budget runs out', async (t) => {
  const ag = await filtered({ budgets: { headTimeoutMs: 200 } });
  try {
    const p = await halfOpen(ag.port, '');
    t.true(await p.closed);
    t.is(p.got(), '');
    t.is(ag.router.stats.timeouts.head, 1);
  } finally {
    await ag.close();
  }
});

test.serial('#12 keep-alive: an idle kept-alive connection is closed after keepAliveTimeoutMs; a busy one is not', async (t) => {
  const ag = await filtered({ budgets: { keepAliveTimeoutMs: 1000, headTimeoutMs: 5000 } });
  try {
    const p = await halfOpen(ag.port, 'GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    // Requests 250 ms apart keep it: the budget is the time between them.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      p.socket.write(`GET /more/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    }
    await waitFor(() => p.got().split('"who":"app"').length === 5);
    t.false(p.socket.destroyed);
    t.true(await p.closed);
    t.is(p.got().split('HTTP/1.1 200').length, 5, 'four answers, nothing more');
    t.is(ag.router.stats.timeouts.keepAlive, 1);
  } finally {
    await ag.close();
  }
});

test.serial('#12 slow body: an upload that stops arriving gets 408 and a close after the exchange idle budget', async (t) => {
  const ag = await filtered({ budgets: { exchangeIdleTimeoutMs: 300 } });
  try {
    const p = await halfOpen(ag.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\nContent-Length: 1000000\r\n\r\nsome');
    t.true(await p.closed);
    t.regex(p.got(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    t.is(ag.router.stats.timeouts.exchange, 1);
  } finally {
    await ag.close();
  }
});

test.serial('#12 slow destination: no answer within the exchange idle budget is 504 and a close', async (t) => {
  const mute = await tcpServer((s) => s.resume());
  const ag = await startAgent({
    engagements: {
      app: dialer(mute.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sessA.port) }],
      wiretaps: [],
    },
    budgets: { exchangeIdleTimeoutMs: 300 },
  });
  try {
    const out = (await rawExchange(ag.port, [Buffer.from('GET /wait HTTP/1.1\r\nHost: x\r\n\r\n')])).toString();
    t.regex(out, /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
  } finally {
    await ag.close();
    mute.server.close();
  }
});

test.serial('#12 idle tunnel: an opaque connection with no byte either way is closed after tunnelIdleTimeoutMs', async (t) => {
  const echo = await tcpServer((s) => s.pipe(s));
  const whole = await startAgent({
    engagements: { app: dialer(echo.port), intercepts: [], wiretaps: [] },
    budgets: { tunnelIdleTimeoutMs: 1000 },
  });
  const parsed = await startAgent({
    engagements: {
      app: dialer(echo.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sessA.port) }],
      wiretaps: [],
    },
    budgets: { tunnelIdleTimeoutMs: 1000 },
  });
  try {
    for (const ag of [whole, parsed]) {
      const p = await halfOpen(ag.port, '\x16\x03\x01 not http');
      // Traffic keeps it open past the budget...
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 250));
        p.socket.write('.');
      }
      t.false(p.socket.destroyed);
      // ...silence closes it.
      t.true(await p.closed);
      t.regex(p.got(), /^\x16\x03\x01 not http\.{6}$/);
      t.is(ag.router.stats.timeouts.tunnel, 1);
    }
  } finally {
    await whole.close();
    await parsed.close();
    echo.server.close();
  }
});

test.serial('#12 head memory: past pendingHeadBytes the head waiting longest is dropped with 408; newer ones go on', async (t) => {
  const ag = await filtered({ budgets: { pendingHeadBytes: 10_000 } });
  try {
    const oldest = await halfOpen(ag.port, `GET /old HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(6000)}`);
    await waitFor(() => ag.router.stats.http > 0); // its bytes are held before the next one comes
    const newer = await halfOpen(ag.port, `GET /new HTTP/1.1\r\nHost: x\r\nX-Pad: ${'b'.repeat(6000)}`);
    t.true(await oldest.closed);
    t.regex(oldest.got(), /^HTTP\/1\.1 408 /);
    t.false(newer.socket.destroyed);
    newer.socket.write('\r\nConnection: close\r\n\r\n');
    t.true(await newer.closed);
    t.regex(newer.got(), /"who":"app","method":"GET","url":"\/new"/);
    t.is(ag.router.stats.timeouts.evicted, 1);
  } finally {
    await ag.close();
  }
});

test('#12 the router default head budget is the named 30 s limit', (t) => {
  t.is(DEFAULT_BUDGETS.headTimeoutMs, HTTP_HEAD_TIMEOUT_MS);
  t.is(HTTP_HEAD_TIMEOUT_MS, 30_000);
});
