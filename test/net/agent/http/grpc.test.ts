// #13: real gRPC (grpc-js) through the agent's HTTP/2 router on loopback: each stream of one
// client connection is routed by its own headers, with status, trailers and streaming intact.
import test from 'ava';
import { dialer, startAgent } from './harness.js';
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
