// Tier 2, issue 16 (VNAT): the real root daemon in a namespace whose "VPN" (a veth pair, this
// kernel has no dummy links) already routes the cluster's Service range. `tp connect`'s root side
// must not refuse or shadow that route: the Service range is reached through a virtual subnet,
// names resolve to virtual addresses, TCP, UDP and the stack's own error answers work with them
// (the kernel only accepts an RST or an ICMP error that names the addresses its socket used), and
// quit leaves the namespace's routes exactly as before. The test process plays the user daemon.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nextMessage } from '../helpers/netns.js';
import { CLIENT_CHILD, CLUSTER_NAME, NAMESERVER, PORTS, TARGET, UPSTREAM_ANSWER, rootd, waitGone, type Rootd } from './rootd.js';

/** Where TARGET (10.100.0.5) appears: 10.100.0.0/24 → the first free /24 of 198.18.0.0/15 that
 * does not hold the TUN's 198.18.0.1. */
const VIRTUAL_TARGET = '198.18.1.5';
/** The UDP port the test's manager refuses to dial. */
const REFUSED_UDP = 9;

/** A "VPN" route over the cluster's Service range (10.100.0.0/24) and its IPv6 subnet. */
async function addVpn(r: Rootd): Promise<void> {
  for (const cmd of [
    ['link', 'add', 'vpn0', 'type', 'veth', 'peer', 'name', 'vpn0p'],
    ['link', 'set', 'vpn0p', 'up'],
    ['link', 'set', 'vpn0', 'up'],
    ['route', 'add', '10.100.0.0/16', 'dev', 'vpn0'],
    ['-6', 'route', 'add', 'fd00:100::/56', 'dev', 'vpn0'],
  ])
    await r.ns.run('ip', cmd);
}

/** Runs `cmd` in the namespace with its resolv.conf (the LAN nameserver, which tp redirects), as
 * a program of the workstation would resolve: getaddrinfo, not dig. */
function withResolver(r: Rootd, cmd: string[]) {
  const conf = join(r.dir, 'resolv.conf');
  writeFileSync(conf, `nameserver ${NAMESERVER}\n`);
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return r.ns.run(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind ${conf} /etc/resolv.conf && exec ${quoted}`],
    { timeoutMs: 20_000 },
  );
}

/** A connected UDP socket sends to host:port; prints the error it gets (ECONNREFUSED when an ICMP
 * port unreachable naming its own addresses arrives), MESSAGE, or TIMEOUT. */
const UDP_PROBE = `
const dgram = require('node:dgram');
const [host, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const done = (r) => { console.log(r); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 3000);
s.on('error', (e) => done(e.code));
s.on('message', () => done('MESSAGE'));
s.connect(Number(port), host, () => { s.send('x'); setTimeout(() => s.send('y'), 300); });
`;

/** One job of client-child.ts in the namespace; its result (or its error, thrown). */
async function client<T>(r: Rootd, job: object): Promise<T> {
  const c = r.ns.node(CLIENT_CHILD, [JSON.stringify(job)]);
  const m = await nextMessage(c, (x) => x as { result?: T; error?: string }, 30_000).finally(() => c.kill('SIGKILL'));
  if (m.error !== undefined) throw new Error(m.error);
  return m.result as T;
}

async function start(t: import('ava').ExecutionContext, r: Rootd) {
  await r.start();
  const watch = await r.watch();
  t.teardown(() => watch.close());
}

async function quitAndCompare(t: import('ava').ExecutionContext, r: Rootd, before: Record<string, string>) {
  const pid = (await r.call('status', {})).pid;
  await r.call('quit', {});
  t.true(await waitGone(pid, 10_000), 'the root daemon exits on quit');
  const after = await r.snapshot();
  t.deepEqual(after, before, 'quit leaves routes, links, addresses, rules and the resolver exactly as before');
}

test.serial(
  '#16 VNAT: with a VPN route over the Service range, connect succeeds, names resolve to virtual addresses, TCP, UDP, RST and ICMP errors work through them; quit restores the routes',
  async (t) => {
    const r = await rootd(t, { refuseUdpPorts: [REFUSED_UDP] });
    await addVpn(r);
    const before = await r.snapshot();
    t.is(before.dns, UPSTREAM_ANSWER);
    await start(t, r);

    const st = await r.connect();
    t.true(st.connected, JSON.stringify(st));
    t.deepEqual(st.vnat, [
      { real: '10.100.0.0/24', virtual: '198.18.1.0/24', reason: 'overlaps 10.100.0.0/16 via vpn0' },
      { real: 'fd00:100::/64', virtual: 'fd74:7076:6e61::/64', reason: 'overlaps fd00:100::/56 via vpn0' },
    ]);
    const during = await r.snapshot();
    t.regex(during.routes, /^198\.18\.1\.0\/24 dev tp0 /m, 'the virtual subnet is routed into the TUN');
    t.regex(during.routes, /^fd74:7076:6e61::\/64 dev tp0 /m);
    t.regex(during.routes, /^10\.100\.0\.0\/16 dev vpn0 /m, "the VPN's route is still there");
    t.notRegex(during.routes, /^10\.100\.0\.0\/24 dev tp0/m, 'the real Service range is not shadowed');
    t.regex(during.routes, /^throw 198\.18\.1\.128\/25/m, '--never-proxy 10.100.0.128/25 stays out in the virtual subnet too');
    t.regex((await r.ns.run('ip', ['route', 'get', TARGET])).stdout, /dev vpn0/, 'the real address still goes to the VPN');
    t.regex((await r.ns.run('ip', ['route', 'get', VIRTUAL_TARGET])).stdout, /dev tp0/);

    t.is(during.dns, VIRTUAL_TARGET, 'the cluster name resolves to its virtual address');
    const curl = await withResolver(r, ['curl', '-sS', '--max-time', '10', '-w', '%{remote_ip}', `http://${CLUSTER_NAME}:${PORTS.http}/`]);
    t.is(
      curl.stdout,
      `hello from tp\n${VIRTUAL_TARGET}`,
      'curl by name reaches the in-cluster server at 10.100.0.5 through the virtual address',
    );

    const echoed = await client<{ echoed: number }>(r, {
      kind: 'udp',
      host: VIRTUAL_TARGET,
      port: PORTS.udpEcho,
      sizes: [1, 512, 1472, 9000],
    });
    t.is(echoed.echoed, 4, 'UDP echoes come back from the virtual address (a connected socket accepts nothing else)');

    const rst = await client<{ code: string; ms: number }>(r, { kind: 'refused', host: VIRTUAL_TARGET, port: 1 });
    t.is(rst.code, 'ECONNREFUSED', 'a dial the cluster refuses is an RST from the virtual address');
    t.true(rst.ms < 1000, `refused after ${rst.ms} ms, not after SYN retries`);

    const icmp = await r.ns.run(process.execPath, ['-e', UDP_PROBE, VIRTUAL_TARGET, String(REFUSED_UDP)]);
    t.is(
      icmp.stdout.trim(),
      'ECONNREFUSED',
      'the ICMP port unreachable quotes the virtual destination the socket sent to (else the kernel drops it)',
    );

    // The cluster grows a subnet that overlaps the VPN too, then loses it again.
    const grown = await r.call('setSubnets', { subnets: ['10.100.0.0/24', '10.100.1.0/24', 'fd00:100::/64'] });
    t.deepEqual(
      grown.vnat?.map((m) => `${m.real} ${m.virtual}`),
      ['10.100.0.0/24 198.18.1.0/24', 'fd00:100::/64 fd74:7076:6e61::/64', '10.100.1.0/24 198.18.2.0/24'],
    );
    t.regex((await r.snapshot()).routes, /^198\.18\.2\.0\/24 dev tp0 /m);
    const shrunk = await r.call('setSubnets', { subnets: ['10.100.0.0/24', 'fd00:100::/64'] });
    t.is(shrunk.vnat?.length, 2);
    t.notRegex((await r.snapshot()).routes, /198\.18\.2\.0/);

    await quitAndCompare(t, r, before);
  },
);

test.serial('#16 --allow-conflicting-subnets keeps the shadowing route (no VNAT): the real Service range goes into the TUN', async (t) => {
  const r = await rootd(t);
  await addVpn(r);
  const before = await r.snapshot();
  await start(t, r);
  const st = await r.connect({ allowConflicting: true });
  t.deepEqual(st.vnat, []);
  const during = await r.snapshot();
  t.regex(during.routes, /^10\.100\.0\.0\/24 dev tp0 /m);
  t.is(during.dns, TARGET);
  const hello = await r.ns.run('curl', ['-sS', '--max-time', '10', `http://${TARGET}:${PORTS.http}/`]);
  t.is(hello.stdout, 'hello from tp\n');
  await quitAndCompare(t, r, before);
});

test.serial('#16 --vnat maps a subnet that overlaps nothing, and the default without an overlap is the real subnet', async (t) => {
  const r = await rootd(t);
  const before = await r.snapshot();
  await start(t, r);
  const st = await r.connect({ vnat: ['10.100.0.0/24'] });
  t.deepEqual(st.vnat, [{ real: '10.100.0.0/24', virtual: '198.18.1.0/24', reason: '--vnat' }], 'only the subnet --vnat names');
  const during = await r.snapshot();
  t.regex(during.routes, /^fd00:100::\/64 dev tp0 /m, 'the subnet without an overlap is routed as it is');
  t.notRegex(during.routes, /^10\.100\.0\.0\/24 dev tp0/m);
  t.is(during.dns, VIRTUAL_TARGET);
  const hello = await r.ns.run('curl', ['-sS', '--max-time', '10', `http://${VIRTUAL_TARGET}:${PORTS.http}/`]);
  t.is(hello.stdout, 'hello from tp\n');
  await quitAndCompare(t, r, before);
});

test.serial(
  '#16 VNAT and #18: kill -9 of the root daemon with virtual subnets in place: the throw routes inside them go too, within 2 s',
  async (t) => {
    const r = await rootd(t);
    await addVpn(r);
    const before = await r.snapshot();
    await start(t, r);
    const st = await r.connect();
    t.is(st.vnat?.length, 2);
    const t0 = performance.now();
    process.kill(st.pid, 'SIGKILL');
    const ms = await r.restored(before, t0, 2_000);
    t.log(`kill -9 with VNAT: workstation as before connect after ≤ ${ms} ms`);
    t.not(ms, undefined, `not restored within 2 s:\n${JSON.stringify(await r.snapshot(), null, 1)}`);
    const reverted = r.exitRecord()?.reverted ?? [];
    t.true(reverted.includes('route 198.18.1.128/25') && reverted.includes('route fd74:7076:6e61::/120'), JSON.stringify(reverted));
  },
);
