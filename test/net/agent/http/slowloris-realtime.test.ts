// #12 done-when, in real time with the real budget: 1,000 half-sent request heads to an intercepted
// port are all closed within 45 s (the head budget is 30 s) while normal requests keep being
// answered. Bounded: 1,000 connections, one run of about 31 s, every wait capped.
import test from 'ava';
import { once } from 'node:events';
import { connect } from 'node:net';
import { HTTP_HEAD_TIMEOUT_MS } from '../../../../lib/common/limits.js';
import { dialer, rawExchange, startAgent, startOrigin } from './harness.js';

const PEERS = 1000;
const DEADLINE_MS = 45_000;

test('#12 slowloris: 1,000 half-sent heads are all closed within 45 s (30 s budget) while normal requests are answered', async (t) => {
  const app = await startOrigin('app');
  const sess = await startOrigin('A');
  const ag = await startAgent({
    engagements: {
      app: dialer(app.port),
      intercepts: [{ id: 'A', filter: { headers: { 'x-dev': 'alice' } }, open: dialer(sess.port) }],
      wiretaps: [],
    },
  });
  t.is(ag.router.budgets.headTimeoutMs, HTTP_HEAD_TIMEOUT_MS);
  const start = Date.now();
  const closedAt: number[] = [];
  const sockets = [];
  for (let i = 0; i < PEERS; i++) {
    const s = connect({ host: '127.0.0.1', port: ag.port });
    s.on('error', () => {});
    s.once('connect', () => s.write(`GET /slow/${i} HTTP/1.1\r\nHost: x\r\nX-Dev: ali`));
    s.once('close', () => closedAt.push(Date.now() - start));
    s.resume();
    sockets.push(s);
  }
  try {
    // Normal requests, to the app and to the intercept, all through the 30 s.
    let answered = 0;
    let failed = 0;
    while (closedAt.length < PEERS && Date.now() - start < DEADLINE_MS) {
      const who = answered % 2 ? 'A' : 'app';
      const out = await Promise.race([
        rawExchange(ag.port, [
          Buffer.from(`GET /n HTTP/1.1\r\nHost: x\r\n${who === 'A' ? 'x-dev: alice\r\n' : ''}Connection: close\r\n\r\n`),
        ]),
        new Promise<Buffer>((r) => setTimeout(() => r(Buffer.alloc(0)), 5000)),
      ]);
      if (out.toString().includes(`"who":"${who}"`)) answered++;
      else failed++;
      await new Promise((r) => setTimeout(r, 250));
    }
    t.log(
      `${closedAt.length} of ${PEERS} closed; last after ${Math.max(...closedAt)} ms; ${answered} normal requests answered, ${failed} not`,
    );
    t.is(closedAt.length, PEERS, 'every half-sent head was closed');
    t.true(closedAt.every((ms) => ms <= DEADLINE_MS));
    t.true(answered >= 20);
    t.is(failed, 0);
    t.is(ag.router.stats.timeouts.head, PEERS);
  } finally {
    for (const s of sockets) s.destroy();
    await ag.close();
    app.server.close();
    sess.server.close();
    await once(app.server, 'close');
  }
});
