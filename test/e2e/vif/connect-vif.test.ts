// Tier 3: `tp connect` (VIF) in a workstation namespace of the local cluster. Before connect the
// workstation reaches only the API server; after it, every program resolves and reaches cluster
// names, pod IPs and ClusterIPs through the TUN, the userspace TCP/IP stack and the manager.
// Quit leaves routes, rules and resolver exactly as they were, also after a kill -9.
import test from 'ava';
import { chownSync, copyFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  eventually,
  kubectlOk,
  makeWorkstation,
  REPO_ROOT,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
  workstationSnapshot,
} from '../../helpers/cluster.js';

const WS = 'tpws-vif';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;
let podIP = '';
let clusterIP = '';

const inWs = (cmd: string, args: string[], timeoutMs = 20_000) => sh(cmd, args, { netns: WS, timeoutMs });

const snapshot = () => workstationSnapshot(WS);

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('vif');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-vif-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  tp.env.TP_ROOT_RUNTIME_DIR = join(dir, 'root-run');
  await applyYaml(echoWorkload(ns.name));
  const installed = await tp(['helm', 'upgrade', '--install']);
  if (installed.code !== 0) throw new Error(`tp helm upgrade --install: ${installed.stderr}`);
  await waitAvailable(ns.name, 'echo');
  podIP = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
});

test.after.always(async () => {
  await tp?.(['quit', '-s']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let before: Record<string, string>;

test.serial('before connect, the cluster is unreachable by name and by IP', async (t) => {
  before = await snapshot();
  t.not((await inWs('curl', ['-sS', '--max-time', '3', `http://echo.${ns.name}/`])).code, 0);
  t.not((await inWs('curl', ['-sS', '--max-time', '3', `http://${clusterIP}/`])).code, 0);
});

test.serial('tp connect: curl by Service name, getent, pod IP, ClusterIP and cluster DNS all work', async (t) => {
  const r = await tp(['connect', '-n', ns.name]);
  t.is(r.code, 0, r.stderr + readLog('root-daemon.log') + readLog('user-daemon.log'));
  t.regex(r.stdout, /Interface tp0 routes/);
  for (const url of [
    `http://echo.${ns.name}/by-name`,
    'http://echo/by-short-name',
    `http://echo.${ns.name}.svc.cluster.local/by-fqdn`,
    `http://${clusterIP}/by-cluster-ip`,
    `http://${podIP}:8080/by-pod-ip`,
  ]) {
    const c = await inWs('curl', ['-sS', '--max-time', '8', url]);
    t.is(c.code, 0, `${url}: ${c.stderr}`);
    t.regex(c.stdout, /^pod: echo-/m, url);
  }
  const getent = await inWs('getent', ['hosts', 'echo']);
  t.is(getent.code, 0, getent.stderr);
  t.is(getent.stdout.trim().split(/\s+/)[0], clusterIP);
  const env = await clusterEnv();
  const dig = await inWs('dig', ['+short', '+time=3', '+tries=1', `@${env.DNS_SVC_IP}`, `echo.${ns.name}.svc.cluster.local`]);
  t.is(dig.stdout.trim(), clusterIP, dig.stderr);
  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { vif: { interface: string; routes: string[] } };
  t.is(status.vif.interface, 'tp0');
  t.true(status.vif.routes.includes(env.SERVICE_CIDR));
});

test.serial('a Service CIDR added while connected is routed into tp0, and unrouted when removed', async (t) => {
  const cidr = '10.97.0.0/24';
  const routeOf = async () => (await inWs('ip', ['route', 'show', cidr])).stdout.trim();
  await kubectlOk(['apply', '-f', '-'], {
    input: `apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: tp-e2e-extra}\nspec: {cidrs: ["${cidr}"]}\n`,
  });
  t.teardown(async () => void (await kubectlOk(['delete', 'servicecidr', 'tp-e2e-extra', '--ignore-not-found', '--wait=false'])));
  const added = await eventually('the new Service CIDR to be routed', 75_000, async () =>
    (await routeOf()).includes('dev tp0') ? routeOf() : undefined,
  );
  t.regex(added, /dev tp0/);
  await kubectlOk(['delete', 'servicecidr', 'tp-e2e-extra', '--wait=true', '--timeout=30s']);
  await eventually('the Service CIDR route to go', 75_000, async () => ((await routeOf()) === '' ? true : undefined));
  t.pass();
});

test.serial('tp quit leaves routes, rules and the resolver exactly as before', async (t) => {
  const r = await tp(['quit']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await snapshot(), before);
});

test.serial(
  '#16: a subnet that collides with a route of the workstation is reached through a virtual subnet (VNAT); the route stays',
  async (t) => {
    const own = (await inWs('ip', ['-4', 'route', 'show', 'dev', 'eth0', 'proto', 'kernel'])).stdout.trim().split(/\s+/)[0]!;
    const r = await tp(['connect', '-n', ns.name, '--also-proxy', own, '-o', 'json']);
    t.is(r.code, 0, r.stderr);
    const st = JSON.parse(r.stdout) as { vif: { vnat: Array<{ real: string; virtual: string; reason: string }> } };
    t.deepEqual(
      st.vif.vnat.map((m) => [m.real, m.reason]),
      [[own, `overlaps ${own} via eth0`]],
    );
    t.regex((await inWs('ip', ['route', 'show', own])).stdout, /dev eth0/, "the workstation's own route is not shadowed");
    t.is((await tp(['quit'])).code, 0);
    t.deepEqual(await snapshot(), before, 'quit takes the virtual route away');
  },
);

test.serial('--never-proxy keeps a subnet off the TUN: that pod IP stays unreachable, the rest works', async (t) => {
  const r = await tp(['connect', '-n', ns.name, '--never-proxy', `${podIP}/32`]);
  t.is(r.code, 0, r.stderr);
  t.not(
    (await inWs('curl', ['-sS', '--max-time', '3', `http://${podIP}:8080/`])).code,
    0,
    'the never-proxied pod IP is not routed to the cluster',
  );
  t.is((await inWs('curl', ['-sS', '--max-time', '8', `http://${clusterIP}/`])).code, 0);
  t.is((await tp(['quit'])).code, 0);
  t.deepEqual(await snapshot(), before);
});

test.serial('tp connect -- CMD runs CMD with the cluster reachable and disconnects after', async (t) => {
  const r = await tp(['connect', '-n', ns.name, '--', 'curl', '-sS', '--max-time', '8', 'http://echo/from-cmd']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^GET \/from-cmd HTTP\/1\.1$/m);
  t.deepEqual(await snapshot(), before);
});

test.serial('as a user without root and without sudo, tp connect says what to do and changes nothing', async (t) => {
  const userDir = mkdtempSync(join(tmpdir(), 'tp-e2e-vif-user-'));
  t.teardown(() => rmSync(userDir, { recursive: true, force: true }));
  copyFileSync(ws.kubeconfig, join(userDir, 'kubeconfig'));
  chownSync(userDir, 65534, 65534);
  chownSync(join(userDir, 'kubeconfig'), 65534, 65534);
  const env = {
    ...process.env,
    HOME: userDir,
    KUBECONFIG: join(userDir, 'kubeconfig'),
    TP_RUNTIME_DIR: join(userDir, 'run'),
    TP_LOG_DIR: join(userDir, 'logs'),
    TP_ROOT_RUNTIME_DIR: join(userDir, 'root'),
    PATH: '/usr/bin:/bin',
  };
  const cli = join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js');
  const asNobody = (args: string[]) =>
    sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...args], {
      netns: WS,
      env,
      timeoutMs: 60_000,
    });
  const r = await asNobody(['connect', '-n', ns.name]);
  t.is(r.code, 1, r.stdout + r.stderr);
  // #15: the CLI runs sudo (the user daemon never does); here with no terminal, so `sudo -n`.
  t.regex(
    r.stderr,
    /^tp: tp connect needs root for its network interface, and sudo (wants a password but there is no terminal to ask it in|is not installed|does not allow you to run it)/,
  );
  t.regex(r.stderr, /tp connect --socks/);
  await asNobody(['quit']);
  t.deepEqual(await snapshot(), before);
});

test.serial('kill -9 of the root daemon, then tp connect again: clean state and working', async (t) => {
  t.is((await tp(['connect', '-n', ns.name])).code, 0);
  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { vif: { pid: number } };
  process.kill(status.vif.pid, 'SIGKILL');
  await eventually('the root daemon to die', 5_000, async () =>
    (await sh('kill', ['-0', String(status.vif.pid)])).code !== 0 ? true : undefined,
  );
  const again = await tp(['connect', '-n', ns.name]);
  t.is(again.code, 0, again.stderr);
  const c = await inWs('curl', ['-sS', '--max-time', '8', `http://echo.${ns.name}/after-crash`]);
  t.is(c.code, 0, c.stderr);
  t.is((await tp(['quit', '-s'])).code, 0);
  t.deepEqual(await snapshot(), before);
});

function readLog(name: string): string {
  try {
    return `\n--- ${name}:\n` + readFileSync(join(tp.logDir, name), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}
