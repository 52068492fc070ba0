import test from 'ava';
import { formatIpv6, parseIpv4, parseIpv6, unmapIpv4 } from '../../../lib/common/ip.js';

test('formatIpv6: RFC 5952 — longest zero run compressed, lower case, no leading zeros', (t) => {
  const cases: [string, string][] = [
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['fd000000000000000000000000000a0b', 'fd00::a0b'],
    ['00000000000000000000ffff7f000001', '::ffff:7f00:1'],
  ];
  for (const [hex, text] of cases) t.is(formatIpv6(Buffer.from(hex, 'hex')), text);
});

test('parseIpv6: round trips through formatIpv6, including a dotted tail and a zone', (t) => {
  for (const s of ['::1', '::', '2001:db8::1:0:0:1', 'fd00::a0b', '1:2:3:4:5:6:7:8']) t.is(formatIpv6(parseIpv6(s)!), s);
  t.is(parseIpv6('::ffff:1.2.3.4')!.toString('hex'), '00000000000000000000ffff01020304');
  t.is(formatIpv6(parseIpv6('fe80::1%eth0')!), 'fe80::1');
  t.is(parseIpv6('1.2.3.4'), undefined);
  t.is(parseIpv6('echo.default'), undefined);
});

test('parseIpv4: dotted quads only', (t) => {
  t.deepEqual(parseIpv4('10.96.0.1'), Buffer.from([10, 96, 0, 1]));
  t.is(parseIpv4('10.96.0'), undefined);
  t.is(parseIpv4('::1'), undefined);
});

test('unmapIpv4: IPv4-mapped addresses become plain IPv4, others stay', (t) => {
  t.is(unmapIpv4('::ffff:127.0.0.1'), '127.0.0.1');
  t.is(unmapIpv4('::1'), '::1');
  t.is(unmapIpv4('10.0.0.1'), '10.0.0.1');
});
