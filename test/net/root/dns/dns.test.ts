// Tier 2: the DNS server in a network namespace of its own, asked by dig and by glibc (getent),
// forwarding to a fake original resolver in the same namespace. The host's resolver is never
// touched: /etc/netns/<ns>/resolv.conf is what `ip netns exec` bind-mounts over /etc/resolv.conf
// for processes in that namespace only.

import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NS = `tpd-${randomBytes(4).toString('hex')}`;
const NETNS_ETC = `/etc/netns/${NS}`;
let child: ChildProcess | undefined;
/** Names the fake manager was asked, in order (the child reports each on stdout). */
const lookups: string[] = [];
let createdNetnsDir = false;

const inNs = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', NS, cmd, ...args], { timeout: 15_000 });
const dig = async (...args: string[]) => (await inNs('dig', ['@127.0.0.1', '-p', '53', '+time=2', '+tries=1', ...args])).stdout;

test.before(async () => {
  await run('ip', ['netns', 'add', NS]);
  // lo alone is not enough for glibc: getaddrinfo's AI_ADDRCONFIG (getent ahosts uses it) ignores
  // loopback and returns nothing on a host without another address. A veth pair with both ends
  // inside gives the namespace a workstation-like address (the dummy driver may be absent).
  await run('ip', [
    'netns',
    'exec',
    NS,
    'sh',
    '-c',
    'ip link set lo up && ip link add tpv0 type veth peer name tpv1 && ip addr add 10.53.0.1/24 dev tpv0 && ip link set tpv0 up && ip link set tpv1 up',
  ]);
  const script = fileURLToPath(new URL('./server-child.js', import.meta.url));
  const c = spawn('ip', ['netns', 'exec', NS, process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  child = c;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the DNS server child did not start within 10 s')), 10_000);
    c.once('exit', (code) => reject(new Error(`the DNS server child exited with ${code}`)));
    let buf = '';
    c.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; lookup?: string };
        buf = buf.slice(nl + 1);
        if (line.ready) {
          clearTimeout(timer);
          resolve();
        }
        if (line.lookup) lookups.push(line.lookup);
      }
    });
  });
  try {
    mkdirSync('/etc/netns');
    createdNetnsDir = true;
  } catch {
    // already there (another test's namespaces): leave it when we go
  }
  mkdirSync(NETNS_ETC);
  writeFileSync(`${NETNS_ETC}/resolv.conf`, 'nameserver 127.0.0.1\nsearch localdomain\noptions ndots:5 timeout:2 attempts:1\n');
});

test.after.always(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  }
  rmSync(NETNS_ETC, { recursive: true, force: true });
  if (createdNetnsDir) {
    try {
      rmdirSync('/etc/netns'); // only if empty: someone else may have put a namespace there since
    } catch {
      // not empty
    }
  }
  await run('ip', ['netns', 'delete', NS]).catch(() => {});
});

test('dig echo A: a single label is answered from the cluster lookup', async (t) => {
  t.is((await dig('echo', 'A', '+short')).trim(), '10.96.0.20');
});

test('dig echo.default and the full name are answered from the cluster lookup', async (t) => {
  t.is((await dig('echo.default', 'A', '+short')).trim(), '10.96.0.20');
  t.is((await dig('echo.default.svc.cluster.local', 'A', '+short')).trim(), '10.96.0.20');
  t.is((await dig('anything.default', 'A', '+short')).trim(), '10.96.0.21');
});

test('cluster answers carry the capped TTL and RA, and NXDOMAIN comes from the cluster', async (t) => {
  const full = await dig('echo.default', 'A', '+noall', '+answer', '+comments');
  t.regex(full, /status: NOERROR/);
  t.regex(full, /flags: qr rd ra;/);
  t.regex(full, /echo\.default\.\s+5\s+IN\s+A\s+10\.96\.0\.20/);
  t.regex(await dig('nosuch.default', 'A'), /status: NXDOMAIN/);
});

test('dig example.test is forwarded to the original resolver (its TTL and AA bit survive)', async (t) => {
  const full = await dig('example.test', 'A', '+noall', '+answer', '+comments');
  t.regex(full, /flags: qr aa rd ra;/);
  t.regex(full, /example\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.7/);
});

test('dig +tcp works for cluster and forwarded names', async (t) => {
  t.is((await dig('+tcp', 'echo', 'A', '+short')).trim(), '10.96.0.20');
  t.is((await dig('+tcp', 'example.test', 'A', '+short')).trim(), '192.0.2.7');
});

test('a truncated upstream answer reaches dig whole (TCP fallback to the upstream)', async (t) => {
  const udp = (await dig('big.test', 'A', '+short')).trim().split('\n');
  t.is(udp.length, 60);
  const tcp = (await dig('+tcp', 'big.test', 'A', '+short')).trim().split('\n');
  t.is(tcp.length, 60);
});

test('glibc in the namespace resolves cluster names through the server (getent, search localdomain, ndots:5)', async (t) => {
  const { stdout } = await inNs('getent', ['ahostsv4', 'echo.default']);
  t.regex(stdout, /^10\.96\.0\.20\s+STREAM echo\.default$/m);
  const hosts = await inNs('getent', ['hosts', 'echo']);
  t.regex(hosts.stdout, /^10\.96\.0\.20\s+echo$/m);
  await t.throwsAsync(inNs('getent', ['hosts', 'nosuch.default']), undefined, 'NXDOMAIN: getent exits 2');
  // ndots:5 made glibc try `echo.default.localdomain` first: that went to the original resolver.
  t.true(lookups.includes('echo.default'));
  t.deepEqual(
    lookups.filter((n) => n.includes('localdomain')),
    [],
    'no search-path artifact reached the cluster',
  );
});
