// Tier 3: header-filtered intercepts of a cleartext HTTP/2 (h2c) port on the real cluster (issue
// #13). The app speaks HTTP/2 with prior knowledge only, as gRPC servers do; alice and bob each
// intercept it with their own header value. One client connection from a pod carries streams for
// the app, for alice and for bob, at once: each stream reaches its own destination with its
// status, headers, body and trailers. A wiretap of the same port gives the workstation each
// stream's request while the client gets the app's answer. The net tier covers the gRPC call
// shapes, deadlines and backpressure against the agent itself (test/net/agent/http/grpc*.test.ts);
// this file is the same routing through the webhook, the manager, the port-forward and the daemons.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  applyYaml,
  background,
  clusterEnv,
  eventually,
  makeWorkstation,
  nodeInPod,
  testNamespace,
  tpRunner,
  waitAvailable,
  echoWorkload,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-h2c';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let tapFile: string;
let alice: TpRunner;
let bob: TpRunner;
const handlers: ChildProcess[] = [];

/** An h2c server (prior knowledge only): answers `<tag> <method> <path> <body length>` with a
 * trailer, as a gRPC server ends a call with grpc-status. */
const H2C_SERVER = (port: number, tag: string, host = '127.0.0.1') => `const http2 = require('http2');
const s = http2.createServer();
s.on('stream', (st, h) => {
  let n = 0;
  st.on('data', (c) => (n += c.length));
  st.on('end', () => {
    st.respond({ ':status': 200, 'content-type': 'text/plain', 'x-served-by': '${tag}' }, { waitForTrailers: true });
    st.on('wantTrailers', () => st.sendTrailers({ 'x-trailer': '${tag}-done' }));
    st.end('${tag} ' + h[':method'] + ' ' + h[':path'] + ' ' + n);
  });
});
s.listen(${port}, '${host}');`;

/** A wiretap handler: records every stream it is given (headers and body), answers 200. */
const H2C_TAP = (port: number, file: string) => `const http2 = require('http2'); const fs = require('fs');
http2.createServer().on('stream', (st, h) => {
  const chunks = [];
  st.on('data', (c) => chunks.push(c));
  st.on('end', () => {
    fs.appendFileSync(${JSON.stringify(file)}, h[':method'] + ' ' + h[':path'] + ' x-tap=' + h['x-tap'] + ' body=' + Buffer.concat(chunks).toString() + '\\n');
    st.respond({ ':status': 200 }); st.end();
  });
}).listen(${port}, '127.0.0.1');`;

function h2cWorkload(namespace: string, imageTag: string): string {
  const env = JSON.stringify(H2C_SERVER(8080, 'app', '0.0.0.0'));
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: h2app, namespace: ${namespace}, labels: {app: h2app}}
spec:
  replicas: 1
  selector: {matchLabels: {app: h2app}}
  template:
    metadata: {labels: {app: h2app}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: tp.local/echo:${imageTag}
        imagePullPolicy: IfNotPresent
        command: [/usr/bin/node, -e, ${env}]
        ports:
        - {name: h2c, containerPort: 8080}
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: h2app, namespace: ${namespace}}
spec:
  selector: {app: h2app}
  ports:
  - {name: h2c, port: 80, targetPort: h2c}
`;
}

/** From the client pod, ONE HTTP/2 connection to the h2app Service, the given streams opened at
 * once; prints one JSON line per stream: status, served-by header, body, trailer. */
async function streamsFromPod(
  streams: Array<{ path: string; headers?: Record<string, string>; body?: string }>,
): Promise<Array<{ status: number; by: string; body: string; trailer: string }>> {
  const r = await nodeInPod(
    ns.name,
    'deploy/client',
    `const http2 = require('http2');
    const want = ${JSON.stringify(streams)};
    const deadline = Date.now() + 20000;
    (function attempt() {
      const c = http2.connect('http://h2app');
      c.on('error', (e) => { c.destroy(); if (Date.now() < deadline) setTimeout(attempt, 250); else console.log('ERROR ' + e.message); });
      c.on('connect', () => {
        Promise.all(want.map((w) => new Promise((resolve, reject) => {
          const st = c.request({ ':method': w.body ? 'POST' : 'GET', ':path': w.path, ...(w.headers || {}) });
          let status = 0, by = '', body = '', trailer = '';
          st.on('response', (h) => { status = h[':status']; by = h['x-served-by'] || ''; });
          st.on('trailers', (h) => { trailer = h['x-trailer'] || ''; });
          st.setEncoding('utf8');
          st.on('data', (d) => (body += d));
          st.on('end', () => resolve({ status, by, body, trailer }));
          st.on('error', reject);
          st.end(w.body || undefined);
        }))).then((rs) => { console.log(JSON.stringify(rs)); c.close(); }, (e) => { console.log('ERROR ' + e.message); c.destroy(); });
      });
    })();`,
    60_000,
  );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('[')) throw new Error(`client pod: ${r.stdout} ${r.stderr}`);
  return JSON.parse(line) as Array<{ status: number; by: string; body: string; trailer: string }>;
}

test.before(async () => {
  const env = await clusterEnv();
  ns = await testNamespace('h2c');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-h2c-'));
  tapFile = join(dir, 'tap.log');
  writeFileSync(tapFile, '');
  alice = tpRunner({ netns: WS, dir: join(dir, 'alice'), kubeconfig: ws.kubeconfig });
  bob = tpRunner({ netns: WS, dir: join(dir, 'bob'), kubeconfig: ws.kubeconfig });
  await applyYaml(h2cWorkload(ns.name, env.IMAGE_TAG ?? '0.1.0') + '---' + echoWorkload(ns.name, 'client', 1));
  const up = await alice(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  for (const d of ['h2app', 'client']) await waitAvailable(ns.name, d);
  for (const [r, port] of [
    [alice, 1092],
    [bob, 1093],
  ] as const) {
    const c = await r(['connect', '--socks', `127.0.0.1:${port}`, '-n', ns.name]);
    if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  }
  handlers.push(
    background('node', ['-e', H2C_SERVER(9201, 'local-alice')], WS),
    background('node', ['-e', H2C_SERVER(9202, 'local-bob')], WS),
    background('node', ['-e', H2C_TAP(9203, tapFile)], WS),
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
  '#13 h2c: one client connection carries streams for the app, alice and bob at once; each reaches its own destination with status, body and trailers',
  async (t) => {
    const before = await streamsFromPod([{ path: '/before' }]);
    t.deepEqual(before, [{ status: 200, by: 'app', body: 'app GET /before 0', trailer: 'app-done' }], 'the app speaks h2c');

    const a = await alice(['intercept', 'h2app', '--port', '9201:h2c', '--http-header', 'x-dev=alice', '--mount', 'false']);
    t.is(a.code, 0, a.stderr);
    const b = await bob([
      'intercept',
      'h2app',
      '--port',
      '9202:h2c',
      '--http-header',
      'x-dev=bob',
      '--http-path-prefix',
      '/api/',
      '--mount',
      'false',
    ]);
    t.is(b.code, 0, b.stderr);

    const got = await streamsFromPod([
      { path: '/a1', headers: { 'x-dev': 'alice' } },
      { path: '/api/b1', headers: { 'x-dev': 'bob' }, body: 'hello bob' },
      { path: '/n1' },
      { path: '/a2', headers: { 'X-Dev': 'alice' }, body: 'x'.repeat(100_000) },
      { path: '/other/b2', headers: { 'x-dev': 'bob' } }, // bob's filter wants /api/ too: the app's
    ]);
    t.deepEqual(got, [
      { status: 200, by: 'local-alice', body: 'local-alice GET /a1 0', trailer: 'local-alice-done' },
      { status: 200, by: 'local-bob', body: 'local-bob POST /api/b1 9', trailer: 'local-bob-done' },
      { status: 200, by: 'app', body: 'app GET /n1 0', trailer: 'app-done' },
      { status: 200, by: 'local-alice', body: 'local-alice POST /a2 100000', trailer: 'local-alice-done' },
      { status: 200, by: 'app', body: 'app GET /other/b2 0', trailer: 'app-done' },
    ]);

    t.is((await alice(['leave', 'h2app'])).code, 0);
    t.is((await bob(['leave', 'h2app'])).code, 0);
    const after = await streamsFromPod([{ path: '/after', headers: { 'x-dev': 'alice' } }]);
    t.is(after[0]?.by, 'app', 'after leave the app has every stream again');
  },
);

test.serial("#13 h2c wiretap: the workstation gets each stream's request, the client the app's answer", async (t) => {
  const w = await alice(['wiretap', 'h2app', '--port', '9203:h2c', '--mount', 'false']);
  t.is(w.code, 0, w.stderr);
  const got = await streamsFromPod([
    { path: '/t1', headers: { 'x-tap': 'one' }, body: 'first' },
    { path: '/t2', headers: { 'x-tap': 'two' }, body: 'second' },
  ]);
  t.deepEqual(
    got.map((g) => g.body),
    ['app POST /t1 5', 'app POST /t2 6'],
    'the app answered both',
  );
  t.deepEqual(
    got.map((g) => g.trailer),
    ['app-done', 'app-done'],
  );
  const copies = await eventually('both copies at the workstation', 15_000, async () => {
    const lines = readFileSync(tapFile, 'utf8').trim().split('\n').filter(Boolean).sort();
    return lines.length >= 2 ? lines : undefined;
  });
  t.deepEqual(copies, ['POST /t1 x-tap=one body=first', 'POST /t2 x-tap=two body=second']);
  t.is((await alice(['leave', 'h2app'])).code, 0);
});
