// The record codec of lib/common/dns/message.ts (issue #16): what the manager decodes from the
// cluster's DNS and the root daemon writes back, type by type, with the clause each follows.
import test from 'ava';
import type { DnsRecordData } from '../../../../lib/common/rpc/manager.js';
import {
  ParseError,
  RCODE,
  TYPE,
  buildQuery,
  buildReply,
  decodeRdata,
  encodeName,
  encodeRdata,
  parseMessage,
  questionSectionEnd,
  rcodeOf,
  readName,
  typeName,
  typeNumber,
  type ResourceRecord,
} from '../../../../lib/common/dns/message.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A response to `qname`/`qtype` whose answer section is one record owned by the question's name
 * (a pointer to offset 12) with `rdata` as given — rdata may point back into the message. */
function answerWith(qname: string, qtype: number, rdata: Buffer): { raw: Buffer; rr: ResourceRecord } {
  const q = buildQuery(0x1111, qname, qtype);
  q.writeUInt16BE(0x8180, 2);
  q.writeUInt16BE(1, 6);
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(qtype, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(30, 6);
  rr.writeUInt16BE(rdata.length, 10);
  const raw = Buffer.concat([q, rr, rdata]);
  return { raw, rr: parseMessage(raw).answers[0]! };
}
const decode = (qname: string, qtype: number, rdata: Buffer) => {
  const { raw, rr } = answerWith(qname, qtype, rdata);
  return decodeRdata(raw, rr);
};
const roundTrip = (type: number, data: DnsRecordData) => decode('x.test', type, encodeRdata(type, data));

test('SRV (RFC 2782): priority, weight, port and target; a target compressed against the question is expanded (RFC 3597 §4)', (t) => {
  // _http._tcp.echo.a.svc.cluster.local SRV 0 100 80 → pointer to "echo…" inside the question.
  const qname = '_http._tcp.echo.a.svc.cluster.local';
  const echoAt = 12 + 1 + 5 + 1 + 4; // after the labels _http and _tcp
  const rdata = Buffer.concat([hex('0000 0064 0050'), Buffer.from([0xc0, echoAt])]);
  t.deepEqual(decode(qname, TYPE.SRV, rdata), { priority: 0, weight: 100, port: 80, target: 'echo.a.svc.cluster.local' });
  t.deepEqual(
    encodeRdata(TYPE.SRV, { priority: 1, weight: 2, port: 8080, target: 'db.b' }),
    hex('0001 0002 1f90 02 6462 01 62 00'),
    'written uncompressed',
  );
  t.deepEqual(roundTrip(TYPE.SRV, { priority: 10, weight: 5, port: 53, target: 'kube-dns.kube-system.svc.cluster.local' }), {
    priority: 10,
    weight: 5,
    port: 53,
    target: 'kube-dns.kube-system.svc.cluster.local',
  });
  t.throws(() => encodeRdata(TYPE.SRV, { priority: 1, weight: 2, port: 70000, target: 'x' } as DnsRecordData), { instanceOf: RangeError });
});

test('TXT (RFC 1035 §3.3.14): several <character-string>s, any octets, an empty one too (§3.3)', (t) => {
  const rdata = Buffer.concat([Buffer.from([5]), Buffer.from('1.1.0'), Buffer.from([0]), Buffer.from([2, 0xe9, 0x00])]);
  t.deepEqual(decode('dns-version.cluster.local', TYPE.TXT, rdata), { strings: ['1.1.0', '', '\u00e9\u0000'] });
  t.deepEqual(encodeRdata(TYPE.TXT, { strings: ['1.1.0', '', '\u00e9\u0000'] }), rdata, 'latin1 text is the octets');
  t.throws(() => encodeRdata(TYPE.TXT, { strings: ['x'.repeat(256)] }), { instanceOf: RangeError }, 'a character-string holds 255 octets');
  t.throws(
    () => encodeRdata(TYPE.TXT, { strings: ['\u20ac'] }),
    { instanceOf: RangeError },
    'a character beyond one octet is refused, not truncated',
  );
  t.throws(() => encodeRdata(TYPE.TXT, { strings: [] }), { instanceOf: RangeError });
  const err = t.throws(() => decode('t.test', TYPE.TXT, Buffer.from([9, 0x41])), { instanceOf: ParseError });
  t.is(err.code, 'E_DNS_RDATA');
});

test('PTR (RFC 1035 §3.3.12) and CNAME (§3.3.1): one name, compressed or not; bytes after it are malformed', (t) => {
  const rev = '5.0.96.10.in-addr.arpa';
  const target = Buffer.concat([encodeName('echo.a.svc.cluster.local')]);
  t.deepEqual(decode(rev, TYPE.PTR, target), { target: 'echo.a.svc.cluster.local' });
  // A CNAME whose target is "svc." + a pointer to "cluster.local" in the question.
  const qname = 'ext.a.svc.cluster.local';
  const clusterAt = 12 + 4 + 2 + 4; // after ext, a, svc
  t.deepEqual(decode(qname, TYPE.CNAME, Buffer.concat([hex('02 6462'), Buffer.from([0xc0, clusterAt])])), { target: 'db.cluster.local' });
  t.throws(() => decode(qname, TYPE.CNAME, Buffer.concat([encodeName('x.test'), Buffer.from([0])])), {
    instanceOf: ParseError,
    message: /1 byte after the name/,
  });
  t.throws(() => decode(qname, TYPE.PTR, Buffer.alloc(0)), { instanceOf: ParseError });
  t.deepEqual(roundTrip(TYPE.PTR, { target: '10-244-0-5.echo.a.svc.cluster.local' }), { target: '10-244-0-5.echo.a.svc.cluster.local' });
});

test('a name inside rdata may not run past the record (RFC 1035 §4.1.3: RDLENGTH bounds it)', (t) => {
  // RDLENGTH 2 covers only the first label's length and one byte; the rest follows outside.
  const q = buildQuery(1, 'a.test', TYPE.PTR);
  q.writeUInt16BE(0x8180, 2);
  q.writeUInt16BE(2, 6);
  const rr1 = Buffer.concat([hex('c00c 000c 0001 0000001e 0002'), hex('0378')]);
  const rr2 = Buffer.concat([hex('c00c 0001 0001 0000001e 0004 0a000001')]);
  const raw = Buffer.concat([q, rr1, rr2]);
  const m = parseMessage(raw);
  t.throws(() => decodeRdata(raw, m.answers[0]!), { instanceOf: ParseError });
});

test('SOA (RFC 1035 §3.3.13): MNAME, RNAME and the five counters; the authority record of a negative answer', (t) => {
  const data = {
    mname: 'ns.dns.cluster.local',
    rname: 'hostmaster.cluster.local',
    serial: 1700000000,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: 5,
  };
  const bytes = encodeRdata(TYPE.SOA, data);
  t.is(bytes.length, encodeName(data.mname).length + encodeName(data.rname).length + 20);
  t.deepEqual(roundTrip(TYPE.SOA, data), data);
  t.throws(() => decode('cluster.local', TYPE.SOA, bytes.subarray(0, bytes.length - 1)), { instanceOf: ParseError, message: /not 20/ });
  t.throws(() => encodeRdata(TYPE.SOA, { ...data, minimum: -1 }), { instanceOf: RangeError });
});

test('A (RFC 1035 §3.4.1), AAAA (RFC 3596 §2.2), MX (§3.3.9): fixed sizes, addresses in presentation form', (t) => {
  t.deepEqual(roundTrip(TYPE.A, { address: '10.96.0.10' }), { address: '10.96.0.10' });
  t.deepEqual(roundTrip(TYPE.AAAA, { address: 'fd00::a' }), { address: 'fd00::a' });
  t.throws(() => decode('x.test', TYPE.A, Buffer.alloc(5)), { instanceOf: ParseError });
  t.throws(() => encodeRdata(TYPE.A, { address: 'fd00::a' }), { instanceOf: RangeError }, 'an A record holds IPv4 only');
  t.deepEqual(roundTrip(TYPE.MX, { preference: 10, exchange: 'mail.a.svc.cluster.local' }), {
    preference: 10,
    exchange: 'mail.a.svc.cluster.local',
  });
});

test('other types (RFC 3597 §4): opaque bytes; obsolete types with compressible names are not passed on', (t) => {
  t.deepEqual(decode('x.test', TYPE.CAA, hex('0005 697373756572')), { rdata: Buffer.from(hex('0005 697373756572')).toString('base64') });
  t.deepEqual(encodeRdata(TYPE.CAA, { rdata: 'AAU=' }), hex('0005'));
  t.is(decode('x.test', 14 /* MINFO */, Buffer.concat([encodeName('a'), encodeName('b')])), undefined);
  t.throws(() => encodeRdata(14, { rdata: '' }), { instanceOf: RangeError });
  t.throws(() => encodeRdata(TYPE.CAA, { rdata: 'not base64!' }), { instanceOf: RangeError });
});

test('type names: mnemonics both ways, TYPEnnn for the rest (RFC 3597 §5)', (t) => {
  t.is(typeNumber('srv'), TYPE.SRV);
  t.is(typeNumber('TYPE33'), 33);
  t.is(typeName(33), 'SRV');
  t.is(typeName(65280), 'TYPE65280');
  t.is(typeNumber('TYPE65280'), 65280);
  t.is(typeNumber('TYPE0'), undefined);
  t.is(typeNumber('TYPE65536'), undefined);
  t.is(typeNumber('NOPE'), undefined);
});

test('encodeName reads the escapes readName writes (RFC 1035 §5.1): a dot inside a label stays one label', (t) => {
  t.deepEqual(encodeName('a\\.b.c'), hex('03 612e62 01 63 00'));
  t.deepEqual(encodeName('\\000\\255x.y'), hex('03 00ff78 01 79 00'));
  t.deepEqual(encodeName('.'), hex('00'), 'the root');
  const weird = Buffer.concat([hex('04 2e5c2001'), encodeName('test')]);
  const back = readName(Buffer.concat([Buffer.alloc(12), weird]), 12).name;
  t.is(back, '\\046\\092\\032\\001.test');
  t.deepEqual(encodeName(back), weird);
  t.throws(() => encodeName('a..b'), { instanceOf: RangeError });
  t.throws(() => encodeName('\\256.x'), { instanceOf: RangeError });
  t.throws(() => encodeName(`${'a'.repeat(64)}.x`), { instanceOf: RangeError });
});

test('buildReply: records under their own names and an SOA in the authority section (RFC 2308 §3)', (t) => {
  const q = buildQuery(0x2222, 'Nosuch.A', TYPE.A);
  const soa = encodeRdata(TYPE.SOA, {
    mname: 'ns.dns.cluster.local',
    rname: 'hostmaster.cluster.local',
    serial: 1,
    refresh: 2,
    retry: 3,
    expire: 4,
    minimum: 5,
  });
  const r = parseMessage(
    buildReply(q, questionSectionEnd(q), {
      rcode: RCODE.NXDOMAIN,
      authorities: [{ owner: 'cluster.local', type: TYPE.SOA, ttl: 5, rdata: soa }],
    }),
  );
  t.is(rcodeOf(r), RCODE.NXDOMAIN);
  t.is(r.answers.length, 0);
  t.is(r.authorities.length, 1);
  t.like(r.authorities[0], { name: 'cluster.local', type: TYPE.SOA, ttl: 5 });
  const chain = parseMessage(
    buildReply(q, questionSectionEnd(q), {
      rcode: RCODE.NOERROR,
      answers: [
        { type: TYPE.CNAME, ttl: 5, rdata: encodeName('db.b.svc.cluster.local') },
        { owner: 'db.b.svc.cluster.local', type: TYPE.A, ttl: 5, rdata: hex('0a000001') },
      ],
    }),
  );
  t.deepEqual(
    chain.answers.map((a) => [a.name, a.type]),
    [
      ['Nosuch.A', TYPE.CNAME],
      ['db.b.svc.cluster.local', TYPE.A],
    ],
  );
});

test("buildReply: an authority record that does not fit the asker's size is left out with TC (RFC 2181 §9)", (t) => {
  const q = buildQuery(3, 'x.a', TYPE.TXT);
  const big = encodeRdata(TYPE.TXT, { strings: ['y'.repeat(255)] });
  const soa = encodeRdata(TYPE.SOA, {
    mname: 'ns.dns.cluster.local',
    rname: 'hostmaster.cluster.local',
    serial: 1,
    refresh: 2,
    retry: 3,
    expire: 4,
    minimum: 5,
  });
  const raw = buildReply(q, questionSectionEnd(q), {
    rcode: RCODE.NOERROR,
    answers: [{ type: TYPE.TXT, ttl: 5, rdata: big }],
    authorities: [{ owner: 'cluster.local', type: TYPE.SOA, ttl: 5, rdata: soa }],
    maxSize: 320,
  });
  const r = parseMessage(raw);
  t.true((r.flags & 0x0200) !== 0);
  t.is(r.answers.length, 1);
  t.is(r.authorities.length, 0);
  t.true(raw.length <= 320);
});

test('decodeRdata on arbitrary bytes yields a value, undefined or a ParseError, nothing else (fuzz, fixed seed)', (t) => {
  let seed = 0x16;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  let values = 0;
  for (let i = 0; i < 3000; i++) {
    const type = [TYPE.A, TYPE.AAAA, TYPE.CNAME, TYPE.PTR, TYPE.MX, TYPE.SRV, TYPE.SOA, TYPE.TXT, TYPE.CAA, 14][i % 10]!;
    const rdata = Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => (rnd() < 0.2 ? 0xc0 : Math.floor(rnd() * 256))));
    try {
      if (decode('fuzz.test', type, rdata) !== undefined) values++;
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
    }
  }
  t.true(values > 0);
});
