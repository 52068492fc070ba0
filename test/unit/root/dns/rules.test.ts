import test from 'ava';
import { compileRules, route, type RouteConfig } from '../../../../lib/root/dns/rules.js';
import { reverseNameOf } from '../../../../lib/root/dns/reverse.js';

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
  t.deepEqual(
    where('echo.default.svc.cluster.local.default'),
    { route: 'upstream', reason: 'search-artifact' },
    'even when the appended label is a namespace',
  );
});

test('search artifact: a name below a host search domain goes upstream even if it ends in a namespace-like label', (t) => {
  const lan = compileRules({ ...BASE, namespaces: ['default', 'lan'], hostSearch: ['lan'] });
  t.deepEqual(where('echo.lan', lan), { route: 'upstream', reason: 'search-artifact' });
  t.deepEqual(where('echo.default.office.example.com'), { route: 'upstream', reason: 'search-artifact' });
  t.deepEqual(
    where('anything.lan', compileRules({ ...BASE, namespaces: ['lan'], hostSearch: [] })),
    { route: 'cluster', reason: 'namespace' },
    'without that search domain the namespace rule applies',
  );
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

// ---- issue #16: reverse names and mapped namespaces -------------------------------------------

const WITH_REVERSE = compileRules({
  ...BASE,
  // 10.96.0.0/12 routed as it is; 10.244.0.0/16 reached at 198.18.0.0/16 (VNAT); one pod IP and
  // an IPv6 /120 kept off the TUN with --never-proxy.
  reverse: { subnets: ['10.96.0.0/12', '198.18.0.0/16', 'fd00:10::/64'], except: ['10.96.7.7/32', 'fd00:10::/120'] },
});

test('#16: reverse names of addresses in a cluster subnet go to the cluster (RFC 1035 §3.5, RFC 3596 §2.5)', (t) => {
  t.deepEqual(where('10.0.96.10.in-addr.arpa', WITH_REVERSE), { route: 'cluster', reason: 'reverse' });
  t.deepEqual(
    where('5.0.111.10.IN-ADDR.ARPA.', WITH_REVERSE),
    { route: 'cluster', reason: 'reverse' },
    'the last address of the /12, any case',
  );
  t.deepEqual(where('9.3.18.198.in-addr.arpa', WITH_REVERSE), { route: 'cluster', reason: 'reverse' }, 'a virtual (VNAT) address');
  t.deepEqual(where(reverseNameOf('fd00:10::2:1'), WITH_REVERSE), { route: 'cluster', reason: 'reverse' }, 'IPv6, outside the /120 hole');
  t.deepEqual(where(reverseNameOf('fd00:11::1'), WITH_REVERSE), { route: 'upstream', reason: 'other' }, 'an address of another /64');
});

test('#16: other reverse names go upstream: outside the subnets, --never-proxy holes, zones, malformed ones', (t) => {
  t.deepEqual(where('1.0.168.192.in-addr.arpa', WITH_REVERSE), { route: 'upstream', reason: 'other' });
  t.deepEqual(where('1.0.95.10.in-addr.arpa', WITH_REVERSE), { route: 'upstream', reason: 'other' }, 'just below 10.96.0.0/12');
  t.deepEqual(where('7.7.96.10.in-addr.arpa', WITH_REVERSE), { route: 'upstream', reason: 'other' }, '--never-proxy 10.96.7.7/32');
  t.deepEqual(where(reverseNameOf('fd00:10::5'), WITH_REVERSE), { route: 'upstream', reason: 'other' }, '--never-proxy fd00:10::/120');
  t.deepEqual(where('96.10.in-addr.arpa', WITH_REVERSE), { route: 'upstream', reason: 'other' }, 'a zone, not an address');
  t.deepEqual(where('300.0.96.10.in-addr.arpa', WITH_REVERSE), { route: 'upstream', reason: 'other' });
  t.deepEqual(where('10.0.96.10.in-addr.arpa'), { route: 'upstream', reason: 'other' }, 'no cluster subnets known');
});

test('#16: a namespace called arpa does not capture reverse lookups', (t) => {
  const r = compileRules({ ...BASE, namespaces: ['arpa'], reverse: { subnets: ['10.96.0.0/12'], except: [] } });
  t.deepEqual(where('1.0.168.192.in-addr.arpa', r), { route: 'upstream', reason: 'other' });
  t.deepEqual(where('echo.arpa', r), { route: 'upstream', reason: 'other' });
});

test('#16: with mapped namespaces only those are pseudo-TLDs; the cluster domain still goes to the cluster', (t) => {
  const mapped = compileRules({ ...BASE, namespaces: ['team-a'] });
  t.deepEqual(where('echo.team-a', mapped), { route: 'cluster', reason: 'namespace' });
  t.deepEqual(where('echo.default', mapped), { route: 'upstream', reason: 'other' });
  t.deepEqual(
    where('echo.default.svc.cluster.local', mapped),
    { route: 'cluster', reason: 'cluster-domain' },
    'the manager answers NXDOMAIN for it',
  );
});
