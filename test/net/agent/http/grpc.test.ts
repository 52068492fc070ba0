// #13: real gRPC (grpc-js) through the agent's HTTP/2 router on loopback: each stream of one
// client connection is routed by its own headers, with status, trailers and streaming intact.
import test from 'ava';
import { dialer, startAgent, waitFor } from './harness.js';
import { client, collect, grpc, md, startGrpcOrigin, unary, type Msg } from './grpc-harness.js';

const app = await startGrpcOrigin('app');
const A = await startGrpcOrigin('A');
const B = await startGrpcOrigin('B');
const agent = await startAgent({
  engagements: {
    app: dialer(app.port),
    intercepts: [
      { id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(A.port) },
      { id: 'B', filter: { headers: { 'X-Dev': /^bob(-.*)?$/ } }, open: dialer(B.port) },
    ],
    wiretaps: [],
  },
});
const c = client(agent.port);

test.after.always(async () => {
  c.close();
  await agent.close();
  agent.router.close();
  await Promise.all([app.close(), A.close(), B.close()]);
});

test.serial('#13 unary: a header-filtered intercept takes the matching call, the app the rest, status and trailers intact', async (t) => {
  t.like(await unary(c, { text: 'x' }, md('alice')), { who: 'A', dev: 'alice' });
  t.like(await unary(c, { text: 'y' }, md()), { who: 'app' });
  t.like(await unary(c, { text: 'z' }, md('bob-2')), { who: 'B' });
  // A gRPC error travels in the trailers: code, message and custom trailing metadata.
  const e = await t.throwsAsync<grpc.ServiceError>(unary(c, { text: 'fail' }, md('alice')));
  t.is(e?.code, grpc.status.FAILED_PRECONDITION);
  t.is(e?.details, 'refused by A');
  t.deepEqual(e?.metadata.get('x-detail'), ['from A']);
});

test.serial('#13 server streaming, client streaming and bidirectional streaming through a filtered intercept', async (t) => {
  const counted = await collect<Msg>(c.count({ n: 50 }, md('alice')));
  t.deepEqual(
    counted.map((m) => m.i),
    [...Array(50).keys()],
  );
  t.true(counted.every((m) => m.who === 'A'));

  const sum = await new Promise<Msg>((resolve, reject) => {
    const w = c.sum(md('bob'), {}, (e, r) => (e ? reject(e) : resolve(r!)));
    for (let i = 1; i <= 100; i++) w.write({ i });
    w.end();
  });
  t.like(sum, { who: 'B', count: 100, sum: 5050 });

  const chat = c.chat(md());
  const got: Msg[] = [];
  chat.on('data', (m: Msg) => got.push(m));
  for (let i = 0; i < 20; i++) chat.write({ i, text: `m${i}` });
  chat.end();
  await new Promise((r) => chat.on('end', r));
  t.deepEqual(
    got.map((m) => `${m.who}:${m.i}`),
    [...Array(20).keys()].map((i) => `app:${i}`),
  );
  t.is(agent.router.stats.h2.connections, 1, 'every call above went over one client connection');
});

test.serial('#13 two sessions and the app on ONE client channel, at once: every stream reaches its own destination', async (t) => {
  const before = agent.router.stats.h2.connections;
  const results = await Promise.all([
    collect<Msg>(c.count({ n: 30, everyMs: 5 }, md('alice'))),
    collect<Msg>(c.count({ n: 30, everyMs: 5 }, md('bob'))),
    collect<Msg>(c.count({ n: 30, everyMs: 5 }, md())),
    ...[...Array(10).keys()].map((i) => unary(c, { text: `u${i}` }, md(['alice', 'bob', 'carol'][i % 3]))),
  ]);
  const [a, b, p, ...us] = results as [Msg[], Msg[], Msg[], ...Msg[]];
  t.deepEqual(
    [a, b, p].map((l) => [...new Set(l.map((m) => m.who))]),
    [['A'], ['B'], ['app']],
  );
  t.deepEqual(
    [a, b, p].map((l) => l.length),
    [30, 30, 30],
  );
  t.deepEqual(
    us.map((m) => m.who),
    [...Array(10).keys()].map((i) => ['A', 'B', 'app'][i % 3]),
  );
  t.is(agent.router.stats.h2.connections, before, 'no new client connection: one channel carried them all');
});

test.serial(
  '#13 cancellation and deadlines pass on: a cancelled stream is cancelled at the workstation; the app sees the caller’s remaining deadline and is cancelled when it passes',
  async (t) => {
    // Client cancel of a server-streaming call to A.
    const cancelledBefore = A.cancelled.length;
    const stream = c.count({ n: 1000, everyMs: 20 }, md('alice'));
    stream.on('error', () => {});
    await new Promise((r) => stream.once('data', r));
    stream.cancel();
    t.true(await waitFor(() => A.cancelled.length > cancelledBefore));
    t.is(A.cancelled.at(-1), 'count');

    // A deadline: the app gets at most what the caller had left, then the call is cancelled there.
    const appCancelled = app.cancelled.length;
    const e = await t.throwsAsync<grpc.ServiceError>(unary(c, { text: 'hang' }, md(), { deadline: Date.now() + 400 }));
    t.is(e?.code, grpc.status.DEADLINE_EXCEEDED);
    const seen = app.deadlines.at(-1)!;
    t.true(seen > 0 && seen <= 400, `the app saw a deadline of ${seen} ms`);
    t.true(await waitFor(() => app.cancelled.length > appCancelled));
    t.is(app.cancelled.at(-1), 'unary');
  },
);

test.serial(
  '#13 a slow workstation handler stalls only its own stream: the app’s streams on the same channel finish while it is held',
  async (t) => {
    let release!: () => void;
    A.behaviour.holdSum = new Promise<void>((r) => (release = r));
    try {
      // Far more than the windows between client and A: the call stalls on flow control.
      const total = 3000;
      const payload = 'x'.repeat(2048);
      let writesBlocked = false;
      const sumDone = new Promise<Msg>((resolve, reject) => {
        const w = c.sum(md('alice'), {}, (e, r) => (e ? reject(e) : resolve(r!)));
        void (async () => {
          for (let i = 1; i <= total; i++) {
            if (!w.write({ i, text: payload })) {
              writesBlocked = true;
              await new Promise((r) => w.once('drain', r));
            }
          }
          w.end();
        })();
      });
      let sumFinished = false;
      void sumDone.then(
        () => (sumFinished = true),
        () => {},
      );
      t.true(await waitFor(() => writesBlocked), 'the client’s writes to the held stream block');
      // Meanwhile, on the same channel: the app's streams run to completion.
      const counted = await collect<Msg>(c.count({ n: 200 }, md()));
      const chat = await Promise.all([...Array(20).keys()].map((i) => unary(c, { text: `p${i}` }, md())));
      t.is(counted.length, 200);
      t.true(chat.every((m) => m.who === 'app'));
      t.false(sumFinished, 'the workstation’s stream is still held');
      t.is(A.summing, 1);
      release();
      t.like(await sumDone, { who: 'A', count: total, sum: (total * (total + 1)) / 2 });
    } finally {
      release?.();
      delete A.behaviour.holdSum;
    }
  },
);

test.serial(
  '#13 wiretap of a streaming call: the workstation gets the same messages on its own session, the client gets the app’s answer',
  async (t) => {
    const T = await startGrpcOrigin('T');
    const ag = await startAgent({
      engagements: {
        app: dialer(app.port),
        intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(A.port) }],
        wiretaps: [{ id: 'T', open: dialer(T.port) }],
      },
    });
    const cc = client(ag.port);
    try {
      const r = await new Promise<Msg>((resolve, reject) => {
        const w = cc.sum(md('carol'), {}, (e, res) => (e ? reject(e) : resolve(res!)));
        for (let i = 1; i <= 100; i++) w.write({ i });
        w.end();
      });
      t.like(r, { who: 'app', count: 100, sum: 5050 });
      t.true(await waitFor(() => T.sums.length === 1));
      t.deepEqual(T.sums[0], { count: 100, sum: 5050, dev: 'carol' });
      // A server-streaming call is copied too (its request), and so is an intercepted one.
      t.is((await collect<Msg>(cc.count({ n: 5 }, md('alice')))).length, 5);
      t.true(await waitFor(() => (T.calls.count ?? 0) === 1));
      t.like(ag.router.stats.taps.T, { copies: 2, dropped: 0, aborted: 0 });
    } finally {
      cc.close();
      await ag.close();
      ag.router.close();
      await T.close();
    }
  },
);

test.serial(
  '#13 a wiretap whose workstation never reads costs the client nothing: copies are cut at the hard limit and counted, the call completes',
  async (t) => {
    // An HTTP/2 workstation that accepts streams and never reads them.
    const { startH2Origin } = await import('./h2-harness.js');
    const T = await startH2Origin('T', (s) => s.pause());
    const ag = await startAgent({
      engagements: { app: dialer(app.port), intercepts: [], wiretaps: [{ id: 'T', open: dialer(T.port) }] },
      tapSoftLimit: 64 * 1024,
      tapHardLimit: 256 * 1024,
    });
    const cc = client(ag.port);
    try {
      const payload = 'y'.repeat(4096);
      for (let round = 0; round < 3; round++) {
        const r = await new Promise<Msg>((resolve, reject) => {
          const w = cc.sum(md(), {}, (e, res) => (e ? reject(e) : resolve(res!)));
          for (let i = 1; i <= 1000; i++) w.write({ i, text: payload });
          w.end();
        });
        t.like(r, { who: 'app', count: 1000 });
      }
      const s = ag.router.stats.taps.T!;
      t.true(s.aborted >= 1, JSON.stringify(s));
      t.is(s.copies + s.dropped + s.aborted >= 3, true, JSON.stringify(s));
    } finally {
      cc.close();
      await ag.close();
      ag.router.close();
      await T.close();
    }
  },
);
