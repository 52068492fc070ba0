// Tier 2, issue 16 (all of DNS): the real root daemon in a namespace of the test's own, its
// iptables redirect of the LAN nameserver, and a manager whose real ClusterResolver asks a cluster
// DNS on the namespace's loopback (cluster-child.ts). dig asks the workstation's nameserver, as
// every program does: SRV, TXT and reverse lookups answer what the cluster's DNS has, negative
// answers keep the zone's SOA, and reverse names outside the cluster stay with the LAN resolver.
// With a VPN route over the Service range (VNAT) a reverse lookup of the virtual address answers
// for the real one. The test process plays the user daemon (rootd.ts).
import test from 'ava';
import { CLUSTER_NAME, NAMESERVER, TARGET, rootd, waitGone, type Rootd } from './rootd.js';

const dig = async (r: Rootd, ...args: string[]) =>
  (await r.ns.run('dig', [`@${NAMESERVER}`, '+time=3', '+tries=1', ...args], { timeoutMs: 15_000 })).stdout;

async function connected(t: import('ava').ExecutionContext, opts: { vpn?: boolean } = {}): Promise<Rootd> {
  const r = await rootd(t);
  if (opts.vpn) {
    // A "VPN" route over the cluster's Service range: tp reaches it at 198.18.1.0/24 (VNAT).
    for (const cmd of [
      ['link', 'add', 'vpn0', 'type', 'veth', 'peer', 'name', 'vpn0p'],
      ['link', 'set', 'vpn0p', 'up'],
      ['link', 'set', 'vpn0', 'up'],
      ['route', 'add', '10.100.0.0/16', 'dev', 'vpn0'],
    ])
      await r.ns.run('ip', cmd);
  }
  await r.start();
  const watch = await r.watch();
  t.teardown(async () => {
    const pid = (await r.call('status', {}).catch(() => undefined))?.pid;
    await r.call('quit', {}).catch(() => {});
    if (pid) await waitGone(pid, 10_000);
    watch.close();
  });
  await r.connect();
  return r;
}

test.serial(
  '#16: dig -t SRV and -t TXT through the system resolver answer what the cluster DNS has (RFC 2782, RFC 1035 §3.3.14)',
  async (t) => {
    const r = await connected(t);
    t.is((await dig(r, '+short', '-t', 'SRV', `_http._tcp.${CLUSTER_NAME}`)).trim(), `0 100 8080 ${CLUSTER_NAME}.`);
    t.is((await dig(r, '+short', '-t', 'TXT', 'dns-version.cluster.local')).trim(), '"1.1.0"');
    // The name asked through the namespace pseudo-TLD is re-owned: the answer names what was asked.
    const srv = await dig(r, '+noall', '+answer', '-t', 'SRV', '_http._tcp.echo.default');
    t.regex(srv, /^_http\._tcp\.echo\.default\.\s+5\s+IN\s+SRV\s+0 100 8080 echo\.default\.svc\.cluster\.local\.$/m);
  },
);

test.serial("#16: dig -x of a Service IP answers the cluster's PTR; dig -x of a LAN address goes to the LAN resolver", async (t) => {
  const r = await connected(t);
  t.is((await dig(r, '+short', '-x', TARGET)).trim(), `${CLUSTER_NAME}.`);
  // 10.0.0.9 is outside the cluster's subnets: the LAN nameserver answers (NOERROR, no PTR),
  // where the cluster would have said NXDOMAIN.
  const lan = await dig(r, '-x', '10.0.0.9');
  t.regex(lan, /status: NOERROR/);
  t.regex(lan, /ANSWER: 0,/);
});

test.serial('#16: NXDOMAIN and NODATA from the cluster carry its SOA with the TTL it gave (RFC 2308 §3)', async (t) => {
  const r = await connected(t);
  const nx = await dig(r, '+noall', '+comments', '+authority', 'nosuch.default.svc.cluster.local');
  t.regex(nx, /status: NXDOMAIN/);
  t.regex(nx, /^cluster\.local\.\s+30\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. 1700000000 7200 1800 86400 30$/m);
  const nodata = await dig(r, '+noall', '+comments', '+authority', '-t', 'AAAA', CLUSTER_NAME);
  t.regex(nodata, /status: NOERROR/);
  t.regex(nodata, /ANSWER: 0, AUTHORITY: 1/);
  t.regex(nodata, /^cluster\.local\.\s+\d+\s+IN\s+SOA\s/m);
  const ptr = await dig(r, '+noall', '+comments', '+authority', '-x', '10.100.0.9');
  t.regex(ptr, /status: NXDOMAIN/, "a reverse name in the cluster's subnet that the cluster does not know");
  t.regex(ptr, /IN\s+SOA\s/);
});

test.serial('#16 VNAT: dig -x of the virtual address answers the PTR of the real one, under the name asked', async (t) => {
  const r = await connected(t, { vpn: true });
  const st = await r.call('status', {});
  t.deepEqual(
    st.vnat?.map((m) => `${m.real} ${m.virtual}`),
    ['10.100.0.0/24 198.18.1.0/24'],
  );
  t.is((await dig(r, '+short', CLUSTER_NAME)).trim(), '198.18.1.5', 'A answers carry the virtual address');
  const ptr = await dig(r, '+noall', '+answer', '-x', '198.18.1.5');
  t.regex(ptr, new RegExp(`^5\\.1\\.18\\.198\\.in-addr\\.arpa\\.\\s+5\\s+IN\\s+PTR\\s+${CLUSTER_NAME.replace(/\./g, '\\.')}\\.$`, 'm'));
  // The real address is the VPN's now: its reverse name is the LAN resolver's business.
  t.regex(await dig(r, '-x', TARGET), /status: NOERROR[\s\S]*ANSWER: 0,/);
});
