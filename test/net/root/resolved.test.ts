// Tier 2: the systemd-resolved integration (lib/root/resolved.ts) against a real systemd-resolved.
//
// resolved is not installed on the test machines and must not be: its postinst takes over the
// host's /etc/resolv.conf. So the test fetches the Debian package once into ~/.cache/tp/debs (the
// version of the installed libsystemd-shared, which the binary links), unpacks it into a temporary
// directory and runs it where it can touch nothing of the host:
//   - a network namespace of the test's own (test/net/helpers/netns.ts), so the links, the stub on
//     127.0.0.53 and the queries are the namespace's;
//   - a private mount namespace inside it, with a tmpfs on /run (resolved writes /run/systemd/
//     resolve) and copies of /etc/passwd and /etc/group bind-mounted over the originals, adding
//     the `systemd-resolve` user that resolved drops its privileges to;
//   - a private dbus-daemon in that mount namespace (it must see the same user database), on a
//     socket in the temporary directory; DBUS_SYSTEM_BUS_ADDRESS points busctl there.
// The root daemon's side (TUN, tp's DNS server, the calls) runs in resolved-child.ts. Without
// apt access, or without the tools, every test is skipped with the reason in its title.

import test from 'ava';
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { netns, nextMessage, type Netns } from '../helpers/netns.js';
import { resolvedPackage, type LinkState } from '../../helpers/resolved-sandbox.js';

const run = promisify(execFile);
const CHILD = new URL('./resolved-child.js', import.meta.url).pathname;
const TUN_ADDRESS = '198.18.0.1';

const pkg = await resolvedPackage(['dig']);
const tst = pkg.skip ? test.skip : test.serial;
if (pkg.skip) test.skip(`systemd-resolved tests skipped: ${pkg.skip}`, () => {});

let tmp = '';
let ns: Netns | undefined;
let child: ChildProcess | undefined;
let resolvectl = '';
let ifindex = 0;
let daemonLog = '';
const busAddress = () => `unix:path=${tmp}/bus.sock`;
const env = () => ({ ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress() });

const busctl = async (...args: string[]) => (await run('busctl', ['--system', '--timeout=5', ...args], { env: env() })).stdout.trim();

async function resolvedOwnsName(): Promise<boolean> {
  return busctl(
    'call',
    'org.freedesktop.DBus',
    '/org/freedesktop/DBus',
    'org.freedesktop.DBus',
    'NameHasOwner',
    's',
    'org.freedesktop.resolve1',
  ).then(
    (o) => o === 'b true',
    () => false,
  );
}

/** The link as resolved holds it, from its D-Bus properties. */
async function linkState(index: number): Promise<LinkState> {
  const path = JSON.parse(
    await busctl(
      '--json=short',
      'call',
      'org.freedesktop.resolve1',
      '/org/freedesktop/resolve1',
      'org.freedesktop.resolve1.Manager',
      'GetLink',
      'i',
      String(index),
    ),
  ).data[0] as string;
  const prop = async (p: string) =>
    JSON.parse(await busctl('--json=short', 'get-property', 'org.freedesktop.resolve1', path, 'org.freedesktop.resolve1.Link', p))
      .data as unknown;
  const dnsEx = (await prop('DNSEx')) as Array<[number, number[], number, string]>;
  return {
    dns: dnsEx.map(([, bytes, port]) => `${bytes.join('.')}:${port || 53}`),
    domains: (await prop('Domains')) as Array<[string, boolean]>,
    defaultRoute: (await prop('DefaultRoute')) as boolean,
  };
}

type Reply = { ok: boolean; error?: string; code?: string; hint?: string; [k: string]: unknown };
async function call(m: Record<string, unknown>): Promise<Reply> {
  child!.send(m);
  const r = await nextMessage(child!, (x) => (typeof x === 'object' && x !== null && 'ok' in x ? (x as Reply) : undefined), 30_000);
  if (!r.ok) throw new Error(`${m.cmd as string}: ${r.error} (${r.code}; ${r.hint})`);
  return r;
}

const dig = async (name: string, seconds = 3) =>
  (await ns!.run('dig', ['@127.0.0.53', `+time=${seconds}`, '+tries=1', '+short', name], { timeoutMs: 15_000 })).stdout.trim();

/** A uid/gid free in both databases, for the `systemd-resolve` user when the host lacks it. */
function freeId(passwd: string, group: string): number {
  const used = new Set([...passwd.split('\n'), ...group.split('\n')].map((l) => Number(l.split(':')[2])));
  let id = 64990;
  while (used.has(id)) id--;
  return id;
}

test.before(async () => {
  if (!('deb' in pkg)) return;
  tmp = mkdtempSync('/tmp/tp-resolved-');
  chmodSync(tmp, 0o755); // resolved connects to the bus socket in here after dropping to its user
  await run('dpkg', ['-x', pkg.deb, join(tmp, 'pkg')]);
  const binary = ['lib/systemd/systemd-resolved', 'usr/lib/systemd/systemd-resolved']
    .map((p) => join(tmp, 'pkg', p))
    .find((p) => existsSync(p));
  if (!binary) throw new Error(`${pkg.deb} has no systemd-resolved binary`);
  resolvectl = join(tmp, 'pkg', 'usr/bin/resolvectl');

  let passwd = readFileSync('/etc/passwd', 'utf8');
  let group = readFileSync('/etc/group', 'utf8');
  let id = 0;
  const existing = /^systemd-resolve:[^:]*:(\d+):/m.exec(passwd);
  if (existing) {
    id = Number(existing[1]);
  } else {
    id = freeId(passwd, group);
    passwd += `${passwd.endsWith('\n') ? '' : '\n'}systemd-resolve:x:${id}:${id}:systemd Resolver (tp test):/:/usr/sbin/nologin\n`;
    if (!/^systemd-resolve:/m.test(group)) group += `${group.endsWith('\n') ? '' : '\n'}systemd-resolve:x:${id}:\n`;
  }
  writeFileSync(join(tmp, 'passwd'), passwd);
  writeFileSync(join(tmp, 'group'), group);
  writeFileSync(join(tmp, 'resolv-stub.conf'), 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
  writeFileSync(join(tmp, 'resolv-foreign.conf'), 'nameserver 10.0.0.2\n');
  // A bus that lets anyone own any name: the policy is not what is under test.
  writeFileSync(
    join(tmp, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${tmp}/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`,
  );

  ns = await netns();
  // Everything below lives in a mount namespace of its own inside `ip netns exec`'s (itself a
  // slave of the host's): the mounts vanish with the processes and never propagate to the host.
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=755 tmpfs /run',
    `mkdir -p /run/systemd/resolve && chown ${id}:${id} /run/systemd/resolve`,
    `mount --bind ${tmp}/passwd /etc/passwd`,
    `mount --bind ${tmp}/group /etc/group`,
    `dbus-daemon --config-file=${tmp}/bus.conf --nofork --nopidfile &`,
    `i=0; while [ ! -S ${tmp}/bus.sock ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ]; done`,
    `exec ${binary}`,
  ].join('\n');
  const daemon = ns.spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env(),
  });
  daemon.stdout!.setEncoding('utf8').on('data', (s: string) => (daemonLog += s));
  daemon.stderr!.setEncoding('utf8').on('data', (s: string) => (daemonLog += s));
  const deadline = Date.now() + 15_000;
  while (!(await resolvedOwnsName())) {
    if (daemon.exitCode !== null || Date.now() > deadline)
      throw new Error(`systemd-resolved did not take org.freedesktop.resolve1 within 15 s:\n${daemonLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  // `ip netns exec` passes the environment on: the child's busctl finds the private bus.
  process.env.DBUS_SYSTEM_BUS_ADDRESS = busAddress();
  child = ns.node(CHILD);
  ifindex = (
    await nextMessage(child, (m) => ((m as { ready?: boolean; ifindex: number }).ready ? (m as { ifindex: number }) : undefined), 15_000)
  ).ifindex;
});

test.after.always(async () => {
  delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
  await ns?.delete(); // kills the child, resolved and dbus-daemon: all of them live inside
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const EXPECTED_DOMAINS: Array<[string, boolean]> = [
  ['default.svc.cluster.local', false],
  ['cluster.local', true],
  ['svc', true],
  ['default', true],
  ['kube-system', true],
  ['example.internal', true],
  ['96.10.in-addr.arpa', true],
];

tst('detect: resolved owning its bus name with resolv.conf on its stub → systemd-resolved; a foreign resolv.conf → iptables', async (t) => {
  t.like(await call({ cmd: 'detect', resolvConf: join(tmp, 'resolv-stub.conf') }), { mode: 'systemd-resolved' });
  t.like(await call({ cmd: 'detect', resolvConf: join(tmp, 'resolv-foreign.conf') }), { mode: 'iptables' });
});

tst("configure: the TUN link gets tp's server on the TUN address, the routing domains and no default route", async (t) => {
  const r = await call({ cmd: 'dns', ports: [53, 0] });
  t.deepEqual(r.address, { host: TUN_ADDRESS, port: 53 });
  t.deepEqual((await call({ cmd: 'configure' })).skipped, []);
  t.deepEqual(await linkState(ifindex), { dns: [`${TUN_ADDRESS}:53`], domains: EXPECTED_DOMAINS, defaultRoute: false });
  const status = (await ns!.run(resolvectl, ['status', 'tp0'], { timeoutMs: 10_000 })).stdout;
  t.regex(status, /-DefaultRoute/);
  t.regex(status, /-LLMNR -mDNS/);
  t.regex(status, /DNS Servers: 198\.18\.0\.1/);
  t.regex(status, /~cluster\.local/);
});

tst("lookup: cluster names through resolved's stub reach tp's server over the link; other names do not", async (t) => {
  t.is(await dig('echo.default.svc.cluster.local'), '10.96.0.20');
  t.is(await dig('echo.default'), '10.96.0.20', 'a namespace as a routing domain');
  t.is(await dig('echo.kube-system'), '10.96.0.22');
  t.is(await dig('echo.default.svc'), '10.96.0.23', '~svc');
  t.is(await dig('db.example.internal'), '10.96.0.21', 'an include-suffix');
  // A single label: resolved expands it with the link's search domain.
  const q = (await ns!.run(resolvectl, ['query', '-4', 'echo'], { timeoutMs: 10_000 })).stdout;
  t.regex(q, /echo: 10\.96\.0\.20\s+-- link: tp0/);
  t.regex(q, /echo\.default\.svc\.cluster\.local/);
  const before = (await call({ cmd: 'queries' })).queries as number;
  // resolved has no reachable uplink in the namespace: these fail, what matters is where they went.
  await dig('www.example.com', 1).catch(() => '');
  await dig('host.corp', 1).catch(() => '');
  t.is((await call({ cmd: 'queries' })).queries, before, 'names outside the routing domains never reach tp');
});

tst(
  "#16: dig -x of a Service IP through resolved's stub reaches tp over the link (the subnet's reverse zone is a routing domain); other reverse names do not",
  async (t) => {
    const ptr = (
      await ns!.run('dig', ['@127.0.0.53', '+time=3', '+tries=1', '+short', '-x', '10.96.0.20'], { timeoutMs: 15_000 })
    ).stdout.trim();
    t.is(ptr, 'echo.default.svc.cluster.local.');
    const before = (await call({ cmd: 'queries' })).queries as number;
    await ns!.run('dig', ['@127.0.0.53', '+time=1', '+tries=1', '-x', '192.0.2.1'], { timeoutMs: 15_000 }).catch(() => undefined);
    t.is((await call({ cmd: 'queries' })).queries, before, "a reverse name outside the cluster's subnets never reaches tp");
  },
);

tst('revert: RevertLink leaves the link clean; reverting again, or a link resolved does not know, is harmless', async (t) => {
  await call({ cmd: 'revert', ifindex });
  t.deepEqual(await linkState(ifindex), { dns: [], domains: [], defaultRoute: false });
  t.not(await dig('echo.default', 1).catch(() => ''), '10.96.0.20');
  await t.notThrowsAsync(call({ cmd: 'revert', ifindex }));
  await t.notThrowsAsync(call({ cmd: 'revert', ifindex: 4242 }));
});

tst('port 53 taken on the TUN address: the server moves to another port and the link gets it through SetLinkDNSEx', async (t) => {
  const r = await call({ cmd: 'dns', ports: [53, 0], occupy53: true });
  const port = (r.address as { port: number }).port;
  t.not(port, 53);
  await call({ cmd: 'configure' });
  t.deepEqual((await linkState(ifindex)).dns, [`${TUN_ADDRESS}:${port}`]);
  t.is(await dig('echo.default.svc.cluster.local'), '10.96.0.20');
  await call({ cmd: 'revert', ifindex });
  t.deepEqual((await linkState(ifindex)).dns, []);
});

tst('crash recovery: the next start reverts the link the state file names, and leaves a link of another name alone', async (t) => {
  await call({ cmd: 'dns', ports: [53, 0] });
  await call({ cmd: 'configure' });
  const statePath = join(tmp, 'state.json');
  // The ifindex now belongs to a link of another name (reused after the TUN went): not ours.
  writeFileSync(statePath, JSON.stringify({ pid: 0, routes: [], dnsRedirect: false, resolvedLink: { ifindex, name: 'wg0' } }));
  t.deepEqual((await call({ cmd: 'restore', statePath })).undone, []);
  t.deepEqual((await linkState(ifindex)).domains, EXPECTED_DOMAINS);
  writeFileSync(statePath, JSON.stringify({ pid: 0, routes: [], dnsRedirect: false, resolvedLink: { ifindex, name: 'tp0' } }));
  t.deepEqual((await call({ cmd: 'restore', statePath })).undone, ['systemd-resolved link tp0']);
  t.deepEqual(await linkState(ifindex), { dns: [], domains: [], defaultRoute: false });
  t.false(existsSync(statePath));
});
