// Wiretaps on loopback: byte-exact copies of requests while the app answers, and a tap that never
// reads neither slows the client nor grows memory — its copies are dropped and counted.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dialer, neverDrains, pattern, sha, startAgent, startOrigin, startSink, waitFor, type Echo } from './harness.js';

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

/** POSTs `n` bodies on one keep-alive connection; resolves with the elapsed milliseconds. */
async function uploads(t: ExecutionContext, port: number, n: number, body: Buffer): Promise<number> {
  const ka = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const t0 = Date.now();
  try {
    for (let i = 0; i < n; i++) {
      const e = await new Promise<Echo>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, agent: ka, method: 'POST', path: `/u${i}`, headers: { 'content-length': body.length } },
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
  } finally {
    ka.destroy();
  }
  return Date.now() - t0;
}

// The tap's peer never reads. Whether the kernel's socket buffers absorb 20 MiB depends on the
// machine (net.ipv4.tcp_rmem up to 32 MiB does), so this test asserts only what holds everywhere:
// the client is not slowed and every request is accounted for exactly once.
test.serial('a wiretap over TCP that never reads does not slow the client; every copy is accounted for', async (t) => {
  const tap = await startSink({ read: false });
  const ag = await startAgent({
    engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'stuck', open: dialer(tap.port) }] },
    tapSoftLimit: 128 * 1024,
    tapHardLimit: 512 * 1024,
  });
  try {
    const N = 40;
    const elapsed = await uploads(t, ag.port, N, pattern(512 * 1024, 13));
    t.true(elapsed < 10_000, `${N} uploads took ${elapsed} ms`);
    const s = ag.router.stats.taps.stuck!;
    t.is(s.copies + s.dropped + s.aborted, N, JSON.stringify(s));
    t.is(ag.router.stats.dest.app!.requests, N);
    t.log(`${N} uploads in ${elapsed} ms; tap stats ${JSON.stringify(s)}`);
  } finally {
    await ag.close();
    tap.close();
  }
});

// The same with a tap whose send buffer never drains at all (a peer with a zero window), so the
// soft and hard limits are reached on every machine: the copy in flight is aborted, the tap rests
// (tapRetryMs) instead of being refilled, and the client never waits for it.
test.serial('a wiretap whose peer never drains is aborted at the hard limit, then rests; the client is not slowed', async (t) => {
  let opened = 0;
  const ag = await startAgent({
    engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'stuck', open: async () => (opened++, neverDrains()) }] },
    tapSoftLimit: 128 * 1024,
    tapHardLimit: 512 * 1024,
    tapRetryMs: 60_000,
  });
  try {
    const N = 40;
    const elapsed = await uploads(t, ag.port, N, pattern(512 * 1024, 13));
    t.true(elapsed < 10_000, `${N} uploads took ${elapsed} ms`);
    const s = ag.router.stats.taps.stuck!;
    t.is(s.aborted, 1, `the first copy outgrows the hard limit: ${JSON.stringify(s)}`);
    t.is(s.copies, 0, JSON.stringify(s));
    t.is(s.dropped, N - 1, `after the abort the tap rests instead of being refilled: ${JSON.stringify(s)}`);
    t.is(opened, 1, 'not reopened within tapRetryMs');
    t.is(ag.router.stats.dest.app!.requests, N);
  } finally {
    await ag.close();
  }
});

test.serial('a wiretap that cannot be opened costs the client nothing', async (t) => {
  const ag = await startAgent({
    engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'down', open: () => Promise.reject(new Error('gone')) }] },
  });
  try {
    const got = await exchange(
      ag.port,
      [Buffer.from('GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n')],
      (g) => (g.match(/"who"/g) ?? []).length === 2,
    );
    t.is((got.match(/"who":"app"/g) ?? []).length, 2);
    const s = ag.router.stats.taps.down!;
    t.is(s.openFailures, 1, 'not retried within tapRetryMs');
    t.is(s.copies, 0);
    t.is(s.dropped, 2);
  } finally {
    await ag.close();
  }
});
