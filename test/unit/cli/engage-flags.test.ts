import test from 'ava';
import { parseFilter, parseMount, parsePortFlag, parseTimeout } from '../../../lib/cli/engage-flags.js';

test('--port LOCAL[:REMOTE] with numbers and names', (t) => {
  t.deepEqual(parsePortFlag('8080'), { local: 8080 });
  t.deepEqual(parsePortFlag('8080:http'), { local: 8080, remote: 'http' });
  t.deepEqual(parsePortFlag('9000:80'), { local: 9000, remote: '80' });
  t.throws(() => parsePortFlag('0'), { message: /not a port number/ });
  t.throws(() => parsePortFlag('80:70000'), { message: /not a port number/ });
  t.throws(() => parsePortFlag('80:HTTP_X'), { message: /neither a port number nor a port name/ });
});

test('--http-header and --http-path-prefix', (t) => {
  t.is(parseFilter(undefined, undefined), undefined);
  t.deepEqual(parseFilter(['X-Dev=alice', 'a=b=c'], '/api'), { headers: { 'x-dev': 'alice', a: 'b=c' }, pathPrefix: '/api' });
  t.throws(() => parseFilter(['nodelimiter'], undefined), { message: /is not NAME=VALUE/ });
  t.throws(() => parseFilter(['x=1', 'X=2'], undefined), { message: /given twice/ });
  t.throws(() => parseFilter(undefined, 'api'), { message: /must start with \// });
});

test('--mount and --timeout', (t) => {
  t.is(parseMount(undefined), '');
  t.is(parseMount('false'), false);
  t.is(parseMount('rel/dir', '/home/u'), '/home/u/rel/dir');
  t.is(parseTimeout('30'), 30_000);
  t.is(parseTimeout('1.5s'), 1500);
  t.throws(() => parseTimeout('forever'), { message: /not a number of seconds/ });
});

test('#13 --http-header K=~REGEX: checked at once, travels as ~REGEX', (t) => {
  t.deepEqual(parseFilter(['x-dev=~ali(ce|x)'], undefined), { headers: { 'x-dev': '~ali(ce|x)' } });
  t.deepEqual(parseFilter(['x-dev=~~literal'], undefined), { headers: { 'x-dev': '~~literal' } });
  t.throws(() => parseFilter(['x-dev=~(a'], undefined), { message: /not a valid regular expression/ });
  t.throws(() => parseFilter(['x-dev=~(a)\\1'], undefined), { message: /cannot run in linear time/ });
  t.throws(() => parseFilter([`x-dev=~${'a'.repeat(300)}`], undefined), { message: /longer than 256/ });
});
