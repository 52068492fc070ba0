// #12: the agent's listeners on loopback — the router's budgets reach every engaged port through
// the forwarder's options, and the probe port (reachable from every pod) has idle and total limits.
import test from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { Forwarder } from '../../../lib/agent/forwarder.js';
import { PROBE_PORT_OFFSET } from '../../../lib/common/agent-config.js';
import { silentLogger } from '../../../lib/common/log.js';

async function listen(server: Server, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** An agent port whose probe port (+PROBE_PORT_OFFSET) is free too. */
async function freeAgentPort(): Promise<number> {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    const a = createServer();
    const b = createServer();
    try {
      await listen(a, p);
      await listen(b, p + PROBE_PORT_OFFSET);
      return p;
    } catch {
      // taken: try another
    } finally {
      a.close();
      b.close();
    }
  }
}

/** Connect, send `bytes`, and report whether the other side closed within `ms`. */
async function closedWithin(port: number, bytes: string, ms: number, keepTalking = false): Promise<boolean> {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await once(s, 'connect');
  s.resume();
  s.write(bytes);
  const talk = keepTalking ? setInterval(() => s.write('.'), 50) : undefined;
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  clearInterval(talk);
  s.destroy();
  return closed;
}

test('#12 forwarder: budgets reach the router of every port; probe connections have idle and total limits', async (t) => {
  // The app: keeps every connection open and echoes, never closes by itself.
  const app = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPort = await listen(app);
  const agentPort = await freeAgentPort();
  const fwd = new Forwarder({
    ports: [{ containerPort: appPort, protocol: 'TCP', agentPort }],
    dial: () => Promise.reject(new Error('no workstation in this test')),
    log: silentLogger,
    appHost: '127.0.0.1',
    listenHost: '127.0.0.1',
    budgets: { tunnelIdleTimeoutMs: 200, headTimeoutMs: 200 },
    probeIdleMs: 500,
    probeTotalMs: 1200,
  });
  await fwd.listen();
  try {
    // Nothing engaged: spliced whole to the app, closed when idle.
    t.true(await closedWithin(agentPort, 'hello', 3000));
    t.is(fwd.routers.get(appPort)!.stats.timeouts.tunnel, 1);
    // A filtered intercept: half a head is closed by the head budget.
    fwd.update([{ id: 'e1', kind: 'intercept', ports: [appPort], filter: { headers: { 'x-dev': 'a' } }, client: 'c' }]);
    t.true(await closedWithin(agentPort, 'GET / HTTP/1.1\r\nHost: x\r\n', 3000));
    t.is(fwd.routers.get(appPort)!.stats.timeouts.head, 1);
    // Probe port: idle closes it; so does the total limit, however busy.
    t.true(await closedWithin(agentPort + PROBE_PORT_OFFSET, 'GET /healthz HTTP/1.1\r\n', 3000));
    t.true(await closedWithin(agentPort + PROBE_PORT_OFFSET, 'x', 3000, true));
  } finally {
    fwd.close();
    app.close();
  }
});
