// A cluster DNS server as a DnsExchange (lib/manager/dns.ts), and its answers for a real server in
// the net tier (test/net/root/cluster-child.ts): answers questions from a zone table
// with real wire messages (lib/common/dns/message.ts), NXDOMAIN and NODATA with the zone's SOA in
// the authority section as CoreDNS does, and records every question it was asked.
import type { DnsRecordData } from '../../../lib/common/rpc/manager.js';
import {
  RCODE,
  TYPE,
  buildReply,
  encodeRdata,
  parseMessage,
  questionSectionEnd,
  typeName,
  type AnswerRecord,
} from '../../../lib/common/dns/message.js';
import type { DnsExchange } from '../../../lib/manager/dns.js';

export interface ZoneRecord {
  name: string;
  type: string;
  data: DnsRecordData;
  ttl?: number;
}

export const CLUSTER_SOA: DnsRecordData = {
  mname: 'ns.dns.cluster.local',
  rname: 'hostmaster.cluster.local',
  serial: 1700000000,
  refresh: 7200,
  retry: 1800,
  expire: 86400,
  minimum: 5,
};

/** The test cluster: Services echo in a and b, an SRV port, reverse names, an ExternalName-style
 * CNAME from a into b, and CoreDNS's own TXT. */
export const ZONE: ZoneRecord[] = [
  { name: 'cluster.local', type: 'SOA', data: CLUSTER_SOA, ttl: 30 },
  { name: 'echo.a.svc.cluster.local', type: 'A', data: { address: '10.96.0.20' } },
  { name: 'echo.b.svc.cluster.local', type: 'A', data: { address: '10.96.0.30' } },
  {
    name: '_http._tcp.echo.a.svc.cluster.local',
    type: 'SRV',
    data: { priority: 0, weight: 100, port: 80, target: 'echo.a.svc.cluster.local' },
  },
  { name: '20.0.96.10.in-addr.arpa', type: 'PTR', data: { target: 'echo.a.svc.cluster.local' } },
  { name: '30.0.96.10.in-addr.arpa', type: 'PTR', data: { target: 'echo.b.svc.cluster.local' } },
  { name: 'ext.a.svc.cluster.local', type: 'CNAME', data: { target: 'echo.b.svc.cluster.local' } },
  { name: 'dns-version.cluster.local', type: 'TXT', data: { strings: ['1.1.0'] } },
  // Namespaces exist as empty non-terminals: NODATA, not NXDOMAIN.
  { name: 'a.svc.cluster.local', type: 'NS-ONLY', data: { target: '' } },
  { name: 'b.svc.cluster.local', type: 'NS-ONLY', data: { target: '' } },
];

export interface FakeClusterDns {
  exchange: DnsExchange;
  /** `NAME TYPE` of every question, in order. */
  asked: string[];
  /** Makes every later question go unanswered (a dead cluster DNS). */
  silent: boolean;
}

/** The answer of a cluster DNS serving `zone` to `query` (wire bytes both). */
export function clusterDnsAnswer(zone: ZoneRecord[], query: Buffer): Buffer {
  const q = parseMessage(query).questions[0]!;
  const name = q.name.toLowerCase();
  const type = typeName(q.type);
  const soaRec = zone.find((r) => r.type === 'SOA');
  const soa: AnswerRecord = {
    owner: soaRec?.name ?? 'cluster.local',
    type: TYPE.SOA,
    ttl: soaRec?.ttl ?? 5,
    rdata: encodeRdata(TYPE.SOA, soaRec?.data ?? CLUSTER_SOA),
  };
  const exists = zone.some((r) => r.name === name || r.name.endsWith(`.${name}`));
  if (!exists) return buildReply(query, questionSectionEnd(query), { rcode: RCODE.NXDOMAIN, authorities: [soa] });
  const answers: AnswerRecord[] = [];
  let owner = name;
  const rec = (r: ZoneRecord): AnswerRecord => ({
    owner: r.name,
    type: TYPE[r.type as keyof typeof TYPE],
    ttl: r.ttl ?? 5,
    rdata: encodeRdata(TYPE[r.type as keyof typeof TYPE], r.data),
  });
  for (let hops = 0; hops < 8; hops++) {
    const direct = zone.filter((r) => r.name === owner && r.type === type);
    const cname = zone.find((r) => r.name === owner && r.type === 'CNAME');
    if (direct.length > 0) {
      answers.push(...direct.map(rec));
      break;
    }
    if (!cname || type === 'CNAME') break;
    answers.push(rec(cname));
    owner = (cname.data as { target: string }).target;
  }
  return buildReply(query, questionSectionEnd(query), { rcode: RCODE.NOERROR, answers, authorities: answers.length === 0 ? [soa] : [] });
}

export function fakeClusterDns(zone: ZoneRecord[] = ZONE): FakeClusterDns {
  const self: FakeClusterDns = {
    asked: [],
    silent: false,
    exchange: async (query) => {
      const q = parseMessage(query).questions[0]!;
      self.asked.push(`${q.name.toLowerCase()} ${typeName(q.type)}`);
      return self.silent ? undefined : clusterDnsAnswer(zone, query);
    },
  };
  return self;
}
