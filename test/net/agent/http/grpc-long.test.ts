// #13: a long-lived gRPC stream through a filtered intercept: 60 s, a message every 100 ms, on
// the workstation's session while the app's calls go on beside it. Bounded: 600 messages.
import test from 'ava';
import { dialer, startAgent } from './harness.js';
import { client, collect, md, startGrpcOrigin, unary, type Msg } from './grpc-harness.js';

test('#13 a stream that lives 60 s with a message every 100 ms arrives whole and in order, and ends OK', async (t) => {
  t.timeout(120_000);
  const app = await startGrpcOrigin('app');
  const A = await startGrpcOrigin('A');
  const agent = await startAgent({
    engagements: {
      app: dialer(app.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(A.port) }],
      wiretaps: [],
    },
  });
  const c = client(agent.port);
  try {
    const long = collect<Msg>(c.count({ n: 600, everyMs: 100 }, md('alice')));
    // The app's traffic on the same channel meanwhile (one call every 5 s, bounded).
    const beside: Msg[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 5_000));
      beside.push(await unary(c, { text: `b${i}` }, md()));
    }
    const got = await long;
    t.deepEqual(
      got.map((m) => m.i),
      [...Array(600).keys()],
    );
    t.true(got.every((m) => m.who === 'A'));
    t.true(beside.every((m) => m.who === 'app'));
    t.is(agent.router.stats.h2.connections, 1);
    t.is(agent.router.stats.h2.resetsFromClient + agent.router.stats.h2.resetsFromUpstream, 0);
  } finally {
    c.close();
    await agent.close();
    agent.router.close();
    await Promise.all([app.close(), A.close()]);
  }
});
