// Wiretaps on loopback: byte-exact copies of requests while the app answers, and a tap that never
// reads neither slows the client nor grows memory — its copies are dropped and counted.
import test from 'ava';
import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dialer, pattern, sha, startAgent, startOrigin, startSink, waitFor, type Echo } from './harness.js';

const app = await startOrigin('app');
const sessA = await startOrigin('A');
test.after.always(() => {
  app.server.close();
  sessA.server.close();
});

/** Reads responses on a raw connection: enough to know each exchange finished. */
async function exchange(port: number, reqs: Buffer[], until: (got: string) => boolean): Promise<string> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  let got = '';
  s.on('data', (b: Buffer) => (got += b.toString('latin1')));
  for (const r of reqs) s.write(r);
  await waitFor(() => until(got), 10_000);
  s.destroy();
  return got;
}

test.serial('a wiretap gets byte-exact copies of every request while the client gets the app’s answers', async (t) => {
  const tap = await startSink({ read: true });
  const ag = await startAgent({
    engagements: {
      app: dialer(app.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sessA.port) }],
      wiretaps: [{ id: 'T', open: dialer(tap.port) }],
    },
  });
  try {
    const body = pattern(300_000, 11);
    const reqs = [
      Buffer.from('GET /one HTTP/1.1\r\nHost: x\r\nX-Case: Kept\r\n\r\n'),
      Buffer.concat([Buffer.from(`POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]),
      Buffer.from('PUT /three HTTP/1.1\r\nHost: x\r\nx-dev: alice\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n'),
    ];
    const got = await exchange(ag.port, reqs, (g) => (g.match(/"who"/g) ?? []).length === 3);
    const whos = [...got.matchAll(/"who":"(\w+)"/g)].map((m) => m[1]);
    t.deepEqual(whos, ['app', 'app', 'A'], 'the tap changes nothing for the client');
    t.true(got.includes(sha(body)));
    const want = Buffer.concat(reqs);
    t.true(await waitFor(() => tap.bytes().length >= want.length));
    t.is(sha(tap.bytes()), sha(want));
    t.is(tap.conns.length, 1, 'one tap connection per client connection');
    t.like(ag.router.stats.taps.T, { copies: 3, dropped: 0, aborted: 0, bytes: want.length });
  } finally {
    await ag.close();
    tap.close();
  }
});

test.serial('a wiretap that never reads does not slow the client; its copies are dropped and counted', async (t) => {
  const tap = await startSink({ read: false });
  const ag = await startAgent({
    engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'stuck', open: dialer(tap.port) }] },
    tapSoftLimit: 128 * 1024,
    tapHardLimit: 512 * 1024,
  });
  try {
    const ka = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const body = pattern(512 * 1024, 13);
    const N = 40; // 20 MiB: more than the kernel's socket buffers can hide
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const e = await new Promise<Echo>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: ag.port, agent: ka, method: 'POST', path: `/u${i}`, headers: { 'content-length': body.length } },
          (res) => {
            let s = '';
            res.on('data', (b: Buffer) => (s += b.toString()));
            res.on('end', () => resolve(JSON.parse(s) as Echo));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      t.is(e.sha, sha(body));
    }
    const elapsed = Date.now() - t0;
    ka.destroy();
    t.true(elapsed < 10_000, `${N} uploads took ${elapsed} ms`);
    const s = ag.router.stats.taps.stuck!;
    t.true(s.aborted >= 1, JSON.stringify(s));
    t.true(s.dropped > N / 2, `after an abort the tap rests instead of being refilled: ${JSON.stringify(s)}`);
    t.true(s.copies < N, JSON.stringify(s));
    t.is(s.copies + s.dropped + s.aborted, N, JSON.stringify(s));
    t.log(`${N} uploads in ${elapsed} ms; tap stats ${JSON.stringify(s)}`);
    t.is(ag.router.stats.dest.app!.requests, N);
  } finally {
    await ag.close();
    tap.close();
  }
});

test.serial('a wiretap that cannot be opened costs the client nothing', async (t) => {
  const ag = await startAgent({
    engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'down', open: () => Promise.reject(new Error('gone')) }] },
  });
  try {
    const got = await exchange(ag.port, [Buffer.from('GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n')], (g) => (g.match(/"who"/g) ?? []).length === 2);
    t.is((got.match(/"who":"app"/g) ?? []).length, 2);
    const s = ag.router.stats.taps.down!;
    t.is(s.openFailures, 1, 'not retried within tapRetryMs');
    t.is(s.copies, 0);
    t.is(s.dropped, 2);
  } finally {
    await ag.close();
  }
});
