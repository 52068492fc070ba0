import test from 'ava';
import type { Owner } from '../../../lib/common/objects.js';
import { ClusterResolver, NamespaceAccess, candidates, namespaceOfName, parseResolvConf, type DnsScope } from '../../../lib/manager/dns.js';
import { fakeClusterDns } from './fake-cluster-dns.js';

test('names resolve as in a pod of the client namespace: search list first below ndots', (t) => {
  t.deepEqual(candidates('echo', 'default', 'cluster.local'), [
    'echo.default.svc.cluster.local',
    'echo.svc.cluster.local',
    'echo.cluster.local',
    'echo',
  ]);
  t.deepEqual(candidates('echo.team', 'default', 'cluster.local').slice(0, 2), [
    'echo.team.default.svc.cluster.local',
    'echo.team.svc.cluster.local',
  ]);
});

test('a fully qualified or cluster-domain name is asked as it is', (t) => {
  t.deepEqual(candidates('echo.default.svc.cluster.local', 'x', 'cluster.local'), ['echo.default.svc.cluster.local']);
  t.deepEqual(candidates('example.com.', 'x', 'cluster.local'), ['example.com']);
});

test('#16: reverse names are asked as they are, never through the search list', (t) => {
  t.deepEqual(candidates('10.0.96.10.in-addr.arpa', 'x', 'cluster.local'), ['10.0.96.10.in-addr.arpa']);
  t.deepEqual(candidates('0.ip6.arpa', 'x', 'cluster.local'), ['0.ip6.arpa']);
});

test('parseResolvConf reads nameservers, search and ndots, ignoring comments', (t) => {
  const c = parseResolvConf(
    '# generated\nnameserver 10.96.0.10\nsearch tp-system.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1\n',
  );
  t.deepEqual(c.nameservers, ['10.96.0.10']);
  t.deepEqual(c.search, ['tp-system.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  t.is(c.ndots, 5);
});

test('#16: the namespace of a cluster name (Kubernetes DNS schema: <ns>.svc and <ns>.pod)', (t) => {
  t.is(namespaceOfName('echo.a.svc.cluster.local', 'cluster.local'), 'a');
  t.is(namespaceOfName('_http._tcp.echo.a.svc.cluster.local', 'cluster.local'), 'a');
  t.is(namespaceOfName('10-244-0-5.echo.a.svc.cluster.local', 'cluster.local'), 'a');
  t.is(namespaceOfName('10-244-0-5.b.pod.cluster.local', 'cluster.local'), 'b');
  t.is(namespaceOfName('A.svc.Cluster.Local.', 'cluster.local'), 'a');
  for (const n of ['svc.cluster.local', 'cluster.local', 'dns-version.cluster.local', 'echo.a', 'x.svc.example.com'])
    t.is(namespaceOfName(n, 'cluster.local'), undefined, n);
});

/** Alice may see namespace a only; every check is recorded. */
function aliceScope(checks: string[] = [], mapped?: string[]): DnsScope {
  return { namespace: 'a', allows: async (ns) => (checks.push(ns), (!mapped || mapped.includes(ns)) && ns === 'a') };
}

test("#16: SRV and TXT are the cluster DNS's records; the answer names the name that matched", async (t) => {
  const dns = fakeClusterDns();
  const r = new ClusterResolver('cluster.local', [], { exchange: dns.exchange });
  const srv = await r.query('_http._tcp.echo', 'SRV', aliceScope());
  t.is(srv.rcode, 'NOERROR');
  t.is(srv.canonical, '_http._tcp.echo.a.svc.cluster.local');
  t.deepEqual(srv.records, [
    {
      name: '_http._tcp.echo.a.svc.cluster.local',
      type: 'SRV',
      ttl: 5,
      data: { priority: 0, weight: 100, port: 80, target: 'echo.a.svc.cluster.local' },
    },
  ]);
  const txt = await r.query('dns-version.cluster.local', 'TXT', aliceScope());
  t.deepEqual(
    txt.records?.map((x) => x.data),
    [{ strings: ['1.1.0'] }],
  );
  t.deepEqual(dns.asked, ['_http._tcp.echo.a.svc.cluster.local SRV', 'dns-version.cluster.local TXT']);
});

test('#16: A keeps filling addresses (the SOCKS path reads them); a name through the search list', async (t) => {
  const dns = fakeClusterDns();
  const r = new ClusterResolver('cluster.local', [], { exchange: dns.exchange });
  const a = await r.resolve('echo', 'A', 'a');
  t.deepEqual(a.addresses, ['10.96.0.20']);
  t.is(a.canonical, 'echo.a.svc.cluster.local');
});

test("#16: a name in a namespace the owner may not see is NXDOMAIN with the zone's SOA, and the cluster is never asked about it", async (t) => {
  const dns = fakeClusterDns();
  const r = new ClusterResolver('cluster.local', [], { exchange: dns.exchange });
  const checks: string[] = [];
  const res = await r.query('echo.b', 'A', aliceScope(checks));
  t.is(res.rcode, 'NXDOMAIN');
  t.deepEqual(res.addresses, []);
  t.is(res.soa?.type, 'SOA');
  t.like(res.soa?.data, { minimum: 5 });
  t.false(
    dns.asked.some((q) => q.includes('.b.svc.')),
    dns.asked.join(', '),
  );
  t.true(checks.includes('b'));
  const full = await r.query('echo.b.svc.cluster.local', 'A', aliceScope());
  t.is(full.rcode, 'NXDOMAIN', 'the full name too');
  t.is(full.soa?.name, 'cluster.local', "an SOA though nothing was asked: the zone's, fetched once");
});

test('#16: a PTR whose target lies in a hidden namespace is NXDOMAIN; one in a visible namespace answers', async (t) => {
  const r = new ClusterResolver('cluster.local', [], { exchange: fakeClusterDns().exchange });
  const visible = await r.query('20.0.96.10.in-addr.arpa', 'PTR', aliceScope());
  t.deepEqual(
    visible.records?.map((x) => x.data),
    [{ target: 'echo.a.svc.cluster.local' }],
  );
  const hidden = await r.query('30.0.96.10.in-addr.arpa', 'PTR', aliceScope());
  t.is(hidden.rcode, 'NXDOMAIN');
  t.is(hidden.records, undefined);
});

test('#16: a CNAME from a visible namespace into a hidden one reveals nothing of the hidden one', async (t) => {
  const r = new ClusterResolver('cluster.local', [], { exchange: fakeClusterDns().exchange });
  const res = await r.query('ext', 'A', aliceScope());
  t.is(res.rcode, 'NXDOMAIN');
  t.deepEqual(res.addresses, []);
  // Someone who may see both gets the whole chain.
  const all = await r.query('ext', 'A', { namespace: 'a', allows: async () => true });
  t.deepEqual(
    all.records?.map((x) => [x.name, x.type]),
    [
      ['ext.a.svc.cluster.local', 'CNAME'],
      ['echo.b.svc.cluster.local', 'A'],
    ],
  );
  t.deepEqual(all.addresses, ['10.96.0.30']);
});

test('#16: mapped namespaces: names elsewhere are NXDOMAIN even for someone who may see everything', async (t) => {
  const r = new ClusterResolver('cluster.local', [], { exchange: fakeClusterDns().exchange });
  const mappedToA: DnsScope = { namespace: 'a', allows: async (ns) => ns === 'a' };
  t.is((await r.query('echo.b', 'A', mappedToA)).rcode, 'NXDOMAIN');
  t.deepEqual((await r.query('echo.a', 'A', mappedToA)).addresses, ['10.96.0.20'], '`svc.a` resolves');
});

test('#16: NODATA (the name exists, not with that type) keeps the SOA for caching (RFC 2308 §2.2)', async (t) => {
  const r = new ClusterResolver('cluster.local', [], { exchange: fakeClusterDns().exchange });
  const res = await r.query('echo', 'AAAA', aliceScope());
  t.is(res.rcode, 'NOERROR');
  t.deepEqual(res.records, []);
  t.is(res.soa?.type, 'SOA');
  t.is(res.ttl, 5);
});

test('#16: when the rights cannot be checked (API server down) the answer is SERVFAIL, not NXDOMAIN', async (t) => {
  const r = new ClusterResolver('cluster.local', [], { exchange: fakeClusterDns().exchange });
  const res = await r.query('echo.b.svc.cluster.local', 'A', {
    namespace: 'a',
    allows: async () => {
      throw new Error('no SubjectAccessReview');
    },
  });
  t.is(res.rcode, 'SERVFAIL');
});

test('#16: a silent cluster DNS is SERVFAIL', async (t) => {
  const dns = fakeClusterDns();
  dns.silent = true;
  const r = new ClusterResolver('cluster.local', [], { exchange: dns.exchange });
  t.is((await r.query('echo', 'A', aliceScope())).rcode, 'SERVFAIL');
});

const ALICE: Owner = { username: 'alice', groups: ['devs'] };

test('#16: NamespaceAccess asks once per namespace within its TTL, shares reviews in flight, and forgets failures', async (t) => {
  let now = 0;
  const asked: string[] = [];
  let fail = false;
  const access = new NamespaceAccess(
    async (_o, ns) => {
      asked.push(ns);
      await new Promise((r) => setTimeout(r, 5));
      if (fail) throw new Error('API server down');
      return ns === 'a';
    },
    10_000,
    () => now,
  );
  const [x, y] = await Promise.all([access.allows(ALICE, 'a'), access.allows(ALICE, 'a')]);
  t.true(x && y);
  t.false(await access.allows(ALICE, 'b'));
  t.deepEqual(asked, ['', 'a', 'b'], 'the cluster-wide review first, once; then each namespace once');
  now += 10_001;
  fail = true;
  await t.throwsAsync(access.allows(ALICE, 'a'));
  fail = false;
  t.true(await access.allows(ALICE, 'a'), 'a failed review is asked again, not remembered as a refusal');
});

test('#16: NamespaceAccess: an owner who may get Services cluster-wide needs no per-namespace review', async (t) => {
  const asked: string[] = [];
  const access = new NamespaceAccess(async (_o, ns) => (asked.push(ns), ns === ''));
  t.true(await access.allows(ALICE, 'a'));
  t.true(await access.allows(ALICE, 'b'));
  t.deepEqual(asked, ['']);
});
