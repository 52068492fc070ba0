// Tier 3: the direct route to the traffic manager (issue #14): with `directRoute.enabled` the
// manager serves its client API over TLS behind a NodePort; `tp connect --manager-address` uses
// it, pinning the CA the manager publishes through the API server, and falls back to the
// port-forward when the address does not answer or presents a certificate that CA did not sign.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  makeWorkstation,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';
import type { ChildProcess } from 'node:child_process';

const WS = 'tpws-direct';
const NODE_PORT = 31443;
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let tp: TpRunner;
let rogue: ChildProcess | undefined;

const status = async () => JSON.parse((await tp(['status', '--output', 'json'])).stdout) as { state: string; managerRoute?: string };
const curl = (url: string, port: number) =>
  sh('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${port}`, url], { netns: WS, timeoutMs: 30_000 });

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('direct');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-direct-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  await eventually('tp helm upgrade --install with the direct route', 120_000, async () => {
    const r = await tp(
      ['helm', 'upgrade', '--install', '--set', 'directRoute.enabled=true', '--set', `directRoute.nodePort=${NODE_PORT}`],
      { timeoutMs: 200_000 },
    );
    if (r.code === 0) return true;
    if (/another operation|pending/.test(r.stderr)) return undefined;
    throw new Error(`tp helm upgrade --install: ${r.stderr}`);
  });
  await applyYaml(echoWorkload(ns.name, 'echo', 1));
  await waitAvailable(ns.name, 'echo');
});

test.after.always(async () => {
  rogue?.kill();
  await tp?.(['quit']);
  // Leave the manager as the other tests expect it: no direct route.
  await tp?.(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

test.serial('#14: --manager-address reaches the manager over TLS with its published CA pinned; tp status names the route', async (t) => {
  const env = await clusterEnv();
  const c = await tp(['connect', '--socks', '127.0.0.1:1290', '-n', ns.name, '--manager-address', `${env.NODE_IP}:${NODE_PORT}`]);
  t.is(c.code, 0, c.stderr);
  const s = await status();
  t.is(s.state, 'connected');
  t.is(s.managerRoute, `direct ${env.NODE_IP}:${NODE_PORT} (TLS, CA pinned)`);
  const r = await curl(`http://echo.${ns.name}/over-direct`, 1290);
  t.regex(r.stdout, /^pod: echo-/);
  t.regex(r.stdout, /GET \/over-direct HTTP\/1\.1/);
  t.is((await tp(['quit'])).code, 0);
});

test.serial('#14: a direct address that does not answer falls back to the port-forward', async (t) => {
  const env = await clusterEnv();
  const c = await tp(['connect', '--socks', '127.0.0.1:1291', '-n', ns.name, '--manager-address', `${env.NODE_IP}:1`]);
  t.is(c.code, 0, c.stderr);
  t.regex((await status()).managerRoute ?? '', /^port-forward to traffic-manager-/);
  t.regex((await curl(`http://echo.${ns.name}/fallback`, 1291)).stdout, /^pod: echo-/);
  t.is((await tp(['quit'])).code, 0);
});

test.serial(
  "#14: a server at the direct address with a certificate the manager's CA did not sign is refused; tp uses the port-forward",
  async (t) => {
    // A TLS server in the workstation that speaks h2 with a self-signed certificate.
    const key = join(dir, 'rogue.key');
    const crt = join(dir, 'rogue.crt');
    const gen = await sh('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '1',
      '-subj',
      '/CN=traffic-manager',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    t.is(gen.code, 0, gen.stderr);
    rogue = background(
      'node',
      [
        '-e',
        `const tls = require('tls'); const fs = require('fs');
    tls.createServer({ key: fs.readFileSync(${JSON.stringify(key)}), cert: fs.readFileSync(${JSON.stringify(crt)}), ALPNProtocols: ['h2'] }, (s) => { s.on('error', () => {}); process.stdout.write('ROGUE GOT A CONNECTION\\n'); }).listen(9443, '127.0.0.1', () => process.stdout.write('listening\\n'));`,
      ],
      WS,
    );
    let out = '';
    rogue.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually('the rogue server', 10_000, async () => (out.includes('listening') ? true : undefined));
    const c = await tp(['connect', '--socks', '127.0.0.1:1292', '-n', ns.name, '--manager-address', '127.0.0.1:9443']);
    t.is(c.code, 0, c.stderr);
    t.regex((await status()).managerRoute ?? '', /^port-forward to /);
    const log = readFileSync(join(dir, 'logs', 'user-daemon.log'), 'utf8');
    t.regex(
      log,
      /the direct route to the traffic manager failed; using a port-forward.*(self.signed|not signed|unable to verify|certificate)/i,
    );
    t.is((await tp(['quit'])).code, 0);
  },
);
