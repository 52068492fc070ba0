import test from 'ava';
import { compileRules, route, type RouteConfig } from '../../../../lib/root/dns/rules.js';

const BASE: RouteConfig = {
  clusterDomain: 'cluster.local',
  namespaces: ['default', 'team-a', 'kube-system'],
  include: ['corp.internal'],
  exclude: ['legacy.default', 'skip.cluster.local'],
  hostSearch: ['localdomain', 'office.example.com'],
};
const rules = compileRules(BASE);
const where = (name: string, r = rules) => route(name, r);

test('single-label names go to the cluster (resolved in the client namespace)', (t) => {
  t.deepEqual(where('echo'), { route: 'cluster', reason: 'single-label' });
});

test('names under the cluster domain go to the cluster', (t) => {
  t.deepEqual(where('echo.default.svc.cluster.local'), { route: 'cluster', reason: 'cluster-domain' });
  t.deepEqual(where('10-1-2-3.default.pod.cluster.local'), { route: 'cluster', reason: 'cluster-domain' });
  t.deepEqual(where('cluster.local'), { route: 'cluster', reason: 'cluster-domain' });
});

test('a namespace is a pseudo-TLD: <x>.<namespace> goes to the cluster', (t) => {
  t.deepEqual(where('echo.default'), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('anything.team-a'), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('a.b.kube-system'), { route: 'cluster', reason: 'namespace' });
});

test('<x>.<namespace>.svc goes to the cluster', (t) => {
  t.deepEqual(where('echo.default.svc'), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('echo.nope.svc'), { route: 'upstream', reason: 'other' });
});

test('an unknown namespace is just a name: upstream', (t) => {
  t.deepEqual(where('echo.staging'), { route: 'upstream', reason: 'other' });
});

test('include-suffixes go to the cluster', (t) => {
  t.deepEqual(where('db.corp.internal'), { route: 'cluster', reason: 'include' });
  t.deepEqual(where('corp.internal'), { route: 'cluster', reason: 'include' });
  t.deepEqual(where('xcorp.internal'), { route: 'upstream', reason: 'other' }, 'a suffix matches whole labels only');
});

test('exclude-suffixes win over every cluster rule', (t) => {
  t.deepEqual(where('legacy.default'), { route: 'upstream', reason: 'exclude' });
  t.deepEqual(where('db.legacy.default'), { route: 'upstream', reason: 'exclude' });
  t.deepEqual(where('skip.cluster.local'), { route: 'upstream', reason: 'exclude' });
  const both = compileRules({ ...BASE, include: ['corp.internal'], exclude: ['secret.corp.internal'] });
  t.deepEqual(where('x.secret.corp.internal', both), { route: 'upstream', reason: 'exclude' });
});

test('everything else goes upstream', (t) => {
  t.deepEqual(where('example.com'), { route: 'upstream', reason: 'other' });
  t.deepEqual(where('1.0.0.10.in-addr.arpa'), { route: 'upstream', reason: 'other' });
});

test('case-insensitive and trailing-dot tolerant (RFC 4343)', (t) => {
  t.deepEqual(where('ECHO.Default.'), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('Echo.Default.SVC.Cluster.Local.'), { route: 'cluster', reason: 'cluster-domain' });
  t.deepEqual(where('echo.'), { route: 'cluster', reason: 'single-label' });
  const upper = compileRules({ ...BASE, namespaces: ['Default'], include: ['.Corp.Internal.'] });
  t.deepEqual(where('echo.default', upper), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('db.corp.internal', upper), { route: 'cluster', reason: 'include' });
});

test('search artifact: a full cluster name with a host search domain appended goes upstream', (t) => {
  t.deepEqual(where('echo.default.svc.cluster.local.localdomain'), { route: 'upstream', reason: 'search-artifact' });
  t.deepEqual(where('echo.default.svc.cluster.local.default'), { route: 'upstream', reason: 'search-artifact' }, 'even when the appended label is a namespace');
});

test('search artifact: a name below a host search domain goes upstream even if it ends in a namespace-like label', (t) => {
  const lan = compileRules({ ...BASE, namespaces: ['default', 'lan'], hostSearch: ['lan'] });
  t.deepEqual(where('echo.lan', lan), { route: 'upstream', reason: 'search-artifact' });
  t.deepEqual(where('echo.default.office.example.com'), { route: 'upstream', reason: 'search-artifact' });
  t.deepEqual(where('anything.lan', compileRules({ ...BASE, namespaces: ['lan'], hostSearch: [] })), { route: 'cluster', reason: 'namespace' }, 'without that search domain the namespace rule applies');
});

test('a host search domain inside the cluster domain is not an artifact source', (t) => {
  const inPod = compileRules({ ...BASE, hostSearch: ['default.svc.cluster.local'] });
  t.deepEqual(where('echo.default.svc.cluster.local', inPod), { route: 'cluster', reason: 'cluster-domain' });
});

test('localhost and the root are never the cluster’s', (t) => {
  t.deepEqual(where('localhost'), { route: 'upstream', reason: 'localhost' });
  t.deepEqual(where('app.localhost'), { route: 'upstream', reason: 'localhost' });
  t.deepEqual(where(''), { route: 'upstream', reason: 'root' });
  t.deepEqual(where('.'), { route: 'upstream', reason: 'root' });
});

test('another cluster domain is honoured', (t) => {
  const other = compileRules({ ...BASE, clusterDomain: 'k8s.example.' });
  t.deepEqual(where('echo.default.svc.k8s.example', other), { route: 'cluster', reason: 'cluster-domain' });
  t.deepEqual(where('echo.default.svc.cluster.local', other), { route: 'upstream', reason: 'other' });
});
