import test from 'ava';
import {
  BodyFramer,
  DEFAULT_LIMITS,
  HeadCollector,
  HttpParseError,
  keepsAlive,
  parseRequestHead,
  parseResponseHead,
  requestBody,
  responseBody,
  sniffHttp,
  wantsSwitch,
  expectsContinue,
  type BodyKind,
} from '../../../../lib/agent/http/parse.js';

const B = (s: string) => Buffer.from(s, 'latin1');

/** Feed `input` split at every byte; returns each head and the bytes after the last one. */
function collectHeads(input: Buffer, kind: 'request' | 'response' = 'request', step = 1) {
  const heads: Buffer[] = [];
  let c = new HeadCollector(kind);
  let rest = Buffer.alloc(0);
  for (let i = 0; i < input.length; i += step) {
    let chunk = input.subarray(i, i + step);
    for (;;) {
      const got = c.push(chunk);
      if (!got) break;
      heads.push(got.head);
      c = new HeadCollector(kind);
      chunk = got.rest;
      if (chunk.length === 0) break;
    }
  }
  return { heads, partial: c.size, rest };
}

/** Frame a body fed byte by byte; returns the body bytes and what follows. */
function frameAll(kind: BodyKind, input: Buffer, step = 1) {
  const f = new BodyFramer(kind);
  let taken = 0;
  for (let i = 0; i < input.length && !f.done; i += step) {
    const chunk = input.subarray(i, Math.min(i + step, input.length));
    taken += f.feed(chunk);
  }
  return { done: f.done, body: input.subarray(0, taken), after: input.subarray(taken) };
}

const status = (fn: () => unknown): number => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpParseError) return e.status;
    throw e;
  }
  return 0;
};

const GET = 'GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: One\r\nx-mixed-case:  two \r\n\r\n';

test('head: split at every byte, the head is found exactly and fields keep case and order', (t) => {
  const { heads } = collectHeads(B(GET));
  t.is(heads.length, 1);
  t.is(heads[0]!.toString('latin1'), GET);
  const h = parseRequestHead(heads[0]!);
  t.is(h.method, 'GET');
  t.is(h.target, '/a/b?x=1');
  t.deepEqual(h.fields, [
    ['Host', 'h'],
    ['X-Mixed-Case', 'One'],
    ['x-mixed-case', 'two'],
  ]);
  t.deepEqual(h.byName.get('x-mixed-case'), ['One', 'two']);
});

test('head: pipelined requests in one chunk come out one by one with their bodies after them', (t) => {
  const two = 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc' + GET;
  const c = new HeadCollector('request');
  const first = c.push(B(two))!;
  const h1 = parseRequestHead(first.head);
  const f = new BodyFramer(requestBody(h1));
  const n = f.feed(first.rest);
  t.is(n, 3);
  t.true(f.done);
  const second = new HeadCollector('request').push(first.rest.subarray(n))!;
  t.is(second.head.toString('latin1'), GET);
  t.is(second.rest.length, 0);
});

test('head: empty lines before a request line are skipped (RFC 9112 §2.2)', (t) => {
  const { heads } = collectHeads(B('\r\n\r\n' + GET));
  t.is(heads[0]!.toString('latin1'), GET);
});

test('#12 smuggling: a bare LF line end is 400, wherever it is and however the bytes are split (RFC 9112 §2.2)', (t) => {
  for (const s of [
    'GET / HTTP/1.1\nHost: h\n\n',
    'GET / HTTP/1.1\r\nHost: h\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\n\n',
    '\nGET / HTTP/1.1\r\nHost: h\r\n\r\n',
  ]) {
    for (const step of [1, 3, 1000])
      t.is(
        status(() => collectHeads(B(s), 'request', step)),
        400,
        `${JSON.stringify(s)} step ${step}`,
      );
    t.is(
      status(() => parseRequestHead(B(s))),
      400,
      JSON.stringify(s),
    );
  }
  t.is(
    status(() => collectHeads(B('HTTP/1.1 200 OK\nContent-Length: 0\n\n'), 'response')),
    502,
  );
});

test('#12 smuggling: CR CR LF is 400, at the end of a field, of the head and before the request line', (t) => {
  for (const s of [
    'GET / HTTP/1.1\r\nHost: h\r\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: h\r\n\r\r\n',
    '\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET / HTTP/1.1\r\r\nHost: h\r\n\r\n',
  ]) {
    for (const step of [1, 2, 1000])
      t.is(
        status(() => collectHeads(B(s), 'request', step)),
        400,
        `${JSON.stringify(s)} step ${step}`,
      );
  }
  t.is(
    status(() => parseRequestHead(B('GET / HTTP/1.1\r\nHost: h\r\n\r\r\n'))),
    400,
  );
});

test('head: absolute-form targets are routed by their path', (t) => {
  t.is(parseRequestHead(B('GET http://h:8/api/x?q HTTP/1.1\r\nHost: h\r\n\r\n')).path, '/api/x?q');
});

test('limits: a head over 64 KiB is 431, a request line over 8 KiB is 414, too many fields is 431', (t) => {
  const big = 'GET / HTTP/1.1\r\nHost: h\r\n' + `X-Big: ${'a'.repeat(DEFAULT_LIMITS.maxHead)}\r\n\r\n`;
  t.is(
    status(() => collectHeads(B(big), 'request', 1000)),
    431,
  );
  t.is(
    status(() => collectHeads(B(`GET /${'a'.repeat(9000)} HTTP/1.1\r\n\r\n`), 'request', 100)),
    414,
  );
  const many = 'GET / HTTP/1.1\r\n' + Array.from({ length: 200 }, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n';
  t.is(
    status(() => collectHeads(B(many), 'request', 7)),
    431,
  );
});

test('malformed heads are 400 (obs-fold, space before colon, bare CR, bad request line, no Host) or 505', (t) => {
  const cases: Array<[string, number]> = [
    ['GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n', 400],
    ['GET /  HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['GET / FTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['G(T / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n', 400],
    ['GET / HTTP/3.0\r\nHost: h\r\n\r\n', 505],
  ];
  for (const [s, want] of cases)
    t.is(
      status(() => parseRequestHead(B(s))),
      want,
      JSON.stringify(s),
    );
  t.is(
    status(() => parseRequestHead(B('GET / HTTP/1.0\r\n\r\n'))),
    0,
    'HTTP/1.0 needs no Host',
  );
});

test('request framing: Content-Length, chunked, none; conflicting or smuggling-prone framing is 400', (t) => {
  const rb = (s: string) => requestBody(parseRequestHead(B(s)));
  t.deepEqual(rb('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n'), { kind: 'length', length: 10 });
  t.deepEqual(rb('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n'), { kind: 'chunked' });
  t.deepEqual(rb('GET / HTTP/1.1\r\nHost: h\r\n\r\n'), { kind: 'none' });
  t.deepEqual(rb('HEAD / HTTP/1.1\r\nHost: h\r\n\r\n'), { kind: 'none' });
  t.deepEqual(rb('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n'), { kind: 'none' });
  for (const bad of [
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
  ])
    t.is(
      status(() => rb(bad)),
      400,
      JSON.stringify(bad),
    );
});

test('#12 smuggling: Content-Length is one field of digits; lists, repeats, tabs and odd padding are 400', (t) => {
  const rb = (cl: string) => status(() => requestBody(parseRequestHead(B(`POST / HTTP/1.1\r\nHost: h\r\n${cl}\r\n\r\n`))));
  t.is(rb('Content-Length: 5'), 0);
  t.is(rb('Content-Length:5 '), 0);
  for (const bad of [
    'Content-Length: 5, 5', // RFC 9110 §8.6 allows taking it as 5; llhttp refuses it, so must we
    'Content-Length: 5\r\nContent-Length: 5',
    'Content-Length: 5\r\nContent-Length: 6',
    'Content-Length: 5\r\n 6', // obs-fold
    'Content-Length: 5\t',
    'Content-Length:\t5',
    'Content-Length: \xa05', // NBSP: String.trim() would strip it
    'Content-Length: 5\x85', // NEL, likewise
    'Content-Length: \x0b5',
    'Content-Length: \x0c5',
    'Content-Length: +5',
    'Content-Length: 5 5',
    'Content-Length: 1234567890123456',
    'Content-Length: ',
  ])
    t.is(rb(bad), 400, JSON.stringify(bad));
});

test('#12 smuggling: Transfer-Encoding with Content-Length, or not ending in one chunked, is 400 (RFC 9112 §6.3)', (t) => {
  const rb = (te: string) => status(() => requestBody(parseRequestHead(B(`POST / HTTP/1.1\r\nHost: h\r\n${te}\r\n\r\n`))));
  t.is(rb('Transfer-Encoding: chunked'), 0);
  t.is(rb('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked'), 0);
  for (const bad of [
    'Transfer-Encoding: chunked\r\nContent-Length: 0',
    'Content-Length: 0\r\nTransfer-Encoding: identity',
    'Transfer-Encoding: identity',
    'Transfer-Encoding: chunked, gzip',
    'Transfer-Encoding: chunked, chunked',
    'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
    'Transfer-Encoding: chunked,',
    'Transfer-Encoding: ,chunked',
    'Transfer-Encoding: chunked\t',
    'Transfer-Encoding: \xa0chunked',
    'Transfer-Encoding: x chunked',
    'Transfer-Encoding: chunked;q=1',
    'Transfer-Encoding: chunked\r\n chunked', // obs-fold
  ])
    t.is(rb(bad), 400, JSON.stringify(bad));
});

test('#12 smuggling: request lines llhttp refuses are refused (version, target form, non-ASCII)', (t) => {
  for (const [line, want] of [
    ['GET / HTTP/1.2', 505],
    ['GET x HTTP/1.1', 400],
    ['GET * HTTP/1.1', 400],
    ['GET /\xe9 HTTP/1.1', 400],
    ['CONNECT / HTTP/1.1', 400],
    ['GET / HTTP/1.1 ', 400],
  ] as const)
    t.is(
      status(() => parseRequestHead(B(`${line}\r\nHost: h\r\n\r\n`))),
      want,
      line,
    );
  // llhttp switches protocols on these where RFC 9110 §7.8 says to ignore Upgrade, or reads the
  // Connection token differently: refused, so no hop can read on where another stopped.
  t.is(
    status(() => parseRequestHead(B('GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'))),
    400,
  );
  t.is(
    status(() => parseRequestHead(B('GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n'))),
    400,
  );
  t.is(parseRequestHead(B('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n')).target, '*');
  t.is(parseRequestHead(B('CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n')).target, 'h:443');
});

test('request flags: keep-alive by version and Connection, Expect 100-continue, Upgrade', (t) => {
  const p = (s: string) => parseRequestHead(B(s));
  t.true(keepsAlive(p('GET / HTTP/1.1\r\nHost: h\r\n\r\n')));
  t.false(keepsAlive(p('GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n')));
  t.false(keepsAlive(p('GET / HTTP/1.0\r\n\r\n')));
  t.true(keepsAlive(p('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')));
  t.true(expectsContinue(p('PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n')));
  t.true(wantsSwitch(p('GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n')));
  t.false(wantsSwitch(p('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n')));
});

const CHUNKED = '5;name=value;q="a b"\r\nhello\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: t1\r\nY: 2\r\n\r\n';

test('chunked: extensions and trailers, split at every byte, end exactly after the final CRLF', (t) => {
  const input = B(CHUNKED + 'GET / HTTP/1.1\r\n');
  const r = frameAll({ kind: 'chunked' }, input);
  t.true(r.done);
  t.is(r.body.toString('latin1'), CHUNKED);
  t.is(r.after.toString('latin1'), 'GET / HTTP/1.1\r\n');
  const whole = frameAll({ kind: 'chunked' }, input, input.length);
  t.is(whole.body.length, CHUNKED.length);
});

test('chunked: no trailers, upper-case hex, an extension', (t) => {
  const s = '1F;ext\r\n' + 'x'.repeat(31) + '\r\n0\r\n\r\n';
  const r = frameAll({ kind: 'chunked' }, B(s + 'rest'));
  t.true(r.done);
  t.is(r.body.length, s.length);
});

test('#12 smuggling: chunk lines and trailers out of their grammar are 400 (BWS, bad extensions, bad trailer fields)', (t) => {
  for (const bad of [
    '5 \r\nhello\r\n0\r\n\r\n', // RFC 9112 §7.1.1 BWS: llhttp refuses it, "5 6" reads as 5 elsewhere
    '5 ;a\r\nhello\r\n0\r\n\r\n',
    '5; a\r\nhello\r\n0\r\n\r\n',
    '5;\r\nhello\r\n0\r\n\r\n',
    '5;a b\r\nhello\r\n0\r\n\r\n',
    '5;a=b c\r\nhello\r\n0\r\n\r\n',
    '5;a="b\r\nhello\r\n0\r\n\r\n',
    '5;a="b"c\r\nhello\r\n0\r\n\r\n',
    '5\r\nhello\r\n0\r\nX : y\r\n\r\n',
    '5\r\nhello\r\n0\r\nnocolon\r\n\r\n',
    '5\r\nhello\r\n0\r\nX: \x01\r\n\r\n',
    '5\r\nhello\r\n0\r\nX: y\r\r\n\r\n',
  ])
    t.is(
      status(() => frameAll({ kind: 'chunked' }, B(bad))),
      400,
      JSON.stringify(bad),
    );
  t.true(frameAll({ kind: 'chunked' }, B('5;a="b \\"c";d=e\r\nhello\r\n0\r\nX: y\r\n\r\n')).done);
});

test('chunked: malformed framing is 400', (t) => {
  for (const bad of [
    '5 6\r\nhello\r\n',
    'zz\r\n',
    '5\r\nhelloX\r\n',
    '5\nhello\r\n',
    '5\r\nhello\r\n0\r\nX: 1\n\r\n',
    '\r\n',
    '12345678901234\r\n',
    '0\r\n fold\r\n\r\n',
  ]) {
    t.is(
      status(() => frameAll({ kind: 'chunked' }, B(bad))),
      400,
      JSON.stringify(bad),
    );
  }
});

test('content-length framing stops at the length; the next request is left over', (t) => {
  const r = frameAll({ kind: 'length', length: 4 }, B('abcdGET'), 3);
  t.true(r.done);
  t.is(r.body.toString(), 'abcd');
});

const resp = (s: string, method = 'GET') => responseBody(parseResponseHead(B(s)), method);

test('response framing: HEAD, 204 and 304 have no body whatever the headers say', (t) => {
  t.deepEqual(resp('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'HEAD'), { kind: 'none' });
  t.deepEqual(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'HEAD'), { kind: 'none' });
  t.deepEqual(resp('HTTP/1.1 204 No Content\r\n\r\n'), { kind: 'none' });
  t.deepEqual(resp('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n'), { kind: 'none' });
});

test('response framing: 1xx are interim, 101 and CONNECT 2xx switch protocols', (t) => {
  t.deepEqual(resp('HTTP/1.1 100 Continue\r\n\r\n'), { kind: 'interim' });
  t.deepEqual(resp('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n'), { kind: 'interim' });
  t.deepEqual(resp('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), { kind: 'switch' });
  t.deepEqual(resp('HTTP/1.1 200 OK\r\n\r\n', 'CONNECT'), { kind: 'switch' });
});

test('response framing: length, chunked, close-delimited (no length, or a non-chunked coding)', (t) => {
  t.deepEqual(resp('HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n'), { kind: 'length', length: 12 });
  t.deepEqual(resp('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), { kind: 'none' });
  t.deepEqual(resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), { kind: 'chunked' });
  // RFC 9112 §6.3 lets Transfer-Encoding win; the client behind the agent may not: refused.
  t.is(
    status(() => resp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n')),
    502,
  );
  t.deepEqual(resp('HTTP/1.1 200 OK\r\n\r\n'), { kind: 'close' });
  t.deepEqual(resp('HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), { kind: 'close' });
  const f = new BodyFramer({ kind: 'close' });
  t.is(f.feed(B('anything')), 8);
  t.false(f.done);
  t.true(f.eof());
  t.false(new BodyFramer({ kind: 'length', length: 3 }).eof(), 'EOF inside a length body is a truncation');
  t.false(keepsAlive(parseResponseHead(B('HTTP/1.0 200 OK\r\n\r\n'))));
});

test('response heads: split at every byte; bad status lines are 502', (t) => {
  const s = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 \r\n\r\n';
  const { heads } = collectHeads(B(s), 'response');
  t.is(heads.length, 2);
  t.is(parseResponseHead(heads[1]!).status, 204);
  t.is(
    status(() => parseResponseHead(B('HTTP/1.1 2000 OK\r\n\r\n'))),
    502,
  );
  t.is(
    status(() => parseResponseHead(B('HTTP/2 200\r\n\r\n'))),
    502,
  );
  t.is(
    status(
      () => parseResponseHead(B('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')) && resp('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'),
    ),
    502,
  );
});

test('sniff: a method token and a space is HTTP; TLS and binary are not', (t) => {
  t.is(sniffHttp(B('GET ')), 'http');
  t.is(sniffHttp(B('M-SEARCH * HTTP/1.1')), 'http');
  t.is(sniffHttp(B('POS')), 'more');
  t.is(sniffHttp(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'other');
  t.is(sniffHttp(B(' GET')), 'other');
  t.is(sniffHttp(B('A'.repeat(30))), 'other');
  t.is(sniffHttp(Buffer.from([0x00, 0x00, 0x00, 0x08])), 'other');
});

test('#12 filter bypass: the sniffer looks past empty lines as the app would, so the request behind them is parsed', (t) => {
  t.is(sniffHttp(B('\r\nGET / HTTP/1.1\r\n')), 'http');
  t.is(sniffHttp(B('\n\r\n\rPOST /')), 'http');
  t.is(sniffHttp(B('\r\n\r\n')), 'more');
  t.is(sniffHttp(B('\r\nGE')), 'more');
  t.is(sniffHttp(Buffer.concat([B('\r\n'), Buffer.from([0x16, 0x03, 0x01])])), 'other');
  t.is(sniffHttp(B('\r\n'.repeat(600))), 'http', 'an endless run of line ends goes to the head collector, which bounds it');
  const { heads } = collectHeads(B('\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX-Dev: alice\r\n\r\n'));
  t.is(parseRequestHead(heads[0]!).byName.get('x-dev')![0], 'alice');
  t.is(
    status(() => collectHeads(B('\r\n'.repeat(5000) + 'GET / HTTP/1.1\r\n'), 'request', 997)),
    400,
  );
});

test('fuzz: random and mutated inputs give a head, a body boundary or an HttpParseError, nothing else', (t) => {
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) >>> 8) % n;
  const seeds = [
    GET,
    CHUNKED,
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
  ];
  const alphabet = B('\r\n :;0aF\t\x00\x80-/');
  for (let i = 0; i < 3000; i++) {
    const seed = B(seeds[i % seeds.length]!);
    const b = Buffer.from(seed);
    for (let k = rnd(4); k >= 0; k--) b[rnd(b.length)] = i % 2 ? alphabet[rnd(alphabet.length)]! : rnd(256);
    const step = 1 + rnd(8);
    for (const run of [
      () => collectHeads(b, 'request', step).heads.forEach((h) => requestBody(parseRequestHead(h))),
      () => collectHeads(b, 'response', step).heads.forEach((h) => responseBody(parseResponseHead(h), 'GET')),
      () => frameAll({ kind: 'chunked' }, b, step),
    ]) {
      try {
        run();
      } catch (e) {
        if (!(e instanceof HttpParseError)) t.fail(`${String(e)} on ${JSON.stringify(b.toString('latin1'))}`);
      }
    }
  }
  t.pass();
});
