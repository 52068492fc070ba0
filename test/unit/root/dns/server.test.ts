import { createServer as createTcpServer } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { DnsRequest, DnsResponse } from '../../../../lib/common/rpc/manager.js';
import { RCODE, TYPE, buildQuery, decodeRdata, isTruncated, parseMessage, rcodeOf } from '../../../../lib/root/dns/message.js';
import { DnsServer, type ClusterLookup, type DnsServerOptions } from '../../../../lib/root/dns/server.js';
import { fakeUpstream, standardHandler, type FakeUpstream } from './fake-upstream.js';

const SERVICES: Record<string, string[]> = {
  echo: ['10.96.0.20'],
  'echo.default': ['10.96.0.20'],
  'echo.default.svc.cluster.local': ['10.96.0.20'],
};

/** A manager lookup over a fixed table; records every call. */
function tableLookup(calls: DnsRequest[] = []): ClusterLookup {
  return async (req) => {
    calls.push(req);
    const addrs = SERVICES[req.name];
    if (!addrs) return { addresses: [], rcode: 'NXDOMAIN', ttl: 5 };
    if (req.type === 'AAAA') return { canonical: req.name, addresses: ['fd00::20'], rcode: 'NOERROR', ttl: 30 };
    return { canonical: req.name, addresses: addrs, rcode: 'NOERROR', ttl: 30 };
  };
}

async function server(t: ExecutionContext, opts: Partial<DnsServerOptions> = {}, upstream?: FakeUpstream): Promise<DnsServer> {
  const s = new DnsServer({
    listen: { host: '127.0.0.1', port: 0 },
    lookup: tableLookup(),
    upstreams: upstream ? [`127.0.0.1:${upstream.port}`] : [],
    namespaces: ['default'],
    upstreamTimeoutMs: 400,
    lookupTimeoutMs: 400,
    ...opts,
  });
  await s.start();
  t.teardown(() => s.stop());
  return s;
}

async function upstream(t: ExecutionContext, handler = standardHandler): Promise<FakeUpstream> {
  const u = await fakeUpstream('127.0.0.1', handler);
  t.teardown(() => u.close());
  return u;
}

/** One query over real UDP to the server, bounded wait. */
function udpAsk(port: number, query: Buffer, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => (s.close(), reject(new Error('no UDP answer'))), timeoutMs);
    s.on('message', (m) => (clearTimeout(timer), s.close(), resolve(m)));
    s.send(query, port, '127.0.0.1');
  });
}

/** Queries pipelined on one TCP connection; resolves when all answers arrived. */
function tcpAsk(port: number, queries: Buffer[], timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => (s.destroy(), reject(new Error('no TCP answer'))), timeoutMs);
    s.on('connect', () => {
      for (const q of queries) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        s.write(Buffer.concat([len, q]));
      }
    });
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + out[out.length - 1]!.length);
      }
      if (out.length === queries.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

const ask = async (s: DnsServer, name: string, type: number = TYPE.A, id = 0x4242) =>
  parseMessage((await s.handle(buildQuery(id, name, type), 'udp'))!);
const ipv4 = (b: Buffer) => [...b].join('.');

test('cluster name over UDP: A from the lookup, ID and question copied, TTL capped at 5 s', async (t) => {
  const s = await server(t);
  const r = parseMessage(await udpAsk(s.addresses()[0]!.port, buildQuery(0xbeef, 'Echo.Default', TYPE.A)));
  t.is(r.id, 0xbeef);
  t.is(rcodeOf(r), RCODE.NOERROR);
  t.deepEqual(r.questions, [{ name: 'Echo.Default', type: TYPE.A, cls: 1 }]);
  t.is(r.answers.length, 1);
  t.is(r.answers[0]!.name, 'Echo.Default');
  t.is(ipv4(r.answers[0]!.rdata), '10.96.0.20');
  t.is(r.answers[0]!.ttl, 5, 'the manager said 30; capped');
});

test('the lookup gets the name normalized: lower case, no trailing dot', async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: tableLookup(calls) });
  await ask(s, 'ECHO.default.svc.cluster.local.');
  t.deepEqual(calls, [{ name: 'echo.default.svc.cluster.local', type: 'A' }]);
});

test('AAAA for a cluster name carries IPv6 only; a v4 address in a AAAA answer is dropped', async (t) => {
  const s = await server(t, { lookup: async () => ({ addresses: ['fd00::20', '10.0.0.1'], rcode: 'NOERROR', ttl: 2 }) });
  const r = await ask(s, 'echo', TYPE.AAAA);
  t.is(r.answers.length, 1);
  t.is(r.answers[0]!.type, TYPE.AAAA);
  t.is(r.answers[0]!.rdata.toString('hex'), 'fd000000000000000000000000000020');
  t.is(r.answers[0]!.ttl, 2);
});

test('NXDOMAIN from the cluster is the answer: a single label does not leak upstream', async (t) => {
  const u = await upstream(t);
  const s = await server(t, {}, u);
  t.is(rcodeOf(await ask(s, 'nosuch')), RCODE.NXDOMAIN);
  t.is(rcodeOf(await ask(s, 'nosuch.default')), RCODE.NXDOMAIN);
  t.is(u.received.length, 0);
});

test('an answer without records (a manager before #16): other types are an empty NOERROR if the name exists, NXDOMAIN if not', async (t) => {
  const s = await server(t);
  for (const type of [TYPE.MX, TYPE.TXT, TYPE.SRV]) {
    const r = await ask(s, 'echo.default', type);
    t.is(rcodeOf(r), RCODE.NOERROR);
    t.is(r.answers.length, 0);
  }
  t.is(rcodeOf(await ask(s, 'nosuch.default', TYPE.TXT)), RCODE.NXDOMAIN);
});

test('non-IN class for a cluster name is REFUSED', async (t) => {
  const s = await server(t);
  const r = parseMessage((await s.handle(buildQuery(1, 'echo', TYPE.A, { cls: 3 }), 'udp'))!);
  t.is(rcodeOf(r), RCODE.REFUSED);
});

test('upstream name is forwarded byte-exact: query and answer differ only in the ID', async (t) => {
  const u = await upstream(t);
  const s = await server(t, {}, u);
  const q = buildQuery(0x1111, 'example.test', TYPE.A, {
    edns: { udpSize: 1232, options: Buffer.from('000a00080102030405060708', 'hex') },
  });
  const a = await udpAsk(s.addresses()[0]!.port, q);
  t.is(u.received.length, 1);
  t.deepEqual(u.received[0]!.raw.subarray(2), q.subarray(2), 'the query went out unchanged but for the ID');
  t.is(a.readUInt16BE(0), 0x1111, 'the answer has the client’s ID back');
  t.deepEqual(a.subarray(2), u.sent[0]!.subarray(2), 'the answer came back unchanged but for the ID');
  const m = parseMessage(a);
  t.is(m.answers[0]!.ttl, 300, 'upstream TTLs are not capped');
});

test('a truncated upstream UDP answer is retried over TCP and the full answer used when it fits', async (t) => {
  const u = await upstream(t);
  const s = await server(t, {}, u);
  const big = parseMessage(await udpAsk(s.addresses()[0]!.port, buildQuery(5, 'big.test', TYPE.A, { edns: { udpSize: 4096 } })));
  t.false(isTruncated(big));
  t.is(big.answers.length, 60);
  t.deepEqual(
    u.received.map((r) => r.transport),
    ['udp', 'tcp'],
  );
  t.is(s.stats.tcpFallbacks, 1);
});

test('a truncated upstream answer that does not fit the client’s UDP size is passed on with TC', async (t) => {
  const u = await upstream(t);
  const s = await server(t, {}, u);
  const r = await udpAsk(s.addresses()[0]!.port, buildQuery(6, 'big.test', TYPE.A));
  t.true(isTruncated(parseMessage(r)));
  t.true(r.length <= 512);
});

test('upstream silent: SERVFAIL after the timeout', async (t) => {
  const u = await upstream(t, () => undefined);
  const s = await server(t, { upstreamTimeoutMs: 300 }, u);
  const t0 = Date.now();
  const r = await ask(s, 'example.test');
  const took = Date.now() - t0;
  t.is(rcodeOf(r), RCODE.SERVFAIL);
  t.true(took >= 250 && took < 1500, `took ${took} ms`);
});

test('the first upstream refuses (port closed): the second answers', async (t) => {
  const u = await upstream(t);
  const dead = createSocket('udp4');
  await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
  const deadPort = dead.address().port;
  await new Promise<void>((r) => dead.close(() => r()));
  const s = await server(t, { upstreams: [`127.0.0.1:${deadPort}`, `127.0.0.1:${u.port}`], upstreamTimeoutMs: 2000 });
  const t0 = Date.now();
  const r = await ask(s, 'example.test');
  t.is(rcodeOf(r), RCODE.NOERROR);
  t.true(Date.now() - t0 < 1000, 'ECONNREFUSED fails over without waiting for the timeout');
});

test('no upstreams at all: SERVFAIL at once', async (t) => {
  const s = await server(t);
  t.is(rcodeOf(await ask(s, 'example.test')), RCODE.SERVFAIL);
});

test('lookup hangs (manager unreachable): SERVFAIL after the lookup timeout, not a hang', async (t) => {
  const s = await server(t, { lookup: () => new Promise<DnsResponse>(() => {}), lookupTimeoutMs: 200 });
  const t0 = Date.now();
  const r = await ask(s, 'echo');
  t.is(rcodeOf(r), RCODE.SERVFAIL);
  t.true(Date.now() - t0 < 1000);
});

test('lookup throws: SERVFAIL at once; the failure is not cached', async (t) => {
  let n = 0;
  const s = await server(t, {
    lookup: async () => {
      n++;
      throw new Error('relay closed');
    },
  });
  t.is(rcodeOf(await ask(s, 'echo')), RCODE.SERVFAIL);
  t.is(rcodeOf(await ask(s, 'echo')), RCODE.SERVFAIL);
  t.is(n, 2);
  t.is(s.stats.lookupFailures, 2);
});

test('the lookup receives an AbortSignal that fires at the timeout', async (t) => {
  let signal: AbortSignal | undefined;
  const s = await server(t, {
    lookup: (_req, sig) => {
      signal = sig;
      return new Promise(() => {});
    },
    lookupTimeoutMs: 100,
  });
  await ask(s, 'echo');
  t.true(signal?.aborted);
});

test('negative cache: a second NXDOMAIN within the TTL does not call the manager; it expires', async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: tableLookup(calls), negativeTtlMs: 150 });
  t.is(rcodeOf(await ask(s, 'nosuch')), RCODE.NXDOMAIN);
  t.is(rcodeOf(await ask(s, 'NOSUCH')), RCODE.NXDOMAIN);
  t.is(calls.length, 1);
  t.is(s.stats.cacheHits, 1);
  await new Promise((r) => setTimeout(r, 200));
  await ask(s, 'nosuch');
  t.is(calls.length, 2);
});

test('negative cache is cleared when the namespaces change', async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: tableLookup(calls), negativeTtlMs: 10_000 });
  await ask(s, 'nosuch');
  s.setNamespaces(['default', 'other']);
  await ask(s, 'nosuch');
  t.is(calls.length, 2);
});

test('de-duplication: identical questions in flight share one lookup', async (t) => {
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = await server(t, {
    lookup: async () => {
      calls++;
      await gate;
      return { addresses: ['10.96.0.20'], rcode: 'NOERROR', ttl: 5 };
    },
  });
  const answers = Promise.all([ask(s, 'echo', TYPE.A, 1), ask(s, 'Echo', TYPE.A, 2), ask(s, 'echo.', TYPE.A, 3)]);
  await new Promise((r) => setImmediate(r));
  release();
  const rs = await answers;
  t.is(calls, 1);
  t.deepEqual(
    rs.map((r) => r.id),
    [1, 2, 3],
    'each asker gets its own ID',
  );
  t.deepEqual(
    rs.map((r) => r.answers[0]!.name),
    ['echo', 'Echo', 'echo'],
    'and its own spelling of the question',
  );
  t.is(s.stats.deduplicated, 2);
  await ask(s, 'echo');
  t.is(calls, 2, 'positive answers are not cached: the next question asks again');
});

test('TCP: pipelined queries on one connection are all answered (RFC 7766)', async (t) => {
  const u = await upstream(t);
  const s = await server(t, {}, u);
  const rs = (
    await tcpAsk(s.addresses()[0]!.port, [
      buildQuery(1, 'echo', TYPE.A),
      buildQuery(2, 'example.test', TYPE.A),
      buildQuery(3, 'big.test', TYPE.A),
    ])
  ).map(parseMessage);
  const byId = new Map(rs.map((r) => [r.id, r]));
  t.is(ipv4(byId.get(1)!.answers[0]!.rdata), '10.96.0.20');
  t.is(ipv4(byId.get(2)!.answers[0]!.rdata), '192.0.2.7');
  t.is(byId.get(3)!.answers.length, 60, 'a TCP client gets the whole answer');
  t.false(isTruncated(byId.get(3)!));
});

test('our own answer that exceeds 512 bytes without EDNS is truncated with TC', async (t) => {
  const many = Array.from({ length: 80 }, (_, i) => `10.1.0.${i}`);
  const s = await server(t, { lookup: async () => ({ addresses: many, rcode: 'NOERROR', ttl: 5 }) });
  const raw = (await s.handle(buildQuery(1, 'echo', TYPE.A), 'udp'))!;
  t.true(raw.length <= 512);
  t.true(isTruncated(parseMessage(raw)));
  const full = parseMessage((await s.handle(buildQuery(1, 'echo', TYPE.A), 'tcp'))!);
  t.is(full.answers.length, 80);
});

test('EDNS query gets an OPT in our answer; EDNS version 1 gets BADVERS', async (t) => {
  const s = await server(t);
  const r = parseMessage((await s.handle(buildQuery(1, 'echo', TYPE.A, { edns: { udpSize: 4096 } }), 'udp'))!);
  t.is(r.edns?.udpSize, 1232);
  const q = buildQuery(1, 'echo', TYPE.A, { edns: { udpSize: 4096 } });
  q.writeUInt32BE(0x00010000, q.length - 6); // OPT TTL: version 1
  t.is(rcodeOf(parseMessage((await s.handle(q, 'udp'))!)), RCODE.BADVERS);
});

test('malformed input: short packets and responses are dropped, a broken question gets FORMERR', async (t) => {
  const s = await server(t);
  t.is(await s.handle(Buffer.from([1, 2, 3]), 'udp'), undefined);
  const resp = buildQuery(9, 'echo', TYPE.A);
  resp[2]! |= 0x80;
  t.is(await s.handle(resp, 'udp'), undefined, 'never answer a response');
  const broken = Buffer.concat([buildQuery(0x7777, 'echo', TYPE.A).subarray(0, 12), Buffer.from('c00c00010001', 'hex')]);
  const r = parseMessage((await s.handle(broken, 'udp'))!);
  t.is(r.id, 0x7777);
  t.is(rcodeOf(r), RCODE.FORMERR);
  t.is(r.questions.length, 0);
  t.is(s.counters.formerr, 1);
  t.is(s.counters.dropped, 2);
});

test('two questions in one message: FORMERR (RFC 9619)', async (t) => {
  const s = await server(t);
  const q = buildQuery(1, 'echo', TYPE.A);
  const two = Buffer.concat([q, q.subarray(12)]);
  two.writeUInt16BE(2, 4);
  t.is(rcodeOf(parseMessage((await s.handle(two, 'udp'))!)), RCODE.FORMERR);
});

test('non-QUERY opcode: NOTIMP', async (t) => {
  const s = await server(t);
  const q = buildQuery(1, 'echo', TYPE.A);
  q[2]! |= 5 << 3; // UPDATE
  t.is(rcodeOf(parseMessage((await s.handle(q, 'udp'))!)), RCODE.NOTIMP);
});

test('a name Kubernetes cannot hold is NXDOMAIN without a lookup', async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: tableLookup(calls) });
  const odd = Buffer.concat([buildQuery(1, 'x', TYPE.A).subarray(0, 12), Buffer.from('03612062' + '00' + '00010001', 'hex')]);
  t.is(rcodeOf(parseMessage((await s.handle(odd, 'udp'))!)), RCODE.NXDOMAIN);
  t.is(calls.length, 0);
});

test('stop() closes the listeners; start() with port 0 binds UDP and TCP on the same port', async (t) => {
  const s = new DnsServer({
    listen: [
      { host: '127.0.0.1', port: 0 },
      { host: '127.0.0.1', port: 0 },
    ],
    lookup: tableLookup(),
    upstreams: [],
  });
  const addrs = await s.start();
  t.is(addrs.length, 2);
  const r = await tcpAsk(addrs[1]!.port, [buildQuery(1, 'echo', TYPE.A)]);
  t.is(parseMessage(r[0]!).answers.length, 1);
  await s.stop();
  await t.throwsAsync(udpAsk(addrs[0]!.port, buildQuery(1, 'echo', TYPE.A), 300));
});

test('TCP: a query arriving one byte at a time is answered', async (t) => {
  const s = await server(t);
  const q = buildQuery(0x0102, 'echo', TYPE.A);
  const framed = Buffer.concat([Buffer.from([0, q.length]), q]);
  const answer = await new Promise<Buffer>((resolve, reject) => {
    const c = connect(s.addresses()[0]!.port, '127.0.0.1');
    const timer = setTimeout(() => (c.destroy(), reject(new Error('no answer'))), 3000);
    let buf: Buffer = Buffer.alloc(0);
    c.on('connect', async () => {
      for (const byte of framed) {
        c.write(Buffer.from([byte]));
        await new Promise((r) => setImmediate(r));
      }
    });
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        c.destroy();
        resolve(buf.subarray(2));
      }
    });
  });
  const m = parseMessage(answer);
  t.is(m.id, 0x0102);
  t.is(ipv4(m.answers[0]!.rdata), '10.96.0.20');
});

test('include-suffix and exclude-suffix reach the lookup and the upstream respectively', async (t) => {
  const u = await upstream(t);
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: tableLookup(calls), include: ['corp.internal'], exclude: ['legacy.default'] }, u);
  await ask(s, 'db.corp.internal');
  await ask(s, 'x.legacy.default');
  t.deepEqual(
    calls.map((c) => c.name),
    ['db.corp.internal'],
  );
  t.is(parseMessage(u.received[0]!.raw).questions[0]!.name, 'x.legacy.default');
});

test('forwarding to ourselves (a redirect that does not exempt us) is cut after one hop', async (t) => {
  // A port free for both UDP and TCP (the server wants both); other tests' sockets may hold one.
  let port = 0;
  for (let i = 0; i < 20 && port === 0; i++) {
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const p = probe.address().port;
    const tcp = createTcpServer();
    const free = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(p, '127.0.0.1', () => r(true));
    });
    if (free) await new Promise<void>((r) => tcp.close(() => r()));
    await new Promise<void>((r) => probe.close(() => r()));
    if (free) port = p;
  }
  const s = await server(t, { listen: { host: '127.0.0.1', port }, upstreams: [`127.0.0.1:${port}`], upstreamTimeoutMs: 300 });
  const r = await ask(s, 'example.test');
  t.is(rcodeOf(r), RCODE.SERVFAIL);
  t.is(s.stats.loops, 1);
  t.is(s.stats.forwarded, 1, 'the looped query was not forwarded again');
});

// ---- issue #16: every type, SOA on negative answers, reverse names ---------------------------

const SOA_DATA = {
  mname: 'ns.dns.cluster.local',
  rname: 'hostmaster.cluster.local',
  serial: 1700000000,
  refresh: 7200,
  retry: 1800,
  expire: 86400,
  minimum: 30,
};
const SOA_REC = { name: 'cluster.local', type: 'SOA', ttl: 30, data: SOA_DATA };

/** As the manager answers since #16: records of any type, the SOA with negative answers. */
function recordLookup(calls: DnsRequest[] = []): ClusterLookup {
  return async (req) => {
    calls.push(req);
    const canonical = req.name.startsWith('_') || req.name.endsWith('.arpa') ? req.name : `${req.name}.default.svc.cluster.local`;
    if (req.name === '_http._tcp.echo.default' && req.type === 'SRV') {
      return {
        canonical: '_http._tcp.echo.default.svc.cluster.local',
        addresses: [],
        rcode: 'NOERROR',
        ttl: 5,
        records: [
          {
            name: '_http._tcp.echo.default.svc.cluster.local',
            type: 'SRV',
            ttl: 30,
            data: { priority: 0, weight: 100, port: 80, target: 'echo.default.svc.cluster.local' },
          },
        ],
      };
    }
    if (req.name === 'dns-version.cluster.local' && req.type === 'TXT') {
      return {
        canonical: req.name,
        addresses: [],
        rcode: 'NOERROR',
        ttl: 5,
        records: [{ name: req.name, type: 'TXT', ttl: 30, data: { strings: ['1.1.0'] } }],
      };
    }
    if (req.name === 'ext' && req.type === 'A') {
      return {
        canonical,
        addresses: ['192.0.2.9'],
        rcode: 'NOERROR',
        ttl: 5,
        records: [
          { name: canonical, type: 'CNAME', ttl: 5, data: { target: 'db.example.test' } },
          { name: 'db.example.test', type: 'A', ttl: 5, data: { address: '192.0.2.9' } },
        ],
      };
    }
    if (req.name === '10.0.96.10.in-addr.arpa' && req.type === 'PTR') {
      return {
        canonical,
        addresses: [],
        rcode: 'NOERROR',
        ttl: 5,
        records: [{ name: canonical, type: 'PTR', ttl: 5, data: { target: 'echo.default.svc.cluster.local' } }],
      };
    }
    if (req.name === 'echo' && req.type === 'AAAA')
      return { canonical, addresses: [], rcode: 'NOERROR', ttl: 5, records: [], soa: SOA_REC };
    return { addresses: [], rcode: 'NXDOMAIN', ttl: 5, soa: SOA_REC };
  };
}

test("#16: SRV for a cluster name is the cluster's answer, owned by the name asked, TTL capped (RFC 2782)", async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: recordLookup(calls) });
  const r = await ask(s, '_http._tcp.Echo.default', TYPE.SRV);
  t.deepEqual(calls, [{ name: '_http._tcp.echo.default', type: 'SRV' }]);
  t.is(rcodeOf(r), RCODE.NOERROR);
  t.is(r.answers.length, 1);
  t.like(r.answers[0], { name: '_http._tcp.Echo.default', type: TYPE.SRV, ttl: 5 });
  const bytes = await raw(s, '_http._tcp.echo.default', TYPE.SRV);
  t.deepEqual(decodeRdata(bytes, parseMessage(bytes).answers[0]!), {
    priority: 0,
    weight: 100,
    port: 80,
    target: 'echo.default.svc.cluster.local',
  });
});

test('#16: TXT, and a CNAME chain whose further records keep their own names (RFC 1035 §3.6.2)', async (t) => {
  const s = await server(t, { lookup: recordLookup() });
  const txt = await ask(s, 'dns-version.cluster.local', TYPE.TXT);
  t.is(txt.answers[0]!.rdata.toString('latin1'), '\u00051.1.0');
  const chain = await ask(s, 'ext', TYPE.A);
  t.deepEqual(
    chain.answers.map((a) => [a.name, a.type]),
    [
      ['ext', TYPE.CNAME],
      ['db.example.test', TYPE.A],
    ],
  );
});

test("#16: NXDOMAIN and NODATA carry the zone's SOA with the TTL the cluster gave (RFC 2308 §3)", async (t) => {
  const s = await server(t, { lookup: recordLookup() });
  const nx = await ask(s, 'nosuch', TYPE.A);
  t.is(rcodeOf(nx), RCODE.NXDOMAIN);
  t.is(nx.answers.length, 0);
  t.like(nx.authorities[0], { name: 'cluster.local', type: TYPE.SOA, ttl: 30 });
  const nodata = await ask(s, 'echo', TYPE.AAAA);
  t.is(rcodeOf(nodata), RCODE.NOERROR);
  t.is(nodata.answers.length, 0);
  t.like(nodata.authorities[0], { name: 'cluster.local', type: TYPE.SOA });
});

test('#16: a record that does not fit its type is dropped, the rest of the answer stands', async (t) => {
  const s = await server(t, {
    lookup: async (req) => ({
      canonical: `${req.name}.default.svc.cluster.local`,
      addresses: [],
      rcode: 'NOERROR',
      ttl: 5,
      records: [
        { name: `${req.name}.default.svc.cluster.local`, type: 'A', ttl: 5, data: { address: 'fd00::1' } },
        { name: `${req.name}.default.svc.cluster.local`, type: 'A', ttl: 5, data: { address: '10.96.0.21' } },
        { name: 'bad name..x', type: 'A', ttl: 5, data: { address: '10.96.0.22' } },
        { name: `${req.name}.default.svc.cluster.local`, type: 'OPT', ttl: 5, data: { rdata: '' } },
        { name: `${req.name}.default.svc.cluster.local`, type: 'TYPE14', ttl: 5, data: { rdata: 'AA==' } },
      ],
    }),
  });
  const r = await ask(s, 'echo', TYPE.A);
  t.deepEqual(
    r.answers.map((a) => ipv4(a.rdata)),
    ['10.96.0.21'],
  );
});

test('#16: dig -x of a pod or Service IP goes to the cluster; a VNAT address is asked by its real one', async (t) => {
  const calls: DnsRequest[] = [];
  const u = await upstream(t);
  const s = await server(
    t,
    {
      lookup: recordLookup(calls),
      reverse: { subnets: ['10.96.0.0/12', '198.18.0.0/16'], except: [] },
      // 198.18.0.0/16 stands for the cluster's 10.96.0.0/16 (VNAT).
      realAddress: (ip) => (ip.startsWith('198.18.') ? ip.replace(/^198\.18\./, '10.96.') : ip),
    },
    u,
  );
  const direct = await ask(s, '10.0.96.10.in-addr.arpa', TYPE.PTR);
  t.like(direct.answers[0], { name: '10.0.96.10.in-addr.arpa', type: TYPE.PTR });
  const virtual = await ask(s, '10.0.18.198.in-addr.arpa', TYPE.PTR);
  t.is(rcodeOf(virtual), RCODE.NOERROR);
  t.like(virtual.answers[0], { name: '10.0.18.198.in-addr.arpa', type: TYPE.PTR }, 'owned by the name asked, not the real one');
  t.deepEqual(
    calls.map((c) => c.name),
    ['10.0.96.10.in-addr.arpa', '10.0.96.10.in-addr.arpa'],
  );
  await ask(s, '1.0.168.192.in-addr.arpa', TYPE.PTR);
  t.is(u.received.length, 1, 'a reverse name outside the subnets went upstream');
});

test('#16: zone transfers and meta-types for a cluster name are REFUSED without a lookup', async (t) => {
  const calls: DnsRequest[] = [];
  const s = await server(t, { lookup: recordLookup(calls) });
  for (const type of [252 /* AXFR */, 251 /* IXFR */, 255 - 1 /* MAILA */])
    t.is(rcodeOf(await ask(s, 'echo.default', type)), RCODE.REFUSED);
  t.deepEqual(calls, []);
});

const raw = async (s: DnsServer, name: string, type: number) => (await s.handle(buildQuery(7, name, type), 'udp'))!;
