import test from 'ava';
import { addressOfReverseName, reverseNameOf, reverseZonesOf } from '../../../../lib/root/dns/reverse.js';

test('#16: reverse names and addresses both ways (RFC 1035 §3.5, RFC 3596 §2.5)', (t) => {
  t.is(reverseNameOf('10.96.0.10'), '10.0.96.10.in-addr.arpa');
  t.is(addressOfReverseName('10.0.96.10.in-addr.arpa.'), '10.96.0.10');
  const v6 = reverseNameOf('fd00:10::a');
  t.is(v6, 'a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa');
  t.is(addressOfReverseName(v6.toUpperCase()), 'fd00:10::a');
});

test('#16: partial and malformed reverse names are no address', (t) => {
  for (const n of [
    '96.10.in-addr.arpa',
    '1.2.3.4.5.in-addr.arpa',
    '01.0.96.10.in-addr.arpa',
    '256.0.96.10.in-addr.arpa',
    'a.0.ip6.arpa',
    'echo.default',
    `${'g.'.repeat(32)}ip6.arpa`,
  ]) {
    t.is(addressOfReverseName(n), undefined, n);
  }
});

test('#16: reverse zones of a subnet on label boundaries, the enclosing zone when they would be many', (t) => {
  t.deepEqual(reverseZonesOf('10.96.0.0/16'), ['96.10.in-addr.arpa']);
  t.deepEqual(
    reverseZonesOf('10.96.0.0/12'),
    Array.from({ length: 16 }, (_, i) => `${96 + i}.10.in-addr.arpa`),
  );
  t.deepEqual(reverseZonesOf('10.244.0.0/24'), ['0.244.10.in-addr.arpa']);
  t.deepEqual(reverseZonesOf('10.128.0.0/9'), ['10.in-addr.arpa'], '128 zones: the /8 instead');
  t.deepEqual(reverseZonesOf('fd00:10::/64'), ['0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa']);
  t.deepEqual(
    reverseZonesOf('fd00:10::/62'),
    ['0', '1', '2', '3'].map((n) => `${n}.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa`),
  );
  t.deepEqual(reverseZonesOf('10.0.0.1/32'), ['1.0.0.10.in-addr.arpa']);
});
