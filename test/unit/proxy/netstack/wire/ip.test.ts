import test from 'ava';
import { formatIp } from '../../../../../lib/proxy/netstack/wire/ip.js';

const v6 = (hex: string) => Buffer.from(hex.replace(/:/g, ''), 'hex');

test('formatIp: IPv4 dotted quad', (t) => {
  t.is(formatIp(Buffer.from([10, 96, 0, 1])), '10.96.0.1');
});

test('formatIp: IPv6 per RFC 5952 §4 (longest zero run compressed, first wins, no single-group ::)', (t) => {
  t.is(formatIp(v6('2001:0db8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
  t.is(formatIp(v6('0000:0000:0000:0000:0000:0000:0000:0001')), '::1');
  t.is(formatIp(v6('0000:0000:0000:0000:0000:0000:0000:0000')), '::');
  t.is(formatIp(v6('2001:0db8:0000:0001:0001:0001:0001:0001')), '2001:db8:0:1:1:1:1:1');
  t.is(formatIp(v6('2001:0000:0000:0001:0000:0000:0000:0001')), '2001:0:0:1::1');
  t.is(formatIp(v6('2001:0db8:0000:0000:0001:0000:0000:0001')), '2001:db8::1:0:0:1');
  t.is(formatIp(v6('fd00:0000:0000:0000:0000:0000:0000:0000')), 'fd00::');
});
