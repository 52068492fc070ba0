import test from 'ava';
import { SessionRegistry } from '../../../lib/manager/sessions.js';

test('a session expires when heartbeats stop, and not before', (t) => {
  let now = 0;
  const reg = new SessionRegistry(30_000, () => now);
  const expired: string[] = [];
  reg.on('expire', (s) => expired.push(s.id));
  const s = reg.arrive('dev@laptop', { namespace: 'team' });
  t.is(s.namespace, 'team');
  now = 25_000;
  t.true(reg.heartbeat(s.id));
  now = 50_000;
  reg.sweep();
  t.deepEqual(expired, []);
  now = 81_000;
  reg.sweep();
  t.deepEqual(expired, [s.id]);
  t.false(reg.heartbeat(s.id), 'an expired session is unknown');
});

test('a reconnecting client resumes its session by id; an unknown id gets a new one', (t) => {
  const reg = new SessionRegistry();
  const a = reg.arrive('dev@laptop', {});
  t.is(reg.arrive('dev@laptop', {}, a.id).id, a.id);
  t.not(reg.arrive('dev@laptop', {}, 'gone').id, a.id);
  t.is(a.namespace, 'default');
});

test('depart ends the session and tells listeners', (t) => {
  const reg = new SessionRegistry();
  const a = reg.arrive('x', {});
  let departed = '';
  reg.on('depart', (s) => (departed = s.id));
  reg.depart(a.id);
  t.is(departed, a.id);
  t.deepEqual(reg.list(), []);
});
