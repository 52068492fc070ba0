// #12: the agent's listeners on loopback — the router's budgets reach every engaged port through
// the forwarder's options, and the probe port (reachable from every pod) has idle and total limits.
import test from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { Forwarder } from '../../../lib/agent/forwarder.js';
import { PROBE_PORT_OFFSET } from '../../../lib/common/agent-config.js';
import { silentLogger } from '../../../lib/common/log.js';
import { closedWithin as socketClosedWithin } from '../../helpers/socket-closed.js';

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
  const closed = await socketClosedWithin(s, ms);
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

test('#13 forwarder: K=~REGEX filters are compiled per update and route HTTP/1.1 and HTTP/2 alike; a pattern the agent cannot run takes nothing; traffic() reports TLS on filtered ports', async (t) => {
  const { startOrigin } = await import('./http/harness.js');
  const { startH2Origin, h2client, h2request } = await import('./http/h2-harness.js');
  const { connect: tcp } = await import('node:net');
  // One app port speaking HTTP/1.1 and one speaking HTTP/2, each with its workstation.
  const app1 = await startOrigin('app');
  const ws1 = await startOrigin('ws');
  const app2 = await startH2Origin('app');
  const ws2 = await startH2Origin('ws');
  const p1 = await freeAgentPort();
  let p2: number;
  do p2 = await freeAgentPort();
  while ([p1, p1 + PROBE_PORT_OFFSET, p1 - PROBE_PORT_OFFSET].includes(p2));
  const wsPort: Record<number, number> = { [app1.port]: ws1.port, [app2.port]: ws2.port };
  const fwd = new Forwarder({
    ports: [
      { containerPort: app1.port, protocol: 'TCP', agentPort: p1 },
      { containerPort: app2.port, protocol: 'TCP', agentPort: p2 },
    ],
    dial: (_id, port) =>
      new Promise((resolve, reject) => {
        const s = tcp({ host: '127.0.0.1', port: wsPort[port]! });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    log: silentLogger,
    appHost: '127.0.0.1',
    listenHost: '127.0.0.1',
  });
  await fwd.listen();
  const c = h2client(p2);
  try {
    fwd.update([
      { id: 'bad', kind: 'intercept', ports: [app1.port, app2.port], filter: { headers: { 'x-dev': '~(a)\\1' } }, client: 'old-cli' },
      { id: 'good', kind: 'intercept', ports: [app1.port, app2.port], filter: { headers: { 'x-dev': '~ali(ce)?-[0-9]+' } }, client: 'c' },
    ]);
    const get1 = async (dev: string) => {
      const r = await fetch(`http://127.0.0.1:${p1}/x`, { headers: { 'x-dev': dev } });
      return ((await r.json()) as { who: string }).who;
    };
    t.deepEqual([await get1('alice-7'), await get1('ali-1'), await get1('alice'), await get1('(a)a')], ['ws', 'ws', 'app', 'app']);
    const get2 = async (dev: string) =>
      (JSON.parse((await h2request(c, { ':path': '/x', 'x-dev': dev })).body.toString()) as { who: string }).who;
    t.deepEqual([await get2('alice-7'), await get2('alice')], ['ws', 'app']);
    // TLS on a filtered port: to the app, and counted for both filtered intercepts.
    const s = tcp({ host: '127.0.0.1', port: p1 });
    s.on('error', () => {});
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 0, 0]));
    await waitUntil(() => fwd.traffic().some((x) => x.tlsConnections > 0));
    s.destroy();
    t.deepEqual(
      fwd
        .traffic()
        .map((x) => [x.id, x.tlsConnections])
        .sort(),
      [
        ['bad', 1],
        ['good', 1],
      ],
    );
  } finally {
    c.close();
    fwd.close();
    app1.server.close();
    ws1.server.close();
    await Promise.all([app2.close(), ws2.close()]);
  }
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}
