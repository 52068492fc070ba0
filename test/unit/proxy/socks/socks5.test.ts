import test from 'ava';
import {
  Atyp,
  buildReply,
  buildUdpHeader,
  chooseMethod,
  Cmd,
  encodeAddr,
  Method,
  methodReply,
  parseGreeting,
  parseRequest,
  parseUdpHeader,
  parseUserPass,
  Rep,
  SOCKS4_REJECT,
  userPassReply,
  type Parsed,
} from '../../../../lib/proxy/socks/socks5.js';

const b = (...xs: number[]) => Buffer.from(xs);
const port80 = [0x00, 0x50];

/** Every strict prefix of a complete message must ask for more, never fail or succeed early. */
function assertPrefixesNeedMore<T>(t: import('ava').ExecutionContext, parse: (x: Buffer) => Parsed<T>, msg: Buffer) {
  for (let i = 0; i < msg.length; i++) t.is(parse(msg.subarray(0, i)).status, 'more', `prefix of ${i} bytes`);
}

// --- greeting ---

test('greeting: methods are listed and the length covers exactly VER NMETHODS METHODS', (t) => {
  const msg = b(5, 2, 0, 2, 0xaa);
  t.deepEqual(parseGreeting(msg), { status: 'ok', value: { methods: [0, 2] }, length: 4 });
  assertPrefixesNeedMore(t, parseGreeting, msg.subarray(0, 4));
});

test('greeting: a version other than 5 is bad', (t) => {
  t.is(parseGreeting(b(4, 1, 0)).status, 'bad');
  t.is(parseGreeting(b(0x47)).status, 'bad'); // "G" of an HTTP request
});

test('greeting: zero methods parses and leaves nothing acceptable', (t) => {
  const r = parseGreeting(b(5, 0));
  t.deepEqual(r, { status: 'ok', value: { methods: [] }, length: 2 });
  t.is(chooseMethod([], false), Method.NO_ACCEPTABLE);
});

test('method: no-auth without credentials, username/password with them, never no-auth then', (t) => {
  t.is(chooseMethod([0, 2], false), Method.NO_AUTH);
  t.is(chooseMethod([2], false), Method.NO_ACCEPTABLE);
  t.is(chooseMethod([0, 2], true), Method.USER_PASS);
  t.is(chooseMethod([0], true), Method.NO_ACCEPTABLE);
  t.is(chooseMethod([1], true), Method.NO_ACCEPTABLE); // GSSAPI
  t.deepEqual(methodReply(0xff), b(5, 0xff));
});

// --- username/password ---

test('userpass: RFC 1929 message parses into username and password', (t) => {
  const msg = Buffer.concat([b(1, 4), Buffer.from('user'), b(6), Buffer.from('secret')]);
  t.deepEqual(parseUserPass(msg), { status: 'ok', value: { username: 'user', password: 'secret' }, length: msg.length });
  assertPrefixesNeedMore(t, parseUserPass, msg);
});

test('userpass: an empty password (curl --proxy-user "u:") parses', (t) => {
  t.deepEqual(parseUserPass(b(1, 1, 0x75, 0)), { status: 'ok', value: { username: 'u', password: '' }, length: 4 });
});

test('userpass: sub-negotiation version other than 1 is bad', (t) => {
  t.is(parseUserPass(b(5, 1, 0x75, 1, 0x70)).status, 'bad');
});

test('userpass: replies are 0x01 0x00 on success and 0x01 0x01 on failure', (t) => {
  t.deepEqual(userPassReply(true), b(1, 0));
  t.deepEqual(userPassReply(false), b(1, 1));
});

// --- requests ---

test('request: CONNECT to an IPv4 address', (t) => {
  const msg = b(5, 1, 0, 1, 10, 96, 0, 10, ...port80);
  t.deepEqual(parseRequest(msg), { status: 'ok', value: { cmd: Cmd.CONNECT, atyp: Atyp.IPV4, host: '10.96.0.10', port: 80 }, length: 10 });
  assertPrefixesNeedMore(t, parseRequest, msg);
});

test('request: CONNECT to an IPv6 address, printed in RFC 5952 form', (t) => {
  const addr = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const msg = b(5, 1, 0, 4, ...addr, 0x1f, 0x90);
  t.deepEqual(parseRequest(msg), { status: 'ok', value: { cmd: Cmd.CONNECT, atyp: Atyp.IPV6, host: 'fd00::1', port: 8080 }, length: 22 });
  assertPrefixesNeedMore(t, parseRequest, msg);
});

test('request: a DOMAINNAME stays a name (resolved in the cluster, socks5h)', (t) => {
  const name = Buffer.from('echo.default.svc.cluster.local');
  const msg = Buffer.concat([b(5, 1, 0, 3, name.length), name, b(...port80)]);
  t.deepEqual(parseRequest(msg), {
    status: 'ok',
    value: { cmd: Cmd.CONNECT, atyp: Atyp.DOMAIN, host: name.toString(), port: 80 },
    length: msg.length,
  });
  assertPrefixesNeedMore(t, parseRequest, msg);
});

test('request: bytes after the request are not consumed', (t) => {
  const msg = b(5, 1, 0, 1, 127, 0, 0, 1, ...port80, 0x47, 0x45, 0x54);
  const r = parseRequest(msg);
  t.is(r.status === 'ok' && r.length, 10);
});

test('request: UDP ASSOCIATE with 0.0.0.0:0 parses', (t) => {
  const r = parseRequest(b(5, 3, 0, 1, 0, 0, 0, 0, 0, 0));
  t.deepEqual(r, { status: 'ok', value: { cmd: Cmd.UDP_ASSOCIATE, atyp: Atyp.IPV4, host: '0.0.0.0', port: 0 }, length: 10 });
});

test('request: BIND is answered 0x07 (command not supported)', (t) => {
  const r = parseRequest(b(5, 2, 0, 1, 127, 0, 0, 1, ...port80));
  t.like(r, { status: 'bad', reply: Rep.COMMAND_NOT_SUPPORTED });
});

test('request: an unknown command is answered 0x07 as soon as CMD is read', (t) => {
  t.like(parseRequest(b(5, 9)), { status: 'bad', reply: Rep.COMMAND_NOT_SUPPORTED });
});

test('request: an unknown address type is answered 0x08', (t) => {
  t.like(parseRequest(b(5, 1, 0, 2, 1, 2, 3, 4, ...port80)), { status: 'bad', reply: Rep.ADDRESS_TYPE_NOT_SUPPORTED });
  t.like(parseRequest(b(5, 1, 0, 0xff)), { status: 'bad', reply: Rep.ADDRESS_TYPE_NOT_SUPPORTED });
});

test('request: a wrong version is answered 0x01 (general failure)', (t) => {
  t.like(parseRequest(b(4, 1, 0, 1, 127, 0, 0, 1, ...port80)), { status: 'bad', reply: Rep.GENERAL_FAILURE });
});

test('request: an empty domain name is answered 0x01', (t) => {
  t.like(parseRequest(b(5, 1, 0, 3, 0, ...port80)), { status: 'bad', reply: Rep.GENERAL_FAILURE });
});

test('request: a domain name with spaces, controls or high bytes is answered 0x01', (t) => {
  for (const name of ['a b', 'a\nb', 'a\u0000', 'é.default']) {
    const n = Buffer.from(name, 'latin1');
    t.like(parseRequest(Buffer.concat([b(5, 1, 0, 3, n.length), n, b(...port80)])), { status: 'bad', reply: Rep.GENERAL_FAILURE }, name);
  }
});

// --- replies ---

test('reply: failures carry 0.0.0.0:0', (t) => {
  t.deepEqual(buildReply(Rep.CONNECTION_REFUSED), b(5, 5, 0, 1, 0, 0, 0, 0, 0, 0));
});

test('reply: success carries the bound IPv4 or IPv6 address and port', (t) => {
  t.deepEqual(buildReply(Rep.SUCCEEDED, { host: '127.0.0.1', port: 1080 }), b(5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38));
  t.deepEqual(buildReply(Rep.SUCCEEDED, { host: '::1', port: 1 }), b(5, 0, 0, 4, ...new Array(15).fill(0), 1, 0, 1));
});

test('reply: every reply code is encoded in the REP byte', (t) => {
  for (const code of Object.values(Rep)) t.is(buildReply(code)[1], code);
});

test('encodeAddr: names are DOMAINNAME with a length byte; over 255 bytes is refused', (t) => {
  t.deepEqual(encodeAddr('ab', 53), b(3, 2, 0x61, 0x62, 0, 53));
  t.throws(() => encodeAddr('a'.repeat(256), 1), { instanceOf: RangeError });
});

// --- UDP header ---

test('udp header: round trip for IPv4, IPv6 and names, with the data offset', (t) => {
  for (const [host, atyp] of [
    ['10.0.0.1', Atyp.IPV4],
    ['fd00::53', Atyp.IPV6],
    ['dns.kube-system', Atyp.DOMAIN],
  ] as const) {
    const dgram = Buffer.concat([buildUdpHeader(host, 53), Buffer.from('query')]);
    const r = parseUdpHeader(dgram);
    t.is(r.status, 'ok');
    if (r.status !== 'ok') continue;
    t.like(r.value, { frag: 0, atyp, host, port: 53 });
    t.is(dgram.subarray(r.value.dataOffset).toString(), 'query');
  }
});

test('udp header: FRAG is reported so the relay can drop fragments', (t) => {
  const r = parseUdpHeader(b(0, 0, 1, 1, 127, 0, 0, 1, 0, 53, 0x41));
  t.like(r, { status: 'ok', value: { frag: 1 } });
});

test('udp header: a truncated datagram is bad, never "more"', (t) => {
  const full = Buffer.concat([buildUdpHeader('10.0.0.1', 53)]);
  for (let i = 0; i < full.length; i++) t.is(parseUdpHeader(full.subarray(0, i)).status, 'bad', `${i} bytes`);
  t.is(parseUdpHeader(full).status, 'ok'); // an empty payload is a valid datagram
});

test('udp header: an unknown address type is bad', (t) => {
  t.is(parseUdpHeader(b(0, 0, 0, 7, 1, 2, 3, 4, 0, 53)).status, 'bad');
});

test('socks4: the reject reply is VN 0, CD 0x5B', (t) => {
  t.is(SOCKS4_REJECT[0], 0);
  t.is(SOCKS4_REJECT[1], 0x5b);
  t.is(SOCKS4_REJECT.length, 8);
});

// --- fuzz ---

test('fuzz: random input never throws and "ok" lengths stay in bounds', (t) => {
  let seed = 0x2545f491;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const parsers = [parseGreeting, parseUserPass, parseRequest, parseUdpHeader] as ((x: Buffer) => Parsed<unknown>)[];
  for (let i = 0; i < 20_000; i++) {
    const len = rnd() % 40;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = rnd();
    // Bias towards valid-looking headers so deeper branches are reached.
    if (len > 0 && i % 2 === 0) buf[0] = i % 4 === 0 ? 5 : 1;
    if (len > 3 && i % 3 === 0) buf[3] = [1, 3, 4][i % 3]!;
    for (const parse of parsers) {
      const r = parse(buf);
      if (r.status === 'ok' && (r.length > buf.length || r.length <= 0)) t.fail(`bad length ${r.length} for ${buf.toString('hex')}`);
    }
  }
  t.pass();
});
