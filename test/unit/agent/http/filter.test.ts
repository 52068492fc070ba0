import test from 'ava';
import { isUnfiltered, matches, pickIntercept, type HttpFilter } from '../../../../lib/agent/http/filter.js';
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
