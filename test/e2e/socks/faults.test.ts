// Tier 3: network faults on the workstation's path to the API server (issue #18). The workstation
// is a network namespace whose only way into the cluster is the API server (10.250.0.1), so
// iptables rules there stand for a lossy Wi-Fi, a dropped VPN or a laptop asleep: loss with
// `-m statistic` (this kernel has no netem, so no reordering or delay), and a silent 30 s cut
// (packets dropped, no RST). Transfers must be byte-exact or fail with an error — never hang —
// and tp must come back by itself, intercepts included. Every load is bounded in size and time.
import test from 'ava';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  fetchWithRetryJs,
  makeWorkstation,
  nodeInPod,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-faults';
const SOCKS = '127.0.0.1:1190';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let tp: TpRunner;
const handlers: ChildProcess[] = [];

/** A server of deterministic bytes in the tp image: GET /bytes/N answers N bytes and their
 * sha256 in a trailer-free header computed up front; POST /sha answers the sha256 of the body. */
const BULK = (namespace: string, tag: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: bulk, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: bulk}}
  template:
    metadata: {labels: {app: bulk}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: bulk
        image: tp.local/tp:${tag}
        imagePullPolicy: IfNotPresent
        command: [node, -e, ${JSON.stringify(`
          const http = require('http'); const crypto = require('crypto');
          const block = Buffer.alloc(1 << 20); for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 3) & 255;
          http.createServer((q, r) => {
            const m = /^\\/bytes\\/(\\d+)$/.exec(q.url);
            if (m) {
              const n = Number(m[1]); const h = crypto.createHash('sha256'); let left = n;
              while (left > 0) { const c = Math.min(left, block.length); h.update(block.subarray(0, c)); left -= c; }
              r.writeHead(200, { 'content-length': n, 'x-sha256': h.digest('hex') });
              let sent = 0; const pump = () => { while (sent < n) { const c = Math.min(n - sent, block.length); sent += c; if (!r.write(block.subarray(0, c))) return r.once('drain', pump); } r.end(); }; pump();
              return;
            }
            const h = crypto.createHash('sha256'); let n = 0;
            q.on('data', (c) => { h.update(c); n += c.length; }); q.on('end', () => r.end(JSON.stringify({ n, sha: h.digest('hex') })));
          }).listen(8080);`)}]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: bulk, namespace: ${namespace}}
spec:
  selector: {app: bulk}
  ports: [{name: http, port: 80, targetPort: http}]
`;

const iptables = (args: string[]) => sh('iptables', ['-w', ...args], { netns: WS });
/** Drops what the workstation exchanges with the API server: a fraction of it, or all of it. */
async function dropApiServer(nodeIp: string, probability?: number): Promise<() => Promise<void>> {
  const match = probability === undefined ? [] : ['-m', 'statistic', '--mode', 'random', '--probability', String(probability)];
  const rules = [
    ['OUTPUT', '-d', nodeIp, ...match, '-j', 'DROP'],
    ['INPUT', '-s', nodeIp, ...match, '-j', 'DROP'],
  ];
  for (const r of rules) {
    const x = await iptables(['-I', ...r]);
    if (x.code !== 0) throw new Error(`iptables: ${x.stderr}`);
  }
  return async () => {
    for (const r of rules) await iptables(['-D', ...r]);
  };
}

/** curl through tp's SOCKS proxy from the workstation: the body's sha256 and how curl ended. */
async function curlSha(
  url: string,
  o: { maxTime: number; limitRate?: string; upload?: number },
): Promise<{ code: number; sha: string; header: string; out: string }> {
  const upload = o.upload ? `head -c ${o.upload} /dev/urandom | tee /tmp/faults-up.bin | ` : '';
  const data = o.upload ? `--data-binary @- -H 'content-type: application/octet-stream'` : '';
  const r = await sh(
    'sh',
    [
      '-c',
      `${upload}curl -sS --socks5-hostname ${SOCKS} --max-time ${o.maxTime} ${o.limitRate ? `--limit-rate ${o.limitRate}` : ''} ${data} -D /tmp/faults-h.txt -o /tmp/faults-body.bin ${url}; echo "curl=$?"; sha256sum /tmp/faults-body.bin; cat /tmp/faults-h.txt`,
    ],
    { netns: WS, timeoutMs: (o.maxTime + 30) * 1000 },
  );
  const code = Number(/curl=(\d+)/.exec(r.stdout)?.[1] ?? -1);
  const sha = /^([0-9a-f]{64}) /m.exec(r.stdout)?.[1] ?? '';
  return { code, sha, header: /x-sha256: ([0-9a-f]+)/i.exec(r.stdout)?.[1] ?? '', out: r.stdout + r.stderr };
}

async function inPod(url: string, retrySeconds = 5): Promise<string> {
  const r = await nodeInPod(
    ns.name,
    'deploy/client',
    `${fetchWithRetryJs(retrySeconds)}
    fetchRetry(${JSON.stringify(url)}).then(async (r) => console.log(await r.text()), (e) => console.log('ERROR ' + (e.cause?.code ?? e.message)));`,
    (retrySeconds + 20) * 1000,
  );
  return r.stdout.trim();
}

test.before(async () => {
  const env = await clusterEnv();
  ns = await testNamespace('faults');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-faults-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  const up = await tp(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  await applyYaml(BULK(ns.name, env.IMAGE_TAG) + '---' + echoWorkload(ns.name, 'echo', 1) + '---' + echoWorkload(ns.name, 'client', 1));
  for (const d of ['bulk', 'echo', 'client']) await waitAvailable(ns.name, d);
  const c = await tp(['connect', '--socks', SOCKS, '-n', ns.name]);
  if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  handlers.push(
    background(
      'node',
      [
        '-e',
        `require('http').createServer((q, r) => { q.resume(); q.on('end', () => r.end('local ' + q.url + '\\n')); }).listen(9091, '127.0.0.1')`,
      ],
      WS,
    ),
  );
});

test.after.always(async () => {
  for (const h of handlers) h.kill();
  await tp?.(['quit']);
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

for (const loss of [0.01, 0.05]) {
  test.serial(
    `#18: ${loss * 100} % loss on the path to the API server: downloads and uploads through the port-forward are byte-exact`,
    async (t) => {
      const env = await clusterEnv();
      const undo = await dropApiServer(env.NODE_IP, loss);
      try {
        const t0 = Date.now();
        const down = await curlSha('http://bulk/bytes/16777216', { maxTime: 180 });
        t.is(down.code, 0, down.out);
        t.is(down.sha, down.header, 'the download is byte-exact');
        const up = await curlSha('http://bulk/sha', { maxTime: 180, upload: 8 << 20 });
        t.is(up.code, 0, up.out);
        const local = (await sh('sha256sum', ['/tmp/faults-up.bin'], { netns: WS })).stdout.slice(0, 64);
        const body = (await sh('cat', ['/tmp/faults-body.bin'], { netns: WS })).stdout;
        t.is((JSON.parse(body) as { sha: string }).sha, local, 'the upload is byte-exact');
        t.log(`${loss * 100} % loss: 16 MiB down and 8 MiB up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        await undo();
      }
    },
  );
}

test.serial(
  '#18: a silent 30 s cut during a bulk transfer: it fails with an error (no hang), tp reconnects by itself, and transfers work again',
  async (t) => {
    const env = await clusterEnv();
    // A download paced to outlast the cut's start: 64 MiB at 2 MiB/s.
    const transfer = curlSha('http://bulk/bytes/67108864', { maxTime: 120, limitRate: '2M' });
    await new Promise((r) => setTimeout(r, 3000));
    const cutAt = Date.now();
    const undo = await dropApiServer(env.NODE_IP);
    let failedAfter = 0;
    try {
      const r = await transfer;
      failedAfter = Date.now() - cutAt;
      t.not(r.code, 0, 'the transfer did not pretend to finish');
      t.true(
        failedAfter < 30_000,
        `the transfer failed ${failedAfter} ms into the cut, within the PING deadline, not at curl's own timeout`,
      );
      const status = JSON.parse((await tp(['status', '--output', 'json'])).stdout) as { state: string };
      t.not(status.state, 'connected', 'tp status does not claim to be connected while cut off');
      const left = 30_000 - (Date.now() - cutAt);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    } finally {
      await undo();
    }
    const healedAt = Date.now();
    await eventually('tp connected again', 60_000, async () =>
      (JSON.parse((await tp(['status', '--output', 'json'])).stdout) as { state: string }).state === 'connected' ? true : undefined,
    );
    const again = await curlSha('http://bulk/bytes/4194304', { maxTime: 60 });
    t.is(again.code, 0, again.out);
    t.is(again.sha, again.header);
    t.log(`the transfer failed ${failedAfter} ms into the cut; connected again ${Date.now() - healedAt} ms after it ended`);
  },
);

test.serial(
  '#18: a silent 30 s cut during an intercept: afterwards in-cluster requests reach the workstation again, with no user action',
  async (t) => {
    const env = await clusterEnv();
    const r = await tp(['intercept', 'echo', '--port', '9091:http', '--mount', 'false']);
    t.is(r.code, 0, r.stderr);
    // Right after the agent's rollout the Service's rules may still name a pod that is gone.
    t.is(await inPod('http://echo/before', 20), 'local /before');
    const undo = await dropApiServer(env.NODE_IP);
    try {
      await new Promise((r) => setTimeout(r, 30_000));
    } finally {
      await undo();
    }
    const healedAt = Date.now();
    await eventually('the intercept back after the cut', 90_000, async () =>
      (await inPod('http://echo/after')) === 'local /after' ? true : undefined,
    );
    t.log(`intercepted again ${Date.now() - healedAt} ms after a 30 s cut ended`);
    t.is((await tp(['leave', 'echo'])).code, 0);
  },
);
