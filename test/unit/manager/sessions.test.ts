import test from 'ava';
import { newSessionSecret, type SessionObject } from '../../../lib/common/objects.js';
import { SessionStore, type SessionCluster } from '../../../lib/manager/sessions.js';

/** Sessions "in the cluster": what the fake API server holds, and what the store did to it. */
function fakeCluster() {
  const objects = new Map<string, SessionObject>();
  const deleted: string[] = [];
  const lastSeen: string[] = [];
  const cluster: SessionCluster = {
    read: async (name) => objects.get(name),
    delete: async (name) => {
      objects.delete(name);
      deleted.push(name);
    },
    writeLastSeen: async (name) => void lastSeen.push(name),
  };
  return { objects, deleted, lastSeen, cluster };
}

const session = (name: string, hash: string, extra: Partial<SessionObject['metadata']> = {}): SessionObject => ({
  apiVersion: 'tp.dev/v1',
  kind: 'Session',
  metadata: { name, namespace: 'tp-system', uid: `uid-${name}`, creationTimestamp: new Date(0).toISOString(), ...extra },
  spec: {
    owner: { username: 'alice', groups: ['dev', 'system:authenticated'] },
    label: 'alice@laptop',
    secretHash: hash,
    clientVersion: '0.1.0',
  },
});

test('#11: a hello with the secret whose hash the Session holds authenticates; any other secret does not', async (t) => {
  const k = fakeCluster();
  const store = new SessionStore(k.cluster, { now: () => 1000 });
  const { secret, hash } = newSessionSecret();
  store.upsert(session('alice-1', hash));
  t.is((await store.authenticate('alice-1', secret))?.owner.username, 'alice');
  t.is(await store.authenticate('alice-1', newSessionSecret().secret), undefined);
  t.is(await store.authenticate('alice-1', hash), undefined, 'the hash itself is not the secret');
  t.is(await store.authenticate('nobody', secret), undefined);
});

test('#11: a Session the watch has not delivered yet is read from the API server', async (t) => {
  const k = fakeCluster();
  const store = new SessionStore(k.cluster);
  const { secret, hash } = newSessionSecret();
  k.objects.set('fresh', session('fresh', hash));
  t.is((await store.authenticate('fresh', secret))?.name, 'fresh');
  t.is(store.get('fresh')?.label, 'alice@laptop');
});

test('#11: a Session being deleted authenticates nobody', async (t) => {
  const k = fakeCluster();
  const store = new SessionStore(k.cluster);
  const { secret, hash } = newSessionSecret();
  store.upsert(session('going', hash, { deletionTimestamp: new Date().toISOString() }));
  t.is(await store.authenticate('going', secret), undefined);
});

test('a session whose heartbeats stop is deleted after the expiry, and not before; its listeners hear it', async (t) => {
  let now = 100_000;
  const k = fakeCluster();
  const store = new SessionStore(k.cluster, { expiryMs: 30_000, now: () => now });
  const { hash } = newSessionSecret();
  const s = store.upsert(session('a', hash));
  k.objects.set('a', session('a', hash));
  const gone: string[] = [];
  store.on('gone', (g: { name: string }, reason: string) => gone.push(`${g.name}: ${reason}`));
  store.connected(s);
  now += 25_000;
  store.heartbeat(s);
  now += 25_000;
  await store.sweep();
  t.deepEqual(gone, []);
  now += 6_000;
  await store.sweep();
  t.deepEqual(gone, ['a: the session expired']);
  t.deepEqual(k.deleted, ['a'], 'the object is deleted, so nothing is left behind');
  t.is(store.get('a'), undefined);
});

test('#11: after a manager restart every session gets a full expiry period from the restart to come back', async (t) => {
  let now = 1_000_000;
  const k = fakeCluster();
  const { secret, hash } = newSessionSecret();
  // Last seen long ago (the manager was down for a while).
  const obj = { ...session('old', hash), status: { lastSeen: new Date(now - 3_600_000).toISOString() } };
  const store = new SessionStore(k.cluster, { expiryMs: 30_000, now: () => now });
  store.upsert(obj);
  now += 20_000;
  await store.sweep();
  t.deepEqual(k.deleted, []);
  t.truthy(await store.authenticate('old', secret), 'the client reconnects with its secret');
  now += 31_000;
  await store.sweep();
  t.deepEqual(k.deleted, ['old']);
});

test('end() deletes the session at once (tp quit)', async (t) => {
  const k = fakeCluster();
  const store = new SessionStore(k.cluster);
  const { hash } = newSessionSecret();
  const s = store.upsert(session('q', hash));
  let reason = '';
  store.on('gone', (_g: unknown, r: string) => (reason = r));
  await store.end(s);
  t.deepEqual(k.deleted, ['q']);
  t.is(reason, 'the client disconnected');
});
