// Tier 3: `tp connect --socks` from a workstation namespace of the local cluster. The workstation
// reaches only the API server; everything else goes through tp's proxy, the port-forward, the
// traffic manager installed by `tp helm install`, and the cluster's own DNS and Services.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  eventually,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  REPO_ROOT,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-socks';
const PROXY = '127.0.0.1:1080';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;
let podIP = '';
let clusterIP = '';

const curl = (args: string[]) => sh('curl', ['-sS', '--max-time', '8', ...args], { netns: WS });

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('socks');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-socks-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  await applyYaml(echoWorkload(ns.name));
  // From a clean slate, so the install below is a first install.
  await tp(['helm', 'uninstall']);
  await waitAvailable(ns.name, 'echo');
  podIP = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
});

test.after.always(async () => {
  await tp?.(['quit']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('before install, connect says no traffic manager is installed and names tp helm install', async (t) => {
  const r = await tp(['connect', '--socks', PROXY]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^tp: no traffic manager is installed in namespace tp-system; install it with `tp helm install`/);
  t.is(r.stderr.trim().split('\n').length, 1, 'one sentence');
  const status = await tp(['status', '--output', 'json']);
  t.is(JSON.parse(status.stdout).userDaemon, 'running', 'the daemon stays up');
});

test.serial('tp helm install installs the traffic manager without a helm binary', async (t) => {
  const r = await tp(['helm', 'install']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Traffic manager installed in namespace tp-system/);
  const again = await tp(['helm', 'install']);
  t.is(again.code, 1);
  t.regex(again.stderr, /tp helm upgrade/);
});

test.serial('the client API is reachable only through a port-forward, not from other pods', async (t) => {
  const managerIP = (
    await kubectlOk([
      '-n',
      'tp-system',
      'get',
      'pods',
      '-l',
      'app.kubernetes.io/name=traffic-manager',
      '-o',
      'jsonpath={.items[0].status.podIP}',
    ])
  ).trim();
  const r = await nodeInPod(
    ns.name,
    'deploy/echo',
    `
    const s = require('net').connect(8081, '${managerIP}');
    s.on('connect', () => { console.log('connected'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code); process.exit(0); });`,
  );
  t.is(r.stdout.trim(), 'ECONNREFUSED');
});

test.serial('tp connect --socks, then curl reaches Services by every name form, pod IPs and ClusterIPs', async (t) => {
  const r = await tp(['connect', '--socks', PROXY, '-n', ns.name]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /SOCKS5 and HTTP proxy on 127\.0\.0\.1:1080/);
  const targets = ['echo', `echo.${ns.name}`, `echo.${ns.name}.svc.cluster.local`, clusterIP, `${podIP}:8080`];
  for (const target of targets) {
    const socks = await curl(['--socks5-hostname', PROXY, `http://${target}/via-socks`]);
    t.is(socks.code, 0, `socks5h ${target}: ${socks.stderr}`);
    t.regex(socks.stdout, /^pod: echo-/m, target);
    t.regex(socks.stdout, /^GET \/via-socks HTTP\/1\.1$/m);
    const http = await curl(['-x', `http://${PROXY}`, `http://${target}/via-http-proxy`]);
    t.is(http.code, 0, `http proxy ${target}: ${http.stderr}`);
    t.regex(http.stdout, /^GET \/via-http-proxy HTTP\/1\.1$/m, target);
    const tunnel = await curl(['-p', '-x', `http://${PROXY}`, `http://${target}/via-connect`]);
    t.is(tunnel.code, 0, `HTTP CONNECT ${target}: ${tunnel.stderr}`);
    t.regex(tunnel.stdout, /^GET \/via-connect HTTP\/1\.1$/m, target);
  }
  // Nothing of the cluster is reachable without the proxy: the proxy did the work.
  const direct = await curl(['--max-time', '2', `http://${clusterIP}/`]);
  t.not(direct.code, 0);
});

test.serial('tp status and tp list show the connection and the workloads', async (t) => {
  const s = JSON.parse((await tp(['status', '--output', 'json'])).stdout) as {
    state: string;
    socks: string;
    clusterInfo: { serviceCIDRs: string[]; podCIDRs: string[] };
  };
  const env = await clusterEnv();
  t.is(s.state, 'connected');
  t.is(s.socks, PROXY);
  t.deepEqual(s.clusterInfo.serviceCIDRs, [env.SERVICE_CIDR]);
  t.true(s.clusterInfo.podCIDRs.length > 0);
  const list = await tp(['list']);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^echo\s+Deployment\s+2\/2\s+ready to engage\s+http\/tcp$/m);
  const version = JSON.parse((await tp(['version', '-o', 'json'])).stdout) as {
    client: string;
    userDaemon: string;
    trafficManager: string | null;
  };
  t.is(version.userDaemon, version.client);
  t.is(version.trafficManager, version.client);
});

test.serial('a DNS query over SOCKS5 UDP ASSOCIATE reaches the cluster DNS', async (t) => {
  const env = await clusterEnv();
  const script = join(REPO_ROOT, 'dist', 'test', 'helpers', 'socks-udp-dns.js');
  const r = await sh(process.execPath, [script, '127.0.0.1', '1080', env.DNS_SVC_IP, `echo.${ns.name}.svc.cluster.local`], { netns: WS });
  t.is(r.code, 0, r.stdout + r.stderr);
  const answer = JSON.parse(r.stdout) as { rcode: number; addresses: string[] };
  t.is(answer.rcode, 0);
  t.deepEqual(answer.addresses, [clusterIP]);
});

test.serial('tp connect --socks -- CMD runs CMD with the proxy set (Node fetch included)', async (t) => {
  const script = `fetch('http://echo/from-cmd').then(r => r.text()).then(t => console.log(t.split('\\n')[2]))`;
  const r = await tp(['connect', '--socks', PROXY, '-n', ns.name, '--', 'node', '-e', script]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim().split('\n').pop(), 'GET /from-cmd HTTP/1.1');
  const curlCmd = await tp([
    'connect',
    '--socks',
    PROXY,
    '-n',
    ns.name,
    '--',
    'curl',
    '-sS',
    '--max-time',
    '5',
    `http://echo.${ns.name}/curl-from-cmd`,
  ]);
  t.is(curlCmd.code, 0, curlCmd.stderr);
  t.regex(curlCmd.stdout, /^GET \/curl-from-cmd HTTP\/1\.1$/m);
});

test.serial('unreachable targets: SOCKS reply 0x05 for a refused port, 0x04 for an unknown name, HTTP 502', async (t) => {
  const refused = await curl(['--socks5-hostname', PROXY, `http://${podIP}:9/`]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /connection refused|\(5\)|Connection refused/i);
  const unknown = await curl(['--socks5-hostname', PROXY, 'http://no-such-service/']);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /unreachable|\(4\)/i);
  const bad = await curl(['-x', `http://${PROXY}`, '-o', '/dev/null', '-w', '%{http_code}', `http://${podIP}:9/`]);
  t.is(bad.stdout, '502');
  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { state: string };
  t.is(status.state, 'connected', 'still connected after failures');
});

test.serial('bad input gets one clear sentence and the daemon stays up', async (t) => {
  const wrongVersion = await sh(
    process.execPath,
    [
      '-e',
      `
    const s = require('net').connect(1080, '127.0.0.1', () => s.write(Buffer.from([6, 1, 0])));
    s.on('data', (d) => { console.log('data', [...d].join(',')); });
    s.on('close', () => console.log('closed'));
    setTimeout(() => process.exit(0), 2000);`,
    ],
    { netns: WS },
  );
  t.regex(wrongVersion.stdout, /closed/);
  const wrongAuth = await curl(['--socks5-hostname', PROXY, '--proxy-user', 'a:b', 'http://echo/']);
  t.is(wrongAuth.code, 0, 'no credentials configured: the proxy offers no-auth and curl falls back to it');

  const ctx = await tp(['connect', '--socks', '127.0.0.1:1081', '--context', 'nope']);
  t.is(ctx.code, 1);
  t.regex(ctx.stderr, /^tp: (context "nope" is not in the kubeconfig|tp is already connected)/);

  const still = await tp(['status', '-o', 'json']);
  t.is(JSON.parse(still.stdout).state, 'connected');
  const badFlag = await tp(['status', '--output', 'xml']);
  t.is(badFlag.code, 2);
  t.regex(badFlag.stderr, /^tp: --output "xml" is not a format; use --output json or --output yaml\.$/m);
});

test.serial('the proxy works again by itself after the traffic manager pod is killed', async (t) => {
  await kubectlOk(['-n', 'tp-system', 'delete', 'pod', '-l', 'app.kubernetes.io/name=traffic-manager', '--wait=false']);
  const body = await eventually('the proxy to work again', 90_000, async () => {
    const r = await curl(['--max-time', '3', '--socks5-hostname', PROXY, 'http://echo/after-restart']);
    return r.code === 0 ? r.stdout : undefined;
  });
  t.regex(body, /^GET \/after-restart HTTP\/1\.1$/m);
  const s = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { state: string; reconnects: number };
  t.is(s.state, 'connected');
  t.true(s.reconnects >= 1);
});

test.serial('tp quit disconnects: the proxy port closes and the daemon stops', async (t) => {
  const r = await tp(['quit']);
  t.is(r.code, 0, r.stderr);
  const after = await curl(['--max-time', '2', '--socks5-hostname', PROXY, 'http://echo/']);
  t.not(after.code, 0);
  t.regex(after.stderr, /Failed to connect|Couldn't connect|refused/i);
  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { userDaemon: string };
  t.is(status.userDaemon, 'not running');
});

test.serial('with a port in use, connect fails with a sentence naming the address and the daemon stays up', async (t) => {
  // Hold the port inside the workstation namespace with a long-lived listener.
  const holder = spawn(
    'ip',
    ['netns', 'exec', WS, process.execPath, '-e', `require('net').createServer().listen(1090, '127.0.0.1'); setTimeout(() => {}, 60000)`],
    { stdio: 'ignore' },
  );
  t.teardown(() => void holder.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 500));
  const r = await tp(['connect', '--socks', '127.0.0.1:1090', '-n', ns.name]);
  t.is(r.code, 1);
  t.regex(r.stderr, /127\.0\.0\.1:1090/);
  t.regex(r.stderr, /in use/);
  const s = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { userDaemon: string; state: string };
  t.is(s.userDaemon, 'running');
  t.is(s.state, 'disconnected');
  await tp(['quit']);
});
