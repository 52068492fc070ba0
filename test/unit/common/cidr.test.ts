import test from 'ava';
import { bigIntToIp, cidrFromProbeError, coveringCidr, formatCidr, ipToBigInt, parseCidr } from '../../../lib/common/cidr.js';

test('parseCidr masks host bits and formats back', (t) => {
  t.is(formatCidr(parseCidr('10.96.3.7/16')), '10.96.0.0/16');
  t.is(formatCidr(parseCidr('fd00:10:96::1/112')), 'fd00:10:96::/112');
  t.throws(() => parseCidr('10.0.0.0/33'));
  t.throws(() => parseCidr('not-an-ip/8'));
});

test('IPv6 round trip through bigint', (t) => {
  const { family, value } = ipToBigInt('2001:db8::1');
  t.is(family, 6);
  t.is(bigIntToIp(6, value), '2001:db8::1');
});

test('coveringCidr: the narrowest prefix holding every pod IP, never narrower than asked', (t) => {
  t.is(coveringCidr(['10.244.0.5', '10.244.0.9'], 16), '10.244.0.0/16');
  t.is(coveringCidr(['10.244.0.5', '10.245.3.9'], 16), '10.244.0.0/15');
  t.is(coveringCidr(['10.1.0.1', '192.168.0.1'], 16), '0.0.0.0/0');
  t.is(coveringCidr([], 16), undefined);
});

test('cidrFromProbeError reads the range the API server names when it refuses a ClusterIP', (t) => {
  const msg =
    'Service "tp-cidr-probe" is invalid: spec.clusterIPs: Invalid value: []string{"0.0.0.1"}: failed to allocate IP 0.0.0.1: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12';
  t.deepEqual(cidrFromProbeError(msg), ['10.96.0.0/12']);
  t.deepEqual(cidrFromProbeError('The range of valid IPs is 10.96.0.0/16, fd00::/108.'), ['10.96.0.0/16', 'fd00::/108']);
  t.deepEqual(cidrFromProbeError('something else entirely'), []);
});
