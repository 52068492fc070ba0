// Tier 3, issue 16 (VNAT): a workstation whose "VPN" routes part of the cluster's Service range.
// `tp connect` must not stop there: the Service range is reached through a virtual subnet, names
// resolve to virtual addresses, requests by name reach the Service, the VPN keeps its route, and
// quit leaves the workstation as it was (VPN route included).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  kubectlOk,
  makeWorkstation,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
  workstationSnapshot,
} from '../../helpers/cluster.js';
import { bigIntToIp, ipToBigInt, parseCidr } from '../../../lib/common/cidr.js';

const WS = 'tpws-vnat';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;
let clusterIP = '';
let podIP = '';
let serviceCidr = '';

const inWs = (cmd: string, args: string[], timeoutMs = 20_000) => sh(cmd, args, { netns: WS, timeoutMs });

test.before(async () => {
  const env = await clusterEnv();
  serviceCidr = env.SERVICE_CIDR;
  ns = await testNamespace('vnat');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-vnat-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  tp.env.TP_ROOT_RUNTIME_DIR = join(dir, 'root-run');
  await applyYaml(echoWorkload(ns.name));
  const installed = await tp(['helm', 'upgrade', '--install']);
  if (installed.code !== 0) throw new Error(`tp helm upgrade --install: ${installed.stderr}`);
  await waitAvailable(ns.name, 'echo');
  podIP = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  // The "VPN": a veth pair inside the workstation (no dummy links on this kernel) with a route
  // over the first /24 of the Service range.
  const vpnRoute = `${serviceCidr.split('/')[0]}/24`;
  for (const args of [
    ['link', 'add', 'vpn0', 'type', 'veth', 'peer', 'name', 'vpn0p'],
    ['link', 'set', 'vpn0p', 'up'],
    ['link', 'set', 'vpn0', 'up'],
    ['route', 'add', vpnRoute, 'dev', 'vpn0'],
  ]) {
    const r = await inWs('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  }
});

test.after.always(async () => {
  await tp?.(['quit', '-s']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial(
  '#16: with a VPN route over the Service range, tp connect succeeds, names resolve to virtual addresses, curl by name works, and quit restores the workstation',
  async (t) => {
    const before = await workstationSnapshot(WS);
    const r = await tp(['connect', '-n', ns.name]);
    t.is(r.code, 0, r.stderr + readLog('root-daemon.log'));
    t.regex(r.stdout, new RegExp(`Subnet ${serviceCidr.replace(/[./]/g, '\\$&')} is reached at \\S+ \\(VNAT: overlaps `));
    const st = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as {
      vif: { vnat: Array<{ real: string; virtual: string; reason: string }> };
    };
    const m = st.vif.vnat.find((x) => x.real === serviceCidr);
    t.truthy(m, JSON.stringify(st.vif));
    t.regex(m!.reason, /via vpn0/);
    const text = (await tp(['status'])).stdout;
    t.regex(text, /^Virtual subnets: .*→/m);

    const getent = await inWs('getent', ['hosts', `echo.${ns.name}`]);
    const virtualIP = getent.stdout.trim().split(/\s+/)[0]!;
    const expected = bigIntToIp(4, parseCidr(m!.virtual).base + (ipToBigInt(clusterIP).value - parseCidr(serviceCidr).base));
    t.is(virtualIP, expected, 'the name resolves to the ClusterIP moved into the virtual subnet, host bits kept');

    const byName = await inWs('curl', ['-sS', '--max-time', '8', `http://echo.${ns.name}/by-name`]);
    t.is(byName.code, 0, byName.stderr);
    t.regex(byName.stdout, /^pod: echo-/m);
    const byPod = await inWs('curl', ['-sS', '--max-time', '8', `http://${podIP}:8080/by-pod-ip`]);
    t.is(byPod.code, 0, 'the pod range (no overlap) is routed as it is');
    const real = await inWs('ip', ['route', 'get', clusterIP]);
    t.notRegex(real.stdout + real.stderr, /dev tp0/, "the real ClusterIP is left to the workstation's routes");

    t.is((await tp(['quit'])).code, 0);
    t.deepEqual(await workstationSnapshot(WS), before, "routes (the VPN's included), rules and resolver as before");
  },
);

test.serial('#16: --allow-conflicting-subnets routes the real Service range over the VPN route, as before VNAT', async (t) => {
  const before = await workstationSnapshot(WS);
  const r = await tp(['connect', '-n', ns.name, '--allow-conflicting-subnets']);
  t.is(r.code, 0, r.stderr);
  const getent = await inWs('getent', ['hosts', `echo.${ns.name}`]);
  t.is(getent.stdout.trim().split(/\s+/)[0], clusterIP);
  const c = await inWs('curl', ['-sS', '--max-time', '8', `http://${clusterIP}/by-cluster-ip`]);
  t.is(c.code, 0, c.stderr);
  t.is((await tp(['quit'])).code, 0);
  t.deepEqual(await workstationSnapshot(WS), before);
});

function readLog(name: string): string {
  try {
    return `\n--- ${name}:\n` + readFileSync(join(tp.logDir, name), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}
