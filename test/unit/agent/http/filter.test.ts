import test from 'ava';
import { compileFilter, filterView, isUnfiltered, matches, pickIntercept, type HttpFilter } from '../../../../lib/agent/http/filter.js';
import { parseRequestHead } from '../../../../lib/agent/http/parse.js';

const req = (target: string, headers: string[] = []) =>
  parseRequestHead(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: h\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`));

test('header filter: names are case-insensitive, values exact', (t) => {
  const f: HttpFilter = { headers: { 'X-Dev': 'alice' } };
  t.true(matches(f, req('/', ['x-dev: alice'])));
  t.true(matches(f, req('/', ['X-DEV:   alice  '])));
  t.false(matches(f, req('/', ['x-dev: Alice'])));
  t.false(matches(f, req('/', ['x-dev: alice2'])));
  t.false(matches(f, req('/')));
});

test('header filter: every header must match; a repeated header matches on any line', (t) => {
  const f: HttpFilter = { headers: { a: '1', b: '2' } };
  t.true(matches(f, req('/', ['A: 1', 'B: 2'])));
  t.false(matches(f, req('/', ['A: 1'])));
  t.true(matches({ headers: { a: '1' } }, req('/', ['a: 0', 'a: 1'])));
  t.true(matches({ headers: { a: '0, 1' } }, req('/', ['a: 0', 'a: 1'])));
});

test('regexp filter: tested on the value; a /g RegExp gives the same answer every time', (t) => {
  const f: HttpFilter = { headers: { 'x-user': /^ali/g } };
  for (let i = 0; i < 3; i++) t.true(matches(f, req('/', ['x-user: alice'])));
  t.false(matches(f, req('/', ['x-user: bob'])));
});

test('path prefix: on the path of origin-form and absolute-form targets, with headers', (t) => {
  const f: HttpFilter = { headers: {}, pathPrefix: '/api/' };
  t.true(matches(f, req('/api/x')));
  t.true(matches(f, req('http://svc/api/x?q')));
  t.false(matches(f, req('/apix')));
  t.false(matches(f, req('/')));
  const both: HttpFilter = { headers: { 'x-dev': 'a' }, pathPrefix: '/api' };
  t.false(matches(both, req('/api')));
  t.true(matches(both, req('/api', ['x-dev: a'])));
});

test('pick: the first matching intercept in engagement order wins; none → undefined (the app)', (t) => {
  const list: Array<{ id: string; filter: HttpFilter }> = [
    { id: 'A', filter: { headers: { 'x-dev': 'a' } } },
    { id: 'B', filter: { headers: {}, pathPrefix: '/b' } },
    { id: 'C', filter: { headers: { 'x-dev': /./ } } },
  ];
  t.is(pickIntercept(list, req('/b', ['x-dev: a']))?.id, 'A');
  t.is(pickIntercept(list, req('/b', ['x-dev: z']))?.id, 'B');
  t.is(pickIntercept(list, req('/c', ['x-dev: z']))?.id, 'C');
  t.is(pickIntercept(list, req('/c')), undefined);
  t.true(isUnfiltered({ headers: {} }));
  t.false(isUnfiltered({ headers: {}, pathPrefix: '/' }));
});

test('#13 HTTP/2 view: :path for prefixes, :authority as Host, cookie crumbs joined, pseudo-headers not headers', (t) => {
  const v = filterView([
    ':method',
    'GET',
    ':path',
    '/api/x',
    ':authority',
    'svc.ns:80',
    'x-dev',
    'alice',
    'cookie',
    'a=1',
    'cookie',
    'b=2',
    'x-dev',
    'bob',
  ]);
  t.true(matches({ headers: {}, pathPrefix: '/api' }, v));
  t.true(matches({ headers: { Host: 'svc.ns:80' } }, v));
  t.true(matches({ headers: { cookie: 'a=1; b=2' } }, v));
  t.true(matches({ headers: { 'X-DEV': 'bob' } }, v), 'a repeated field matches on any of its lines, as in HTTP/1.1');
  t.false(matches({ headers: { ':method': 'GET' } }, v));
  // The same filter means the same on an HTTP/1.1 request.
  const f = compileFilter({ headers: { host: 'svc.ns:80', 'x-dev': '~ali.*' }, pathPrefix: '/api' });
  t.true(matches(f, parseRequestHead(Buffer.from('GET /api/x HTTP/1.1\r\nHost: svc.ns:80\r\nx-dev: alice\r\n\r\n'))));
  t.true(matches(f, filterView([':path', '/api/x', ':authority', 'svc.ns:80', 'x-dev', 'alice'])));
});

test('#13 K=~REGEX: anchored, linear-time, over a bounded value; exact values stay exact', (t) => {
  const f = compileFilter({ headers: { 'x-dev': '~ali(ce|x)' } });
  t.true(matches(f, req('/', ['x-dev: alice'])));
  t.true(matches(f, req('/', ['x-dev: alix'])));
  t.false(matches(f, req('/', ['x-dev: malice'])), 'anchored at the start');
  t.false(matches(f, req('/', ['x-dev: alice2'])), 'anchored at the end');
  t.true(matches(compileFilter({ headers: { 'x-dev': '~~x' } }), req('/', ['x-dev: ~x'])), '~~x matches the literal ~x');
  t.true(matches(compileFilter({ headers: { 'x-dev': 'a.c' } }), req('/', ['x-dev: a.c'])));
  t.false(matches(compileFilter({ headers: { 'x-dev': 'a.c' } }), req('/', ['x-dev: abc'])), 'without ~ a value is exact');
  // A pattern that backtracks exponentially elsewhere runs in linear time here.
  const evil = compileFilter({ headers: { x: '~(a+)+b' } });
  const t0 = Date.now();
  t.false(matches(evil, req('/', [`x: ${'a'.repeat(4000)}c`])));
  t.true(Date.now() - t0 < 1000);
  t.false(
    matches(compileFilter({ headers: { x: '~a*' } }), req('/', [`x: ${'a'.repeat(5000)}`])),
    'values past the cap never match a pattern',
  );
  t.throws(() => compileFilter({ headers: { x: '~(a)\\1' } }), { name: 'HeaderPatternError' });
  t.throws(() => compileFilter({ headers: { x: '~(?=a)a' } }), { name: 'HeaderPatternError' });
  t.throws(() => compileFilter({ headers: { x: '~[' } }), { name: 'HeaderPatternError' });
});
