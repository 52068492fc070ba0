import test from 'ava';
import { candidates, parseResolvConf } from '../../../lib/manager/dns.js';

test('names resolve as in a pod of the client namespace: search list first below ndots', (t) => {
  t.deepEqual(candidates('echo', 'default', 'cluster.local'), [
    'echo.default.svc.cluster.local', 'echo.svc.cluster.local', 'echo.cluster.local', 'echo',
  ]);
  t.deepEqual(candidates('echo.team', 'default', 'cluster.local').slice(0, 2), ['echo.team.default.svc.cluster.local', 'echo.team.svc.cluster.local']);
});

test('a fully qualified or cluster-domain name is asked as it is', (t) => {
  t.deepEqual(candidates('echo.default.svc.cluster.local', 'x', 'cluster.local'), ['echo.default.svc.cluster.local']);
  t.deepEqual(candidates('example.com.', 'x', 'cluster.local'), ['example.com']);
});

test('parseResolvConf reads nameservers, search and ndots, ignoring comments', (t) => {
  const c = parseResolvConf('# generated\nnameserver 10.96.0.10\nsearch tp-system.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1\n');
  t.deepEqual(c.nameservers, ['10.96.0.10']);
  t.deepEqual(c.search, ['tp-system.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  t.is(c.ndots, 5);
});
