import test from 'ava';
import { formatAuthority, parseAuthority, parseUdpPath, udpPath } from '../../../../lib/proxy/tunnel/target.js';

test('authority: IPv4, names and bracketed IPv6 parse', (t) => {
  t.deepEqual(parseAuthority('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
  t.deepEqual(parseAuthority('svc.ns.svc.cluster.local:8080'), { host: 'svc.ns.svc.cluster.local', port: 8080 });
  t.deepEqual(parseAuthority('[fd00::1]:443'), { host: 'fd00::1', port: 443 });
});

test('authority: bad targets are refused', (t) => {
  for (const a of ['', '10.0.0.1', ':80', '10.0.0.1:0', '10.0.0.1:65536', 'fd00::1:80', '[fd00::1]80', '[nope]:80', 'a b:80', 'x:8o']) {
    t.is(parseAuthority(a), undefined, a);
  }
});

test('authority: format brackets IPv6 only', (t) => {
  t.is(formatAuthority('fd00::1', 53), '[fd00::1]:53');
  t.is(formatAuthority('10.1.2.3', 53), '10.1.2.3:53');
  t.deepEqual(parseAuthority(formatAuthority('::1', 9)), { host: '::1', port: 9 });
});

test('RFC 9298 §2: the udp path percent-encodes IPv6 colons and round-trips', (t) => {
  t.is(udpPath('192.0.2.6', 443), '/.well-known/masque/udp/192.0.2.6/443/');
  t.is(udpPath('2001:db8::42', 53), '/.well-known/masque/udp/2001%3Adb8%3A%3A42/53/');
  t.deepEqual(parseUdpPath('/.well-known/masque/udp/2001%3Adb8%3A%3A42/53/'), { host: '2001:db8::42', port: 53 });
  t.deepEqual(parseUdpPath('/.well-known/masque/udp/kube-dns.kube-system/53/'), { host: 'kube-dns.kube-system', port: 53 });
});

test('udp path: malformed paths are refused', (t) => {
  for (const p of [
    '/.well-known/masque/udp/1.2.3.4/53',
    '/.well-known/masque/udp/1.2.3.4/x/',
    '/other/1.2.3.4/53/',
    '/.well-known/masque/udp/%E0%A4%A/53/',
    '/.well-known/masque/udp//53/',
  ]) {
    t.is(parseUdpPath(p), undefined, p);
  }
});
