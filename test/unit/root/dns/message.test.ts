import test from 'ava';
import {
  ParseError,
  RCODE,
  TYPE,
  buildQuery,
  buildReply,
  encodeName,
  isTruncated,
  parseMessage,
  questionSectionEnd,
  rcodeOf,
  readName,
  recursionAvailable,
  recursionDesired,
  tryParse,
} from '../../../../lib/root/dns/message.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// `echo.default` A, ID 0x1234, RD — as dig sends it without +edns.
const QUERY = hex(`
  1234 0100 0001 0000 0000 0000
  04 6563686f 07 64656661756c74 00
  0001 0001`);

test('buildQuery: known bytes of an A query with RD', (t) => {
  t.deepEqual(buildQuery(0x1234, 'echo.default', TYPE.A), QUERY);
  t.deepEqual(buildQuery(0x1234, 'echo.default.', TYPE.A), QUERY, 'a trailing dot changes nothing');
});

test('parseMessage: header and question of a hand-made query', (t) => {
  const m = parseMessage(QUERY);
  t.is(m.id, 0x1234);
  t.true(recursionDesired(m));
  t.deepEqual(m.questions, [{ name: 'echo.default', type: TYPE.A, cls: 1 }]);
  t.deepEqual([m.answers.length, m.authorities.length, m.additionals.length], [0, 0, 0]);
  t.is(m.edns, undefined);
});

test('buildReply: known bytes of an A answer (ID, RD and question copied; QR, RA set; pointer to the question)', (t) => {
  const r = buildReply(QUERY, questionSectionEnd(QUERY), {
    rcode: RCODE.NOERROR,
    answers: [{ type: TYPE.A, ttl: 5, rdata: Buffer.from([10, 0, 0, 1]) }],
  });
  t.deepEqual(
    r,
    hex(`
    1234 8180 0001 0001 0000 0000
    04 6563686f 07 64656661756c74 00 0001 0001
    c00c 0001 0001 00000005 0004 0a000001`),
  );
});

test('buildReply → parseMessage round trip: AAAA, NXDOMAIN, SERVFAIL, empty NOERROR', (t) => {
  const q = buildQuery(7, 'Echo.Default', TYPE.AAAA);
  const v6 = Buffer.alloc(16);
  v6[0] = 0xfd;
  v6[15] = 1;
  const ok = parseMessage(
    buildReply(q, questionSectionEnd(q), { rcode: RCODE.NOERROR, answers: [{ type: TYPE.AAAA, ttl: 3, rdata: v6 }] }),
  );
  t.is(ok.id, 7);
  t.true(recursionAvailable(ok));
  t.is(ok.answers[0]!.name, 'Echo.Default', 'the owner is the question, case preserved');
  t.deepEqual(ok.answers[0]!.rdata, v6);
  t.is(ok.answers[0]!.ttl, 3);
  for (const rcode of [RCODE.NXDOMAIN, RCODE.SERVFAIL, RCODE.NOERROR]) {
    const m = parseMessage(buildReply(q, questionSectionEnd(q), { rcode }));
    t.is(rcodeOf(m), rcode);
    t.is(m.answers.length, 0);
    t.deepEqual(m.questions, [{ name: 'Echo.Default', type: TYPE.AAAA, cls: 1 }]);
  }
});

test('EDNS0: the OPT record is lifted out of the additionals; the reply carries one with ext-rcode', (t) => {
  const q = buildQuery(9, 'x.test', TYPE.A, { edns: { udpSize: 4096, options: hex('000a 0008 0102030405060708') } });
  const m = parseMessage(q);
  t.is(m.edns?.udpSize, 4096);
  t.is(m.edns?.version, 0);
  t.deepEqual(m.edns?.options, hex('000a 0008 0102030405060708'));
  t.is(m.additionals.length, 0);
  const r = parseMessage(buildReply(q, questionSectionEnd(q), { rcode: RCODE.BADVERS, edns: { udpSize: 1232 } }));
  t.is(r.edns?.udpSize, 1232);
  t.is(rcodeOf(r), RCODE.BADVERS, 'BADVERS (16) needs the OPT record’s upper rcode bits');
});

test('buildReply sets TC and drops what does not fit the asker’s size (RFC 2181 §9)', (t) => {
  const q = buildQuery(1, 'many', TYPE.A);
  const answers = Array.from({ length: 100 }, (_, i) => ({ type: TYPE.A, ttl: 5, rdata: Buffer.from([10, 0, 0, i]) }));
  const raw = buildReply(q, questionSectionEnd(q), { rcode: 0, answers, maxSize: 512 });
  t.true(raw.length <= 512);
  const m = parseMessage(raw);
  t.true(isTruncated(m));
  t.true(m.answers.length > 0 && m.answers.length < 100);
});

test('readName follows backward compression pointers', (t) => {
  // question `a.example` at 12; answer owner `www` + pointer to `example` (offset 14).
  const msg = Buffer.concat([
    hex('0001 8180 0001 0001 0000 0000'),
    hex('01 61 07 6578616d706c65 00 0001 0001'),
    hex('03 777777 c00e 0005 0001 0000003c 0002 c00c'),
  ]);
  const m = parseMessage(msg);
  t.is(m.answers[0]!.name, 'www.example');
  t.is(readName(msg, m.answers[0]!.rdata.byteOffset - msg.byteOffset).name, 'a.example', 'CNAME rdata is a pointer too');
});

test('a compression pointer to itself is rejected, not followed forever', (t) => {
  const loop = Buffer.concat([hex('0001 0100 0001 0000 0000 0000'), hex('01 61 c00e 0001 0001')]);
  const err = t.throws(() => parseMessage(loop), { instanceOf: ParseError });
  t.is(err?.code, 'E_DNS_POINTER');
});

test('a forward pointer (the first half of any loop) and a pointer into the header are rejected', (t) => {
  const fwd = Buffer.concat([hex('0001 0100 0001 0000 0000 0000'), hex('c00e 01 61 00 0001 0001')]);
  t.is((tryParse(fwd) as ParseError).code, 'E_DNS_POINTER');
  const intoHeader = Buffer.concat([hex('0001 0100 0001 0000 0000 0000'), hex('c002 0001 0001')]);
  t.is((tryParse(intoHeader) as ParseError).code, 'E_DNS_POINTER');
});

test('names longer than 255 octets and label types 01/10 are rejected', (t) => {
  const long = Buffer.concat([
    hex('0001 0100 0001 0000 0000 0000'),
    ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])),
    hex('00 0001 0001'),
  ]);
  t.is((tryParse(long) as ParseError).code, 'E_DNS_NAME_TOO_LONG');
  const ext = Buffer.concat([hex('0001 0100 0001 0000 0000 0000'), hex('41 00 0001 0001')]);
  t.is((tryParse(ext) as ParseError).code, 'E_DNS_LABEL');
});

test('every truncation of a valid message is a ParseError, never a throw of anything else', (t) => {
  const q = buildQuery(3, 'echo.default.svc.cluster.local', TYPE.A, { edns: { udpSize: 1232 } });
  const full = buildReply(q, questionSectionEnd(q), {
    rcode: 0,
    answers: [{ type: TYPE.A, ttl: 5, rdata: Buffer.from([1, 2, 3, 4]) }],
    edns: { udpSize: 1232 },
  });
  t.notThrows(() => parseMessage(full));
  for (let n = 0; n < full.length; n++) t.true(tryParse(full.subarray(0, n)) instanceof ParseError, `prefix of ${n} bytes`);
  t.is((tryParse(Buffer.concat([full, Buffer.from([0])])) as ParseError).code, 'E_DNS_TRAILING');
});

test('counts that promise more records than the bytes can hold are rejected before looping', (t) => {
  t.is((tryParse(hex('0001 0100 ffff ffff ffff ffff')) as ParseError).code, 'E_DNS_SHORT');
});

test('labels with a dot or non-printable bytes are escaped, so they cannot pass for two labels', (t) => {
  const odd = Buffer.concat([hex('0001 0100 0001 0000 0000 0000'), hex('03 612e62 07 64656661756c74 00 0001 0001')]);
  t.is(parseMessage(odd).questions[0]!.name, 'a\\046b.default');
});

test('fuzz: random mutations of real messages give a value or a ParseError', (t) => {
  // A fixed-seed xorshift keeps failures reproducible.
  let s = 0x9e3779b9;
  const rnd = (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
  const q = buildQuery(3, 'echo.default', TYPE.A, { edns: { udpSize: 1232 } });
  const seeds = [
    q,
    buildReply(q, questionSectionEnd(q), {
      rcode: 0,
      answers: [
        { type: TYPE.A, ttl: 5, rdata: Buffer.from([1, 2, 3, 4]) },
        { type: TYPE.A, ttl: 5, rdata: Buffer.from([5, 6, 7, 8]) },
      ],
      edns: { udpSize: 1232 },
    }),
    Buffer.concat([
      hex('0001 8180 0001 0001 0000 0000'),
      hex('01 61 07 6578616d706c65 00 0001 0001'),
      hex('03 777777 c00e 0005 0001 0000003c 0002 c00c'),
    ]),
  ];
  let values = 0;
  let errors = 0;
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(seeds[i % seeds.length]!);
    for (let k = 1 + rnd(4); k > 0; k--) b[rnd(b.length)] = rnd(256);
    const r = tryParse(b.subarray(0, b.length - rnd(3)));
    if (r instanceof ParseError) errors++;
    else values++;
  }
  t.true(values > 0 && errors > 0, `${values} values, ${errors} errors`);
});

test('encodeName refuses empty and over-long labels', (t) => {
  t.throws(() => encodeName('a..b'), { instanceOf: RangeError });
  t.throws(() => encodeName('x'.repeat(64)), { instanceOf: RangeError });
  t.deepEqual(encodeName(''), Buffer.from([0]));
});
