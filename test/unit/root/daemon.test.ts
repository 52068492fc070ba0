import test from 'ava';
import { validateVifConnect } from '../../../lib/root/daemon.js';

const ok = {
  relaySocket: '/run/x.sock',
  session: { session: 'alice-laptop-x7k2p', secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' },
  namespace: 'default',
  subnets: ['10.96.0.0/16'],
  neverProxy: [],
  clusterDomain: 'cluster.local',
  dnsIncludeSuffixes: [],
  dnsExcludeSuffixes: [],
  namespaces: ['default'],
};

test('a VIF connect request is normalised: subnets as CIDRs with host bits cleared', (t) => {
  const r = validateVifConnect({ ...ok, subnets: ['10.96.3.1/16'], neverProxy: ['10.96.7.0/24'] });
  t.deepEqual(r.subnets, ['10.96.0.0/16']);
  t.deepEqual(r.neverProxy, ['10.96.7.0/24']);
  t.false(r.allowConflicting);
});

test('a bad subnet names the flag it came from', (t) => {
  t.throws(() => validateVifConnect({ ...ok, subnets: ['10.96.0.0/40'] }), { message: '--also-proxy "10.96.0.0/40" is not a subnet' });
  t.throws(() => validateVifConnect({ ...ok, neverProxy: ['nope'] }), { message: '--never-proxy "nope" is not a subnet' });
});

test('missing or mistyped fields are refused, not trusted', (t) => {
  t.throws(() => validateVifConnect({ ...ok, relaySocket: 5 }), { message: /relaySocket/ });
  t.throws(() => validateVifConnect({ ...ok, subnets: 'x' }), { message: /subnets/ });
  t.throws(() => validateVifConnect({ ...ok, clusterDnsIP: 'dns' }), { message: /clusterDnsIP/ });
  t.throws(() => validateVifConnect({ ...ok, session: undefined }), { message: /session/ });
  t.throws(() => validateVifConnect({ ...ok, session: { session: 'x', secret: 'short' } }), { message: /session/ });
});

test('#16: --vnat takes CIDRs (normalised) and "all"; anything else names the flag', (t) => {
  t.deepEqual(validateVifConnect(ok).vnat, []);
  t.deepEqual(validateVifConnect({ ...ok, vnat: ['10.96.3.1/16', 'all'] }).vnat, ['all', '10.96.0.0/16']);
  t.throws(() => validateVifConnect({ ...ok, vnat: ['everything'] }), { message: '--vnat "everything" is not a subnet' });
  t.throws(() => validateVifConnect({ ...ok, vnat: 'all' }), { message: /vnat: must be a list/ });
});
