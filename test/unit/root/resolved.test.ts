// The pure parts of the systemd-resolved integration (lib/root/resolved.ts): which mode a machine
// gets, the link's domains, and the busctl calls. The real resolved is exercised in
// test/net/root/resolved.test.ts.
import test from 'ava';
import {
  busctlArgs,
  chooseDnsMode,
  configureCalls,
  isNoSuchLink,
  isNotRunning,
  isUnknownMethod,
  linkDomains,
  parseNameservers,
  revertCall,
} from '../../../lib/root/resolved.js';

test('mode: resolved running and /etc/resolv.conf on its stub → systemd-resolved', (t) => {
  t.is(chooseDnsMode({ resolvedRunning: true, resolvConfNameservers: ['127.0.0.53'] }).mode, 'systemd-resolved');
});

test('mode: resolved not running → iptables, whatever resolv.conf says', (t) => {
  const r = chooseDnsMode({ resolvedRunning: false, resolvConfNameservers: ['127.0.0.53'] });
  t.is(r.mode, 'iptables');
  t.regex(r.why, /not running/);
});

test('mode: resolved running but resolv.conf names other servers (foreign/uplink mode) → iptables', (t) => {
  const r = chooseDnsMode({ resolvedRunning: true, resolvConfNameservers: ['10.0.0.2', '10.0.0.3'] });
  t.is(r.mode, 'iptables');
  t.regex(r.why, /does not point at its stub/);
});

test('domains: the namespace search domain, then cluster domain, svc, namespaces and include-suffixes as routing domains', (t) => {
  t.deepEqual(
    linkDomains({
      clusterDomain: 'cluster.local',
      namespace: 'default',
      namespaces: ['default', 'kube-system'],
      include: ['example.internal'],
    }),
    [
      { name: 'default.svc.cluster.local', routeOnly: false },
      { name: 'cluster.local', routeOnly: true },
      { name: 'svc', routeOnly: true },
      { name: 'default', routeOnly: true },
      { name: 'kube-system', routeOnly: true },
      { name: 'example.internal', routeOnly: true },
    ],
  );
});

test('domains: dots and case are normalized, duplicates merged, names resolved would reject left out', (t) => {
  const d = linkDomains({
    clusterDomain: 'Cluster.Local.',
    namespaces: ['svc', 'a'.repeat(64)],
    include: ['.Corp.Example.', 'bad name', '', 'cluster.local'],
  });
  t.deepEqual(
    d.map((x) => x.name),
    ['cluster.local', 'svc', 'corp.example'],
  );
  t.true(d.every((x) => x.routeOnly));
});

test('domains: a search domain that is also routed stays a search domain', (t) => {
  const d = linkDomains({ clusterDomain: 'cluster.local', namespace: 'x', namespaces: [], include: ['x.svc.cluster.local'] });
  t.deepEqual(d[0], { name: 'x.svc.cluster.local', routeOnly: false });
  t.is(d.length, 3);
});

test('calls: the link stops being a default route before it gets domains, and gets domains before the server', (t) => {
  const calls = configureCalls({
    ifindex: 7,
    server: { host: '198.18.0.1', port: 53 },
    domains: [
      { name: 'cluster.local', routeOnly: true },
      { name: 'default.svc.cluster.local', routeOnly: false },
    ],
  });
  t.deepEqual(
    calls.map((c) => c.method),
    ['SetLinkDefaultRoute', 'SetLinkLLMNR', 'SetLinkMulticastDNS', 'SetLinkDNSSEC', 'SetLinkDNSOverTLS', 'SetLinkDomains', 'SetLinkDNS'],
  );
  t.deepEqual(calls[0], { method: 'SetLinkDefaultRoute', signature: 'ib', args: ['7', 'false'], optional: true });
  t.deepEqual(calls[5], {
    method: 'SetLinkDomains',
    signature: 'ia(sb)',
    args: ['7', '2', 'cluster.local', 'true', 'default.svc.cluster.local', 'false'],
  });
  t.deepEqual(calls[6], { method: 'SetLinkDNS', signature: 'ia(iay)', args: ['7', '1', '2', '4', '198', '18', '0', '1'] });
  t.falsy(calls[5]!.optional, 'domains and server are not optional');
  t.falsy(calls[6]!.optional);
});

test('calls: a server on another port than 53 needs SetLinkDNSEx (address, port, no TLS name)', (t) => {
  const dns = configureCalls({ ifindex: 3, server: { host: '198.18.0.1', port: 5353 }, domains: [] }).at(-1)!;
  t.deepEqual(dns, { method: 'SetLinkDNSEx', signature: 'ia(iayqs)', args: ['3', '1', '2', '4', '198', '18', '0', '1', '5353', ''] });
});

test('calls: an IPv6 server is family 10 with 16 bytes', (t) => {
  const dns = configureCalls({ ifindex: 3, server: { host: 'fd00::1', port: 53 }, domains: [] }).at(-1)!;
  t.deepEqual(dns.args.slice(0, 4), ['3', '1', '10', '16']);
  t.is(dns.args.length, 4 + 16);
  t.is(dns.args.at(-1), '1');
});

test('busctl: system bus, a timeout, never D-Bus-activates resolved, Manager object', (t) => {
  t.deepEqual(busctlArgs(revertCall(9)), [
    '--system',
    '--timeout=5',
    '--auto-start=no',
    'call',
    'org.freedesktop.resolve1',
    '/org/freedesktop/resolve1',
    'org.freedesktop.resolve1.Manager',
    'RevertLink',
    'i',
    '9',
  ]);
});

test('busctl errors: an unknown link and a resolved that is not running are told apart from real failures', (t) => {
  t.true(isNoSuchLink('Call failed: Link 77 not known'));
  t.false(isNoSuchLink('Call failed: Access denied'));
  t.true(isNotRunning('Call failed: The name org.freedesktop.resolve1 was not provided by any .service files'));
  t.true(isNotRunning('Call failed: Name "org.freedesktop.resolve1" does not exist'));
  t.false(isNotRunning('Call failed: Access denied'));
  t.true(isUnknownMethod('Call failed: Unknown method SetLinkDNSOverTLS or interface org.freedesktop.resolve1.Manager.'));
});

test('resolv.conf: nameservers of both families, comments and other lines ignored', (t) => {
  t.deepEqual(
    parseNameservers('# generated\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nsearch corp\nnameserver bogus\n'),
    ['10.0.0.2', 'fe80::1%eth0', '2001:db8::53'],
  );
});
