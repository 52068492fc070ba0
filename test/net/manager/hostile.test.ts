// #12: a peer that has not authenticated gets almost nothing from the manager's tunnel ports.
// The manager runs in its own process (manager-child.ts: the real client API and agent port,
// Kubernetes faked); attackers flood it on loopback while an authenticated session keeps working.
// Every load here is bounded in count and in time.
import test from 'ava';
import { fork, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import type { ManagerApi } from '../../../lib/common/rpc/manager.js';
import { TunnelClient } from '../../../lib/proxy/tunnel/client.js';
import { MAX_STREAMS_UNAUTHENTICATED } from '../../../lib/proxy/tunnel/settings.js';
import { echoTarget, readAll, within } from '../proxy/tunnel/harness.js';

interface Child {
  proc: ChildProcess;
  apiPort: number;
  agentPort: number;
  session: string;
  secret: string;
  mem(): Promise<{ rss: number; stats: Record<string, Record<string, number>> }>;
}

async function manager(): Promise<Child> {
  const proc = fork(new URL('./manager-child.js', import.meta.url), [], {
    execArgv: ['--expose-gc'],
    env: { ...process.env, TEST_AUTH_TIMEOUT_MS: '1500' },
  });
  const hello = await within(
    new Promise<{ apiPort: number; agentPort: number; session: string; secret: string }>((resolve, reject) => {
      proc.once('message', (m) => resolve(m as never));
      proc.once('exit', (code) => reject(new Error(`manager child exited with ${code}`)));
    }),
    15_000,
    'manager child start',
  );
  return {
    proc,
    ...hello,
    mem: () =>
      within(
        new Promise((resolve) => {
          proc.once('message', (m: { mem: NodeJS.MemoryUsage; stats: Record<string, Record<string, number>> }) =>
            resolve({ rss: m.mem.rss, stats: m.stats }),
          );
          proc.send({ cmd: 'mem' });
        }),
        5000,
        'mem',
      ),
  };
}

/** One attacker connection: the tunnel handshake (optional), then `streams` POSTs each trying to
 * send `bytes`, never saying hello. Resolves after `ms` whatever got through. */
function flood(
  port: number,
  o: { handshake: boolean; streams: number; bytes: number; ms: number },
): Promise<{ refused: number; written: number }> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    let refused = 0;
    let written = 0;
    const chunk = Buffer.alloc(64 << 10, 0x41);
    const finish = () => {
      session.destroy();
      resolve({ refused, written });
    };
    setTimeout(finish, o.ms);
    const attack = () => {
      for (let i = 0; i < o.streams; i++) {
        let req: http2.ClientHttp2Stream;
        try {
          req = session.request({ ':method': 'POST', ':path': '/v1/clusterInfo', 'tp-tunnel-version': '2' });
        } catch {
          refused++;
          continue;
        }
        req.on('error', () => {});
        req.on('response', (h) => {
          if (Number(h[':status']) >= 400) refused++;
        });
        req.on('data', () => {});
        let sent = 0;
        const pump = () => {
          while (sent < o.bytes && !req.destroyed) {
            sent += chunk.length;
            written += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
        };
        pump();
      }
    };
    if (!o.handshake) return attack();
    const hs = session.request({ ':method': 'POST', ':path': '/v1/handshake' });
    hs.on('error', () => {});
    hs.end(JSON.stringify({ version: 2, minVersion: 2, peer: 'attacker', capabilities: [] }));
    hs.on('response', () => attack());
  });
}

let m: Child;
test.before(async () => {
  m = await manager();
});
test.after.always(() => m?.proc.kill());

test.serial(
  '#12: 150 streams of 4 MB sent before any hello, on many connections to each port, leave the manager small while a session keeps working',
  async (t) => {
    const echo = await echoTarget();
    const client = await TunnelClient.connect<ManagerApi>({ host: '127.0.0.1', port: m.apiPort });
    await client.call('hello', { session: m.session, secret: m.secret, peer: 'client', namespace: 'default', version: 't' });
    // The session's own work, all through the attack: calls and a flow that must stay byte-exact.
    let calls = 0;
    let failures = 0;
    let worst = 0;
    let stop = false;
    const work = (async () => {
      while (!stop) {
        const t0 = Date.now();
        try {
          await client.call('clusterInfo', {}, { signal: AbortSignal.timeout(5000) });
          calls++;
        } catch {
          failures++;
        }
        worst = Math.max(worst, Date.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const flow = await client.dialTcp('127.0.0.1', echo.port);
    const payload = Buffer.alloc(8 << 20, 7);
    const echoed = readAll(flow);
    flow.end(payload);

    const before = await m.mem();
    const attackers: Array<Promise<{ refused: number; written: number }>> = [];
    for (const port of [m.apiPort, m.agentPort]) {
      // More connections than the pre-authentication budgets admit, each with 150 streams of 4 MB.
      for (let i = 0; i < 24; i++) attackers.push(flood(port, { handshake: i % 2 === 0, streams: 150, bytes: 4 << 20, ms: 8000 }));
    }
    let peak = 0;
    const sampler = setInterval(
      () =>
        void m.mem().then(
          (x) => (peak = Math.max(peak, x.rss)),
          () => {},
        ),
      500,
    );
    const results = await Promise.all(attackers);
    clearInterval(sampler);
    const after = await m.mem();
    peak = Math.max(peak, after.rss);
    stop = true;
    await work;
    t.true((await within(echoed, 30_000, 'the flow through the attack')).equals(payload), "the session's flow is byte-exact");
    const written = results.reduce((s, r) => s + r.written, 0);
    t.log(
      `attackers pushed ${(written / 2 ** 20).toFixed(0)} MiB into their windows; manager RSS ${(before.rss / 2 ** 20).toFixed(0)} → peak ${(peak / 2 ** 20).toFixed(0)} MiB; session calls ${calls} ok, ${failures} failed, slowest ${worst} ms`,
    );
    t.log(JSON.stringify(after.stats));
    t.true(peak < 256 * 2 ** 20, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
    t.is(failures, 0, 'the session was served throughout');
    t.true(calls > 10);
    t.is(m.proc.exitCode, null, 'the manager lives');
    t.true(
      after.stats.api!.unauthenticated! + after.stats.api!.shed! > 0 && after.stats.agent!.unauthenticated! + after.stats.agent!.shed! > 0,
      'both ports refused the attack',
    );
    await client.close();
    await echo.close();
  },
);

test.serial(
  `#12: before its hello a connection may open only ${MAX_STREAMS_UNAUTHENTICATED} streams, and is closed if it does not authenticate in time`,
  async (t) => {
    const session = http2.connect(`http://127.0.0.1:${m.apiPort}`);
    session.on('error', () => {});
    await within(new Promise((r) => session.once('remoteSettings', r)), 5000, 'settings');
    t.is(session.remoteSettings.maxConcurrentStreams, MAX_STREAMS_UNAUTHENTICATED);
    t.is(session.remoteSettings.initialWindowSize, 65_535, 'small windows until the hello');
    const client = await TunnelClient.connect<ManagerApi>({ host: '127.0.0.1', port: m.apiPort });
    await client.call('hello', { session: m.session, secret: m.secret, peer: 'client', namespace: 'default', version: 't' });
    t.true((client.session.remoteSettings.maxConcurrentStreams ?? 0) > 100, 'the hello lifts the stream cap');
    t.true((client.session.remoteSettings.initialWindowSize ?? 0) >= 1 << 20, 'and the windows');
    // The raw session never said hello: it is closed at the deadline (1.5 s in this child).
    await within(
      new Promise((r) => (session.closed || session.destroyed ? r(undefined) : session.once('close', r))),
      5000,
      'closed at the auth deadline',
    );
    t.true(session.destroyed || session.closed);
    t.is(client.closed, false, 'the authenticated connection stays');
    await client.close();
  },
);

test.serial('#12: a raw TCP peer that never speaks HTTP/2 on the agent port is cut off; health still answers', async (t) => {
  const socks: net.Socket[] = [];
  for (let i = 0; i < 50; i++) {
    const s = net.connect(m.agentPort, '127.0.0.1');
    s.on('error', () => {});
    s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'); // the preface, then nothing
    socks.push(s);
  }
  const res = await within(fetch(`http://127.0.0.1:${m.agentPort}/healthz`), 5000, 'health during the flood');
  t.is(res.status, 200);
  for (const s of socks) s.destroy();
});
