// Tier 3: `tp connect` (VIF) on a workstation whose lookups go through systemd-resolved, end to end.
// Unmodified programs (curl, getent) ask resolved's stub, resolved routes the cluster's names to
// tp0's per-link DNS server — tp's DNS server on the TUN address — and tp answers them from the
// manager. `tp status` says so, resolved shows the link's server and routing domains, no iptables
// rule is added, and `tp quit` reverts the link and leaves nothing behind.
//
// How the workstation gets a systemd-resolved without touching the host (test/helpers/
// resolved-sandbox.ts has the details): resolved and a private dbus-daemon run in the workstation's
// network namespace, in a mount namespace of their own where a directory of the test is /run.
// The workstation is then set up like a machine running resolved:
//   - /etc/netns/WS/resolv.conf (which `ip netns exec WS` binds over /etc/resolv.conf) becomes a
//     symlink to resolved's stub-resolv.conf, as /etc/resolv.conf is on such a machine. The bind
//     follows the symlink when each `ip netns exec` starts, so every command the test runs sees
//     the file as resolved last wrote it — nameserver 127.0.0.53 and the links' search domains.
//     The workstation is the test's own and is deleted afterwards, which removes /etc/netns/WS.
//   - The D-Bus system bus is the private one: tp runs with DBUS_SYSTEM_BUS_ADDRESS pointing at
//     its socket, the CLI's environment passes to the user daemon and from it to the root daemon
//     (spawned directly, not through sudo, since the test runs as root), and busctl — which the
//     root daemon uses to detect resolved and to configure the link — honours it.
// One difference from a real machine: the root daemon reads resolved's list of uplink servers
// from /run/systemd/resolve/resolv.conf in its own mount namespace (the host's /run), where there
// is none; the workstation has no working uplink anyway, so non-cluster names are not tested.
//
// Without the systemd-resolved package (no apt access, no tools) the test is skipped with the
// reason in its title.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
import { resolvedPackage, startResolvedSandbox, type ResolvedSandbox } from '../../helpers/resolved-sandbox.js';

const WS = 'tpws-resolved';
const TUN_ADDRESS = '198.18.0.1';

const pkg = await resolvedPackage(['curl', 'getent', 'iptables-save']);
const tst = pkg.skip ? test.skip : test.serial;
if (pkg.skip) test.skip(`systemd-resolved e2e skipped: ${pkg.skip}`, () => {});

let ns: Awaited<ReturnType<typeof testNamespace>> | undefined;
let ws: Awaited<ReturnType<typeof makeWorkstation>> | undefined;
let resolved: ResolvedSandbox | undefined;
let monitor: ChildProcess | undefined;
let monitored = '';
let tp: TpRunner;
let dir = '';
let clusterIP = '';
let originalResolvConf = '';
const resolvConfLink = `/etc/netns/${WS}/resolv.conf`;

const inWs = (cmd: string, args: string[], timeoutMs = 20_000) => sh(cmd, args, { netns: WS, timeoutMs, env: resolved!.env });
const resolvectl = (...args: string[]) => inWs(resolved!.resolvectl, args);

const snapshot = () => workstationSnapshot(WS, resolved!.env);

function readLog(name: string): string {
  try {
    return `\n--- ${name}:\n` + readFileSync(join(tp.logDir, name), 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

test.before(async () => {
  if (!('deb' in pkg)) return;
  await clusterEnv();
  // A workstation left by an interrupted run (and whatever still runs in it) goes first.
  await sh(join(REPO_ROOT, 'scripts', 'cluster'), ['workstation', WS, '--delete']);
  ns = await testNamespace('resolved');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-resolved-'));
  resolved = await startResolvedSandbox({ deb: pkg.deb, netns: WS, dir });
  originalResolvConf = readFileSync(resolvConfLink, 'utf8');
  rmSync(resolvConfLink);
  symlinkSync(resolved.stubResolvConf, resolvConfLink);

  // Every call on the private bus, to see what tp asked resolved for and in which order.
  monitor = spawn('busctl', ['--system', '--json=short', 'monitor'], { env: resolved.env, stdio: ['ignore', 'pipe', 'pipe'] });
  monitor.stdout!.setEncoding('utf8').on('data', (s: string) => (monitored += s));

  tp = tpRunner({ netns: WS, dir: join(dir, 'tp'), kubeconfig: ws.kubeconfig });
  tp.env.TP_ROOT_RUNTIME_DIR = join(dir, 'tp', 'root-run');
  tp.env.DBUS_SYSTEM_BUS_ADDRESS = resolved.busAddress;

  await applyYaml(echoWorkload(ns.name));
  // Another test file may be installing the same release at this moment: retry on helm's lock.
  await eventually('tp helm upgrade --install', 120_000, async () => {
    const r = await tp(['helm', 'upgrade', '--install']);
    if (r.code === 0) return true;
    if (/another operation|in progress/i.test(r.stderr)) return undefined;
    throw new Error(`tp helm upgrade --install: ${r.stderr}`);
  });
  await waitAvailable(ns.name, 'echo');
  clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
});

test.after.always(async () => {
  if (tp) await tp(['quit', '-s']);
  if (monitor && monitor.exitCode === null) monitor.kill('SIGTERM');
  await resolved?.stop();
  if (originalResolvConf) {
    rmSync(resolvConfLink, { force: true });
    writeFileSync(resolvConfLink, originalResolvConf);
  }
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The resolve1 Manager method calls seen on the bus since `from` (an offset into the monitor log). */
function resolvedCalls(from = 0): Array<{ member: string; ifindex: number }> {
  const out: Array<{ member: string; ifindex: number }> = [];
  for (const line of monitored.slice(from).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const m = JSON.parse(line) as { type?: string; interface?: string; member?: string; payload?: { data?: unknown[] } };
      if (
        m.type === 'method_call' &&
        m.interface === 'org.freedesktop.resolve1.Manager' &&
        m.member &&
        /^(SetLink|RevertLink)/.test(m.member)
      ) {
        out.push({ member: m.member, ifindex: Number(m.payload?.data?.[0]) });
      }
    } catch {
      // a partial line: the monitor is still writing it
    }
  }
  return out;
}

let before: Record<string, string>;
let ifindex = 0;
let monitorMark = 0;

tst('before connect: resolved runs on the workstation, knows no tp0, and cluster names do not resolve', async (t) => {
  before = await snapshot();
  t.regex(before.resolv!, /^nameserver 127\.0\.0\.53$/m, "/etc/resolv.conf is resolved's stub file");
  const status = await resolvectl('status');
  t.is(status.code, 0, status.stderr);
  t.notRegex(status.stdout, /tp0/);
  t.not((await inWs('getent', ['hosts', `echo.${ns!.name}`])).code, 0);
});

tst("tp connect: the DNS mode is systemd-resolved, tp0 carries tp's server and the routing domains, no iptables rule", async (t) => {
  const r = await tp(['connect', '-n', ns!.name]);
  t.is(r.code, 0, r.stderr + readLog('root-daemon.log') + readLog('user-daemon.log'));

  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as {
    vif: { interface: string; dns: { mode: string; listen: string } };
  };
  t.is(status.vif.interface, 'tp0');
  t.is(status.vif.dns.mode, 'systemd-resolved', readLog('root-daemon.log'));
  t.is(status.vif.dns.listen, `${TUN_ADDRESS}:53`);
  t.regex((await tp(['status'])).stdout, new RegExp(`^DNS:\\s+${TUN_ADDRESS.replace(/\./g, '\\.')}:53 via systemd-resolved`, 'm'));

  ifindex = Number(JSON.parse((await inWs('ip', ['-j', 'link', 'show', 'tp0'])).stdout)[0].ifindex);
  const state = (await resolved!.linkState(ifindex))!;
  t.deepEqual(state.dns, [`${TUN_ADDRESS}:53`]);
  t.false(state.defaultRoute, 'only the routed domains go to tp0, never other names');
  // The client namespace's search domain first, then routing domains: the cluster domain, `svc`
  // and every namespace tp maps (those of other tests too: the cluster is shared).
  t.deepEqual(state.domains.slice(0, 3), [
    [`${ns!.name}.svc.cluster.local`, false],
    ['cluster.local', true],
    ['svc', true],
  ]);
  t.deepEqual(
    state.domains.find(([d]) => d === ns!.name),
    [ns!.name, true],
  );
  t.deepEqual(
    state.domains.find(([d]) => d === 'kube-system'),
    ['kube-system', true],
  );
  t.true(
    state.domains.slice(1).every(([, routeOnly]) => routeOnly),
    'one search domain only',
  );
  const link = await resolvectl('status', 'tp0');
  t.is(link.code, 0, link.stderr);
  t.regex(link.stdout, /Link \d+ \(tp0\)/);
  t.regex(link.stdout, /DNS Servers: 198\.18\.0\.1\b/);
  t.regex(link.stdout, /-DefaultRoute/);
  t.regex(link.stdout, /~cluster\.local/);
  t.regex(link.stdout, /~svc/);
  t.regex(link.stdout, new RegExp(`~${ns!.name}\\b`));
  t.regex(link.stdout, new RegExp(`DNS Domain: .*\\b${ns!.name}\\.svc\\.cluster\\.local\\b`));

  const calls = resolvedCalls()
    .filter((c) => c.ifindex === ifindex)
    .map((c) => c.member);
  t.deepEqual(calls.slice(-2), ['SetLinkDomains', 'SetLinkDNS'], 'the domains are set before the server');
  t.is(calls[0], 'SetLinkDefaultRoute', 'the link stops being a default route before anything else');

  t.notRegex((await inWs('iptables-save', [])).stdout, /^-A /m, 'no firewall rule in this mode');
  // resolved puts the link's search domain into its stub file; tp itself writes nothing there.
  const resolv = await eventually('resolved to list the search domain', 5_000, async () => {
    const text = (await inWs('cat', ['/etc/resolv.conf'])).stdout;
    return new RegExp(`^search .*\\b${ns!.name}\\.svc\\.cluster\\.local\\b`, 'm').test(text) ? text : undefined;
  });
  t.regex(resolv, /^nameserver 127\.0\.0\.53$/m);
  t.deepEqual(
    resolv.split('\n').filter((l) => l.startsWith('nameserver')),
    ['nameserver 127.0.0.53'],
  );
});

tst("unmodified programs resolve and reach cluster names through resolved → tp0 → tp's DNS server", async (t) => {
  const name = `echo.${ns!.name}`;
  const getent = await inWs('getent', ['hosts', name]);
  t.is(getent.code, 0, getent.stderr);
  t.is(getent.stdout.trim().split(/\s+/)[0], clusterIP);
  for (const url of [
    `http://${name}/by-name`,
    `http://${name}.svc.cluster.local/by-fqdn`,
    `http://echo.${ns!.name}.svc/by-svc`,
    'http://echo/by-short-name',
  ]) {
    const c = await inWs('curl', ['-sS', '--max-time', '8', url]);
    t.is(c.code, 0, `${url}: ${c.stderr}`);
    t.regex(c.stdout, /^pod: echo-/m, url);
  }
  const q = await resolvectl('query', '-4', name);
  t.is(q.code, 0, q.stderr);
  t.regex(q.stdout, new RegExp(`${name.replace(/\./g, '\\.')}: ${clusterIP.replace(/\./g, '\\.')}\\s+-- link: tp0`));
  const status = JSON.parse((await tp(['status', '-o', 'json'])).stdout) as { vif: { dns: { queries: number; clusterAnswers: number } } };
  t.true(status.vif.dns.clusterAnswers > 0, "the answers came from tp's DNS server");
});

tst('tp quit reverts the link in resolved and leaves routes, rules, resolver and root state as before', async (t) => {
  monitorMark = monitored.length;
  const r = await tp(['quit']);
  t.is(r.code, 0, r.stderr);
  await eventually('the RevertLink call in the monitor', 5_000, async () => (resolvedCalls(monitorMark).length > 0 ? true : undefined));
  t.deepEqual(resolvedCalls(monitorMark), [{ member: 'RevertLink', ifindex }], 'tp reverted the link itself, not only by removing it');
  t.is(await resolved!.linkState(ifindex), undefined, 'resolved no longer knows the link');
  const status = await resolvectl('status');
  t.is(status.code, 0, status.stderr);
  t.notRegex(status.stdout, /tp0|cluster\.local|~svc/);
  t.false(existsSync(join(tp.env.TP_ROOT_RUNTIME_DIR!, 'root-state.json')), 'the root daemon keeps no state of a connection');
  t.deepEqual(await snapshot(), before);
  t.not((await inWs('getent', ['hosts', `echo.${ns!.name}`])).code, 0, 'cluster names no longer resolve');
});
