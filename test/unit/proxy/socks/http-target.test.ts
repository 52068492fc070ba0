import test from 'ava';
import {
  endToEndHeaders,
  formatAuthority,
  parseAbsoluteForm,
  parseAuthorityForm,
  parseBasicAuth,
} from '../../../../lib/proxy/socks/http-target.js';

test('CONNECT target: host:port, IPv4:port and [IPv6]:port', (t) => {
  t.deepEqual(parseAuthorityForm('echo.default:443'), { ok: true, value: { host: 'echo.default', port: 443 } });
  t.deepEqual(parseAuthorityForm('10.96.0.1:80'), { ok: true, value: { host: '10.96.0.1', port: 80 } });
  t.deepEqual(parseAuthorityForm('[fd00::1]:8080'), { ok: true, value: { host: 'fd00::1', port: 8080 } });
  t.deepEqual(parseAuthorityForm('Echo.Default:1'), { ok: true, value: { host: 'echo.default', port: 1 } });
});

test('CONNECT target: missing, zero, too large or non-numeric ports are refused', (t) => {
  for (const bad of [
    'echo.default',
    'echo.default:',
    'echo.default:0',
    'echo.default:65536',
    'echo.default:http',
    '[fd00::1]',
    'fd00::1:80',
  ]) {
    t.false(parseAuthorityForm(bad).ok, bad);
  }
});

test('CONNECT target: paths, userinfo, spaces and empty targets are refused', (t) => {
  for (const bad of ['', 'http://echo.default:80', 'u@echo.default:80', 'echo default:80', '/x', '[fd00::1:80']) {
    t.false(parseAuthorityForm(bad).ok, bad);
  }
});

test('absolute URI: host, default port 80 and the path in origin-form, byte for byte', (t) => {
  t.deepEqual(parseAbsoluteForm('http://echo.default/a/../b%2F?q=1'), {
    ok: true,
    value: { host: 'echo.default', port: 80, path: '/a/../b%2F?q=1' },
  });
  t.deepEqual(parseAbsoluteForm('HTTP://Echo.Default:8080'), { ok: true, value: { host: 'echo.default', port: 8080, path: '/' } });
  t.deepEqual(parseAbsoluteForm('http://echo.default?x'), { ok: true, value: { host: 'echo.default', port: 80, path: '/?x' } });
  t.deepEqual(parseAbsoluteForm('http://[fd00::1]:81/x#frag'), { ok: true, value: { host: 'fd00::1', port: 81, path: '/x' } });
});

test('absolute URI: userinfo is dropped, never forwarded', (t) => {
  t.deepEqual(parseAbsoluteForm('http://user:pw@echo.default/'), { ok: true, value: { host: 'echo.default', port: 80, path: '/' } });
});

test('absolute URI: origin-form, https and other schemes are refused with a reason', (t) => {
  const origin = parseAbsoluteForm('/index.html');
  t.false(origin.ok);
  t.regex(!origin.ok ? origin.reason : '', /absolute URI/);
  const https = parseAbsoluteForm('https://echo.default/');
  t.regex(!https.ok ? https.reason : '', /CONNECT/);
  for (const bad of ['ftp://x/', 'http:///path', 'http://echo.default:99999/', 'http://ec ho/', '*'])
    t.false(parseAbsoluteForm(bad).ok, bad);
});

test('headers: hop-by-hop fields and those named by Connection are dropped, order and case kept', (t) => {
  const raw = [
    'Host',
    'echo.default',
    'Proxy-Connection',
    'keep-alive',
    'Connection',
    'keep-alive, X-Trace',
    'X-Trace',
    '1',
    'Proxy-Authorization',
    'Basic Zm9v',
    'Keep-Alive',
    'timeout=5',
    'TE',
    'trailers',
    'Transfer-Encoding',
    'chunked',
    'Upgrade',
    'h2c',
    'Accept',
    'a/b',
    'X-Other',
    '2',
  ];
  t.deepEqual(endToEndHeaders(raw), ['Host', 'echo.default', 'Accept', 'a/b', 'X-Other', '2']);
  t.deepEqual(endToEndHeaders(raw, ['host']), ['Accept', 'a/b', 'X-Other', '2']);
});

test('basic auth: user and password (with colons), anything else is undefined', (t) => {
  const enc = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  t.deepEqual(parseBasicAuth(enc('alice:pa:ss')), { username: 'alice', password: 'pa:ss' });
  t.deepEqual(parseBasicAuth(enc('alice:').replace('Basic', 'basic')), { username: 'alice', password: '' });
  t.is(parseBasicAuth(undefined), undefined);
  t.is(parseBasicAuth(enc('nocolon')), undefined);
  t.is(parseBasicAuth('Bearer abc'), undefined);
});

test('formatAuthority: brackets for IPv6, default port omitted', (t) => {
  t.is(formatAuthority('echo.default', 80, 80), 'echo.default');
  t.is(formatAuthority('echo.default', 8080, 80), 'echo.default:8080');
  t.is(formatAuthority('fd00::1', 81), '[fd00::1]:81');
});
