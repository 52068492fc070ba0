import test from 'ava';
import { TP_ERROR_CODES, TpError, isErrorCode, type WireError } from '../../../lib/common/errors.js';

test('#17: a TpError survives the wire: code, sentence, hint and detail come back as sent', (t) => {
  const sent = new TpError('E_NOT_CONNECTED', 'not connected to a cluster', { hint: 'run `tp connect`', detail: 'state=disconnected' });
  const wire = JSON.parse(JSON.stringify(sent.toWire())) as WireError;
  t.deepEqual(wire, {
    error: 'E_NOT_CONNECTED',
    message: 'not connected to a cluster',
    hint: 'run `tp connect`',
    detail: 'state=disconnected',
  });
  const back = TpError.fromWire(wire, { code: 'E_DAEMON', message: 'unreadable' });
  t.true(back instanceof TpError);
  t.like(back, { code: 'E_NOT_CONNECTED', message: 'not connected to a cluster', hint: 'run `tp connect`', detail: 'state=disconnected' });
  t.deepEqual(back.toWire(), wire);
});

test('#17: the wire shape has no empty fields: no hint, no cause, no detail', (t) => {
  t.deepEqual(new TpError('E_TIMEOUT', 'too slow').toWire(), { error: 'E_TIMEOUT', message: 'too slow' });
});

test('#17: the cause is the standard ES2022 cause; its stack travels only as detail', (t) => {
  const low = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
  const e = new TpError('E_KUBE_UNREACHABLE', 'cannot reach the API server at 10.0.0.1:443', { cause: low });
  t.is(e.cause, low);
  const wire = e.toWire();
  t.is(wire.message, 'cannot reach the API server at 10.0.0.1:443');
  t.regex(wire.detail!, /^Error: connect ECONNREFUSED 10\.0\.0\.1:443\n\s+at /);
  t.is(new TpError('E_INTERNAL', 'x', { cause: 'a string' }).toWire().detail, 'a string');
  t.is(new TpError('E_INTERNAL', 'x', { cause: new Error('y'.repeat(10_000)) }).toWire().detail!.length, 8192, 'detail is bounded');
});

test('#17: fromWire keeps a code this build does not list (a newer peer), and stands in for a body that is not a WireError', (t) => {
  t.is(
    TpError.fromWire({ error: 'E_FROM_THE_FUTURE', message: 'm' }, { code: 'E_DAEMON', message: 'x' }).code,
    'E_FROM_THE_FUTURE' as never,
  );
  const notWire = TpError.fromWire('<html>bad gateway</html>', { code: 'E_DAEMON', message: 'the user daemon sent an unreadable answer' });
  t.like(notWire, { code: 'E_DAEMON', message: 'the user daemon sent an unreadable answer', hint: undefined });
  t.is(TpError.fromWire({ error: 42, message: ['no'] }, { code: 'E_TUNNEL_INTERNAL', message: 'HTTP 500' }).message, 'HTTP 500');
});

test('#17: the code list is one list of unique E_ codes, and isErrorCode knows exactly those', (t) => {
  t.is(new Set(TP_ERROR_CODES).size, TP_ERROR_CODES.length, 'no code listed twice');
  for (const c of TP_ERROR_CODES) t.regex(c, /^E_[A-Z0-9_]+$/);
  t.true(isErrorCode('E_NOT_RUNNING'));
  t.false(isErrorCode('ENOENT'));
  t.false(isErrorCode(undefined));
});
