import test from 'ava';
import { dialFailureOf } from '../../../lib/proxy/direct-dialer.js';

test('errno maps to the failure a real network would show', (t) => {
  t.is(dialFailureOf({ code: 'ECONNREFUSED' }), 'refused');
  t.is(dialFailureOf({ code: 'EHOSTUNREACH' }), 'unreachable');
  t.is(dialFailureOf({ code: 'ENETUNREACH' }), 'unreachable');
  t.is(dialFailureOf({ code: 'ETIMEDOUT' }), 'timeout');
  t.is(dialFailureOf({ code: 'ENOTFOUND' }), 'nxdomain');
  t.is(dialFailureOf({ code: 'EACCES' }), 'forbidden');
  t.is(dialFailureOf({ code: 'EWHATEVER' }), 'other');
  t.is(dialFailureOf(undefined), 'other');
});

test('happy-eyeballs AggregateErrors map by their first error', (t) => {
  t.is(dialFailureOf({ errors: [{ code: 'ECONNREFUSED' }, { code: 'ENETUNREACH' }] }), 'refused');
});
