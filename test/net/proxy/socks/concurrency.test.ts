// 1,000 flows open at the same time through one proxy, each carrying its own bytes.

import test from 'ava';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { readExactly, socksConnect, startProxy, TestDialer } from './harness.js';

const FLOWS = 1000;
const OPEN_AT_ONCE = 100; // handshakes in flight; the flows themselves all stay open

test('1,000 concurrent SOCKS5 flows are all open at once and each echoes its own bytes', async (t) => {
  t.timeout(60_000);
  const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  echo.maxConnections = FLOWS + 10;
  echo.listen({ port: 0, host: '127.0.0.1', backlog: 1024 });
  await once(echo, 'listening');
  const eport = (echo.address() as { port: number }).port;
  const { proxy, port } = await startProxy({ dialer: new TestDialer(() => ({ host: '127.0.0.1', port: eport })) });

  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < FLOWS; i += OPEN_AT_ONCE) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(OPEN_AT_ONCE, FLOWS - i) }, (_, j) => socksConnect(port, `echo-${i + j}.default`, 7)),
      );
      sockets.push(...batch);
    }
    t.is(proxy.stats.flowsActive, FLOWS);
    t.is(proxy.stats.connectionsActive, FLOWS);

    const results = await Promise.all(
      sockets.map(async (s, i) => {
        const msg = Buffer.from(`flow ${i} `.padEnd(64, String.fromCharCode(65 + (i % 26))));
        s.write(msg);
        return (await readExactly(s, msg.length, 20_000)).equals(msg);
      }),
    );
    t.is(results.filter(Boolean).length, FLOWS);
  } finally {
    for (const s of sockets) s.destroy();
  }
  // Every flow is torn down once its client goes: nothing lingers in the counters.
  const deadline = Date.now() + 5000;
  while (proxy.stats.flowsActive > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(proxy.stats.flowsActive, 0);
  t.is(proxy.stats.flowsTotal, FLOWS);
  await proxy.stop();
  echo.close();
});
