import test from 'ava';
import { DialError, type DialFailure } from '../../../../lib/proxy/dialer.js';
import { describeFailure, failureOf, httpStatusFor, socksReplyFor } from '../../../../lib/proxy/socks/failure.js';
import { Rep } from '../../../../lib/proxy/socks/socks5.js';

const ALL: DialFailure[] = ['refused', 'unreachable', 'timeout', 'nxdomain', 'forbidden', 'other'];

test('socks reply: refused 0x05, unreachable/timeout/nxdomain 0x04, forbidden 0x02, other 0x01', (t) => {
  t.is(socksReplyFor('refused'), Rep.CONNECTION_REFUSED);
  t.is(socksReplyFor('unreachable'), Rep.HOST_UNREACHABLE);
  t.is(socksReplyFor('timeout'), Rep.HOST_UNREACHABLE);
  t.is(socksReplyFor('nxdomain'), Rep.HOST_UNREACHABLE);
  t.is(socksReplyFor('forbidden'), Rep.NOT_ALLOWED);
  t.is(socksReplyFor('other'), Rep.GENERAL_FAILURE);
});

test('http status: timeout 504, forbidden 403, every other failure 502', (t) => {
  t.deepEqual(
    ALL.map((f) => httpStatusFor(f).status),
    [502, 502, 504, 502, 403, 502],
  );
});

test('failureOf: a DialError keeps its failure, anything else is "other"', (t) => {
  t.is(failureOf(new DialError('nxdomain', 'x')), 'nxdomain');
  t.is(failureOf(new Error('boom')), 'other');
  t.is(failureOf('string'), 'other');
});

test('describeFailure: one line naming the target, IPv6 in brackets', (t) => {
  for (const f of ALL) {
    const line = describeFailure(f, 'echo.default', 80);
    t.regex(line, /^tp proxy: .*echo\.default/);
    t.false(line.includes('\n'));
  }
  t.is(describeFailure('refused', 'fd00::1', 80), 'tp proxy: [fd00::1]:80 refused the connection');
});
