// Tier 3: what `tp list` says about traffic the workstation did not get in full (issue #13). A
// filtered intercept of a port to which an in-cluster client speaks TLS: the agents see the
// ClientHello, the connection goes to the app, and within ~15 s `tp list` shows the TLS note and
// `-o json` the count, the Engagement's status has it with a TLSSeen condition, and a second
// filtered intercept of that port is warned when it is created. A wiretap whose workstation
// handler never reads: the app's traffic keeps flowing and the dropped copies are counted and shown.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  fetchWithRetryJs,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';
import type { TrafficCounts } from '../../../lib/common/rpc/engagement.js';

const WS = 'tpws-trf';
/** The agent reports every 5 s (AGENT_TRAFFIC_REPORT_MS); `tp list` reads the manager's memory. */
const SHOWN_WITHIN_MS = 15_000;
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let alice: TpRunner;
let bob: TpRunner;
const handlers: ChildProcess[] = [];

const HANDLER = (port: number, tag: string) => `require('http').createServer((q, r) => {
  q.resume(); q.on('end', () => r.end('${tag} ' + q.method + ' ' + q.url + '\\n'));
}).listen(${port}, '127.0.0.1');`;
/** A wiretap handler that accepts and never reads: its copies back up to the agent. */
const STUCK = (port: number) =>
  `const held = []; require('net').createServer((s) => { s.pause(); held.push(s); }).listen(${port}, '127.0.0.1');`;

/** TLS ClientHellos from the client pod to the echo Service (the app speaks HTTP: each handshake fails). */
async function tlsFromPod(connections: number): Promise<void> {
  await nodeInPod(
    ns.name,
    'deploy/client',
    `const tls = require('tls'); let n = 0;
    for (let i = 0; i < ${connections}; i++) {
      const s = tls.connect({ host: 'echo', port: 80, servername: 'echo.example', rejectUnauthorized: false });
      s.setTimeout(3000, () => s.destroy());
      s.on('error', () => {});
      s.on('close', () => { if (++n === ${connections}) console.log('done'); });
    }`,
  );
}

type Listed = { workloads: Array<{ name: string; engagements?: Array<{ name: string; traffic?: TrafficCounts }> }> };
async function trafficOf(runner: TpRunner, name: string): Promise<TrafficCounts | undefined> {
  const r = await runner(['list', '--output', 'json']);
  if (r.code !== 0) return undefined;
  const list = JSON.parse(r.stdout) as Listed;
  return list.workloads.find((w) => w.name === 'echo')?.engagements?.find((e) => e.name === name)?.traffic;
}

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('trf');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-trf-'));
  alice = tpRunner({ netns: WS, dir: join(dir, 'alice'), kubeconfig: ws.kubeconfig });
  bob = tpRunner({ netns: WS, dir: join(dir, 'bob'), kubeconfig: ws.kubeconfig });
  await applyYaml(echoWorkload(ns.name) + '---' + echoWorkload(ns.name, 'client', 1));
  const up = await alice(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  for (const d of ['echo', 'client']) await waitAvailable(ns.name, d);
  for (const [r, port] of [
    [alice, 1090],
    [bob, 1091],
  ] as const) {
    const c = await r(['connect', '--socks', `127.0.0.1:${port}`, '-n', ns.name]);
    if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  }
  handlers.push(
    background('node', ['-e', HANDLER(9101, 'local-alice')], WS),
    background('node', ['-e', HANDLER(9102, 'local-bob')], WS),
    background('node', ['-e', STUCK(9103)], WS),
  );
  await new Promise((r) => setTimeout(r, 500));
});

test.after.always(async () => {
  for (const h of handlers) h.kill();
  await alice?.(['quit']);
  await bob?.(['quit']);
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

test.serial(
  "#13: TLS on a filtered intercept's port: counted, shown in tp list and the status, and warned to the next filtered intercept",
  async (t) => {
    const a = await alice([
      'intercept',
      'echo',
      '--name',
      'echo-tls',
      '--port',
      '9101:http',
      '--http-header',
      'x-dev=alice',
      '--mount',
      'false',
    ]);
    t.is(a.code, 0, a.stderr);
    t.notRegex(a.stderr, /TLS seen/, 'nothing seen yet: no warning');
    await tlsFromPod(4);

    const traffic = await eventually('tlsConnections in tp list -o json', SHOWN_WITHIN_MS, async () => {
      const c = await trafficOf(alice, 'echo-tls');
      return c && c.tlsConnections > 0 ? c : undefined;
    });
    t.true(traffic.tlsConnections <= 4);
    const table = (await alice(['list'])).stdout;
    t.regex(
      table,
      /intercept echo-tls of echo \(you\): TLS seen: port 8080 carries TLS, so HTTP filters cannot match it; its connections go to the app/,
    );

    const status = await eventually('status.traffic and TLSSeen', SHOWN_WITHIN_MS, async () => {
      const obj = JSON.parse(await kubectlOk(['-n', ns.name, 'get', 'engagement', 'echo-tls', '-o', 'json'])) as {
        status?: { traffic?: TrafficCounts; conditions?: Array<{ type: string; status: string; message: string }> };
      };
      return obj.status?.traffic?.tlsConnections && obj.status.conditions?.some((c) => c.type === 'TLSSeen') ? obj.status : undefined;
    });
    t.like(
      status.conditions!.find((c) => c.type === 'TLSSeen'),
      { status: 'True' },
    );
    t.true(
      status.conditions!.some((c) => c.type === 'Routing' && c.status === 'True'),
      'the other conditions stay',
    );

    // Cleartext requests still route by the filter.
    const r = await nodeInPod(
      ns.name,
      'deploy/client',
      `${fetchWithRetryJs(15)}
    fetchRetry('http://echo/x', { headers: { 'x-dev': 'alice' } }).then(async (r) => console.log(await r.text()), (e) => console.log('ERROR ' + e.message));`,
    );
    t.is(r.stdout.trim(), 'local-alice GET /x');

    const b = await bob([
      'intercept',
      'echo',
      '--name',
      'echo-tls-bob',
      '--port',
      '9102:http',
      '--http-header',
      'x-dev=bob',
      '--mount',
      'false',
    ]);
    t.is(b.code, 0, b.stderr);
    t.regex(b.stderr, /tp: warning: TLS seen: port 8080 carries TLS, so HTTP filters cannot match it/);
    t.is((await bob(['leave', 'echo-tls-bob'])).code, 0);
    t.is((await alice(['leave', 'echo-tls'])).code, 0);
  },
);

test.serial(
  '#13: a wiretap whose handler never reads: the app answers every request, and the dropped copies are counted and shown',
  async (t) => {
    const w = await alice(['wiretap', 'echo', '--name', 'echo-tap', '--port', '9103:http', '--mount', 'false']);
    t.is(w.code, 0, w.stderr);
    // 400 POSTs of 256 KiB on keep-alive connections: far more than the tunnel's windows and the
    // handler's socket buffers hold, so the tap's backlog passes its limit and copies are dropped.
    const r = await nodeInPod(
      ns.name,
      'deploy/client',
      `${fetchWithRetryJs(15)}
    const body = 'x'.repeat(256 * 1024); let ok = 0;
    (async () => {
      for (let i = 0; i < 400; i++) {
        const res = await fetchRetry('http://echo/tap-' + i, { method: 'POST', body });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
      }
      console.log('ok ' + ok);
    })().catch((e) => console.log('ERROR ' + e.message));`,
      180_000,
    );
    t.is(r.stdout.trim(), 'ok 400', "the stuck copy never slowed or broke the app's traffic");

    const traffic = await eventually('tapDropped in tp list -o json', SHOWN_WITHIN_MS, async () => {
      const c = await trafficOf(alice, 'echo-tap');
      return c && c.tapDropped > 0 ? c : undefined;
    });
    t.true(traffic.tapCopies > 0, 'copies were made before the handler fell behind');
    t.regex((await alice(['list'])).stdout, /wiretap echo-tap of echo \(you\): wiretap: \d+ of \d+ copies dropped/);
    t.is((await alice(['leave', 'echo-tap'])).code, 0);
  },
);
