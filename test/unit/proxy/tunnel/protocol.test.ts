import test from 'ava';
import type { DialFailure } from '../../../../lib/proxy/dialer.js';
import {
  TUNNEL_PROTOCOL_VERSION,
  decodeHeaderText,
  dialFailureFrom,
  dialFailureStatus,
  encodeHeaderText,
  handshakeSchema,
  negotiateVersion,
} from '../../../../lib/proxy/tunnel/protocol.js';
import { check } from '../../../../lib/common/rpc/schema.js';

test('handshake: equal versions agree', (t) => {
  const v = { version: TUNNEL_PROTOCOL_VERSION, minVersion: TUNNEL_PROTOCOL_VERSION };
  t.deepEqual(negotiateVersion(v, v), { ok: true, version: TUNNEL_PROTOCOL_VERSION });
});

test('handshake: overlapping ranges agree on the highest common version', (t) => {
  t.deepEqual(negotiateVersion({ version: 3, minVersion: 1 }, { version: 2, minVersion: 2 }), { ok: true, version: 2 });
  t.deepEqual(negotiateVersion({ version: 2, minVersion: 2 }, { version: 5, minVersion: 1 }), { ok: true, version: 2 });
});

test('handshake: a newer peer than the manager supports gets an error naming both versions', (t) => {
  const r = negotiateVersion({ version: 1, minVersion: 1 }, { version: 3, minVersion: 2 });
  t.false(r.ok);
  if (!r.ok) {
    t.regex(r.message, /peer speaks version 2\.\.3/);
    t.regex(r.message, /traffic manager speaks version 1\b/);
    t.regex(r.message, /upgrade the traffic manager/);
  }
});

test('handshake: an older peer is told to upgrade itself', (t) => {
  const r = negotiateVersion({ version: 4, minVersion: 3 }, { version: 2, minVersion: 1 });
  t.false(r.ok);
  if (!r.ok) t.regex(r.message, /peer speaks version 1\.\.2, the traffic manager speaks version 3\.\.4; upgrade the peer/);
});

const ALL: DialFailure[] = ['refused', 'unreachable', 'timeout', 'nxdomain', 'forbidden', 'other'];

test('dial failures: every failure survives status + reason header', (t) => {
  for (const f of ALL) t.is(dialFailureFrom(dialFailureStatus(f), f), f, f);
});

test('dial failures: statuses are 504 for silence, 403 for policy, 502 otherwise', (t) => {
  t.is(dialFailureStatus('timeout'), 504);
  t.is(dialFailureStatus('forbidden'), 403);
  t.is(dialFailureStatus('refused'), 502);
  t.is(dialFailureStatus('nxdomain'), 502);
});

test('dial failures: without a (known) reason header the status alone decides', (t) => {
  t.is(dialFailureFrom(504, undefined), 'timeout');
  t.is(dialFailureFrom(403, undefined), 'forbidden');
  t.is(dialFailureFrom(502, undefined), 'other');
  t.is(dialFailureFrom(502, 'bogus'), 'other');
  t.is(dialFailureFrom(500, undefined), 'other');
});

test('dial messages survive the header encoding', (t) => {
  const m = 'dial 10.0.0.1:80: connect ECONNREFUSED — «ünïcode»\r\n';
  t.regex(encodeHeaderText(m), /^[\x21-\x7e]*$/);
  t.is(decodeHeaderText(encodeHeaderText(m)), m);
  t.is(decodeHeaderText('%E0%A4%A'), '%E0%A4%A'); // broken escapes read as-is
});

test("#17: handshake request: what a client sends passes; a newer peer's extra field is dropped, not refused", (t) => {
  const req = { version: 2, minVersion: 2, peer: 'client', capabilities: ['tcp', 'connect-udp', 'watch'] };
  t.deepEqual(check(handshakeSchema, req), req);
  t.deepEqual(check(handshakeSchema, { ...req, compression: 'zstd' }), req);
});

test('#17: handshake request: a malformed one is refused naming the field', (t) => {
  t.throws(() => check(handshakeSchema, { version: 2, minVersion: 2, peer: 'client', capabilities: ['tcp', 5] }), {
    message: 'capabilities[1]: must be a string of at most 64 characters',
  });
  t.throws(() => check(handshakeSchema, { version: '2', minVersion: 2, peer: 'client', capabilities: [] }), {
    message: 'version: must be an integer of at least 0',
  });
  t.throws(() => check(handshakeSchema, null), { message: 'the request must be an object' });
});
