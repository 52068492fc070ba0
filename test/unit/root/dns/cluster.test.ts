import test from 'ava';
import type { DnsResponse } from '../../../../lib/common/rpc/manager.js';
import { ClusterAnswers } from '../../../../lib/root/dns/cluster.js';
import { TYPE } from '../../../../lib/root/dns/message.js';

const SOA = {
  name: 'cluster.local',
  type: 'SOA',
  ttl: 30,
  data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 30 },
};

test('#16: an NXDOMAIN from the negative cache keeps its SOA, its TTL counting down (RFC 2308 §5)', async (t) => {
  let now = 1_000_000;
  let calls = 0;
  const answers = new ClusterAnswers(async (): Promise<DnsResponse> => (calls++, { addresses: [], rcode: 'NXDOMAIN', ttl: 5, soa: SOA }), {
    lookupTimeoutMs: 1000,
    negativeTtlMs: 5000,
    now: () => now,
  });
  const first = await answers.resolve('nosuch', 'SRV');
  t.is(first.soa?.type, TYPE.SOA);
  t.is(first.soa?.owner, 'cluster.local');
  t.is(first.soa?.ttl, 30);
  now += 3000;
  const cached = await answers.resolve('nosuch', 'SRV');
  t.is(calls, 1);
  t.is(cached.rcode, 'NXDOMAIN');
  t.is(cached.ttl, 2);
  t.is(cached.soa?.ttl, 2, 'no longer than the cache keeps it');
  now += 2000;
  await answers.resolve('nosuch', 'SRV');
  t.is(calls, 2, 'expired');
  t.is(answers.stats.cacheHits, 1);
});

test('#16: the negative cache is per type: an NXDOMAIN for SRV says nothing about TXT', async (t) => {
  const asked: string[] = [];
  const answers = new ClusterAnswers(
    async (req): Promise<DnsResponse> => (asked.push(req.type), { addresses: [], rcode: 'NXDOMAIN', ttl: 5 }),
    { lookupTimeoutMs: 1000, negativeTtlMs: 5000 },
  );
  await answers.resolve('x', 'SRV');
  await answers.resolve('x', 'TXT');
  t.deepEqual(asked, ['SRV', 'TXT']);
});

test('#16: records owned by the canonical name are re-owned to the question; others keep their names', async (t) => {
  const answers = new ClusterAnswers(
    async (): Promise<DnsResponse> => ({
      canonical: 'Ext.Default.svc.cluster.local.',
      addresses: [],
      rcode: 'NOERROR',
      ttl: 5,
      records: [
        { name: 'ext.default.svc.cluster.local', type: 'CNAME', ttl: 5, data: { target: 'db.example.test' } },
        { name: 'db.example.test', type: 'A', ttl: 7, data: { address: '192.0.2.9' } },
      ],
    }),
    { lookupTimeoutMs: 1000, negativeTtlMs: 5000 },
  );
  const r = await answers.resolve('ext', 'A');
  t.deepEqual(
    r.answers.map((a) => [a.owner, a.type, a.ttl]),
    [
      [undefined, TYPE.CNAME, 5],
      ['db.example.test', TYPE.A, 7],
    ],
  );
});

test('#16: a manager answer that is not one (no rcode, an SOA of another type, negative TTLs) is SERVFAIL or cleaned', async (t) => {
  const bad = new ClusterAnswers(async () => ({ nonsense: true }) as unknown as DnsResponse, {
    lookupTimeoutMs: 1000,
    negativeTtlMs: 5000,
  });
  t.is((await bad.resolve('x', 'A')).rcode, 'SERVFAIL');
  const odd = new ClusterAnswers(
    async (): Promise<DnsResponse> => ({ addresses: [], rcode: 'NXDOMAIN', ttl: -4, soa: { ...SOA, type: 'A' } }),
    { lookupTimeoutMs: 1000, negativeTtlMs: 5000 },
  );
  const r = await odd.resolve('x', 'A');
  t.is(r.ttl, 0);
  t.is(r.soa, undefined);
});
