// The manager as the controller of Engagement objects (issue #11), with the Kubernetes side faked:
// acceptance, conflicts, ownership, status, deletion and who did it, session ends, the pairing of
// engaged connections, and a restart that rebuilds from the objects.
import test from 'ava';
import { PassThrough } from 'node:stream';
import type { EngagementEvent } from '../../../lib/common/rpc/manager.js';
import { ALICE, BOB, echoWorkload, fake, made } from './controller-harness.js';

// Setups that wait for agents poll until stopped.
test.after.always(() => {
  for (const c of made) c.stop();
});

async function watchUntilActive(f: ReturnType<typeof fake>, session: string, name: string) {
  const got: EngagementEvent[] = [];
  const ac = new AbortController();
  const done = f.controller.watch(
    f.sessions.get(session)!,
    { namespace: 'dev', name },
    (e) => {
      got.push(e);
      if (e.type === 'active') ac.abort();
      return true;
    },
    ac.signal,
  );
  return { got, done, ac };
}

test('#11: an engagement of a live session writes the agent config, waits for the agents, then is active with status', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  const w = await watchUntilActive(f, 'alice-1', 'echo');
  await f.settle();
  t.deepEqual(f.calls, ['write echo replace=false']);
  t.is(f.controller.registry.byName('dev', 'echo')?.state, 'waiting', 'not active before its agents run');
  t.is(f.statuses.get('dev/echo')?.state, 'Waiting');
  f.agentsArrive('dev', 'echo');
  await w.done;
  const active = w.got.find((e) => e.type === 'active');
  t.truthy(active);
  if (active?.type === 'active') {
    t.like(active.engagement, { name: 'echo', owner: 'alice', client: 'alice@laptop', state: 'active' });
    t.false('session' in active.engagement, 'the session name is not part of what clients see');
    t.deepEqual(active.env, { K: 'v' });
  }
  t.true(w.got.some((e) => e.type === 'progress' && /Wrote the agent config/.test(e.message)));
  await f.settle();
  t.like(f.statuses.get('dev/echo'), { state: 'Active', ports: '8080/http' });
  t.is(f.statuses.get('dev/echo')?.conditions?.find((c) => c.type === 'Routing')?.status, 'True');
});

test('#11: an engagement naming a session of another user is refused', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.engagement({ name: 'steal', session: 'alice-1', owner: BOB });
  await f.settle();
  t.like(f.statuses.get('dev/steal'), { state: 'Failed' });
  t.regex(f.statuses.get('dev/steal')!.message!, /names session alice-1, which belongs to another user/);
  t.deepEqual(f.calls, [], 'nothing was written to the workload');
  t.is(f.controller.registry.list().length, 0);
});

test('#11: an engagement whose session does not exist is deleted (nothing is left behind)', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.engagement({ name: 'orphan', session: 'gone-1', owner: ALICE });
  await f.settle();
  t.deepEqual(f.deleted, ['dev/orphan']);
});

test('#11: a second unfiltered intercept of the port fails with a sentence naming the other user; the first keeps routing', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  await f.settle();
  f.agentsArrive('dev', 'echo');
  await f.settle();
  f.engagement({ name: 'echo-bob', session: 'bob-1', owner: BOB });
  const ac = new AbortController();
  const err = await t.throwsAsync(
    f.controller.watch(f.sessions.get('bob-1')!, { namespace: 'dev', name: 'echo-bob' }, () => true, ac.signal),
  );
  t.regex(err!.message, /^cannot intercept echo: port 8080 is already intercepted by intercept echo of alice \(alice@laptop\)$/);
  t.is((err as { code?: string }).code, 'E_ENGAGEMENT_CONFLICT');
  t.like(f.statuses.get('dev/echo-bob'), { state: 'Failed' });
  t.is(f.controller.registry.byName('dev', 'echo')?.state, 'active');
});

test('#11: filtered intercepts of two users coexist; the agents see both', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'a', session: 'alice-1', owner: ALICE, filter: { headers: { 'x-dev': 'alice' } } });
  await f.settle();
  const [agent] = f.agentsArrive('dev', 'echo');
  f.engagement({ name: 'b', session: 'bob-1', owner: BOB, filter: { headers: { 'x-dev': 'bob' } } });
  await f.settle(100);
  const snap = f.controller.snapshotFor(f.agents.byPod('dev', agent!.podName)!);
  t.is(snap.type, 'engagements');
  if (snap.type === 'engagements') t.deepEqual(snap.engagements.map((e) => e.filter?.headers['x-dev']).sort(), ['alice', 'bob']);
});

test('#11: deleting the object ends the engagement at once and tells its session who did it', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  const obj = f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  await f.settle();
  f.agentsArrive('dev', 'echo');
  await f.settle();
  t.is(f.controller.registry.get(obj.metadata.uid!)?.state, 'active');
  f.controller.noteDeletion(obj.metadata.uid!, 'carol-admin');
  f.controller.onDeleted(obj);
  t.is(f.controller.registry.list().length, 0, 'the agents route to the app again');
  const ended = f.events.get('alice-1')!.find((e) => e.type === 'ended');
  t.like(ended, { type: 'ended', name: 'echo', namespace: 'dev', reason: 'deleted by carol-admin', by: 'carol-admin' });
});

test('#11: when a session goes, its engagements are deleted', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.workloads.set('dev/other', echoWorkload('dev', 'other'));
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  f.engagement({ name: 'other', session: 'bob-1', owner: BOB, workload: 'other' });
  await f.settle();
  f.agentsArrive('dev', 'echo');
  f.agentsArrive('dev', 'other');
  await f.settle();
  f.sessions.remove('alice-1', 'the session expired');
  await f.settle();
  t.deepEqual(f.deleted, ['dev/echo']);
  t.deepEqual(
    f.controller.registry.list().map((e) => e.name),
    ['other'],
  );
});

test('#11: an agent may open streams only for active engagements of its own workload, and only the owning session may answer', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.workloads.set('dev/other', echoWorkload('dev', 'other'));
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  const obj = f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  f.workloads.get('dev/other')!.config = {
    version: 1,
    workload: { kind: 'Deployment', name: 'other', namespace: 'dev' },
    container: 'echo',
    replace: false,
    ports: [],
    manager: { host: 'm', port: 1 },
  };
  await f.settle();
  const [echoAgent] = f.agentsArrive('dev', 'echo');
  const [otherAgent] = f.agentsArrive('dev', 'other');
  await f.settle();
  const id = obj.metadata.uid!;
  const foreign = await t.throwsAsync(f.controller.agentDial(otherAgent!, id, 8080, '10.1.1.1:1234'));
  t.like(foreign, { failure: 'forbidden' }, 'an agent of another workload');
  const port = await t.throwsAsync(f.controller.agentDial(echoAgent!, id, 9999, ''));
  t.like(port, { failure: 'forbidden' }, 'a port the engagement does not take');

  const issuer = f.controller.agentDial(echoAgent!, id, 8080, '10.1.1.1:1234');
  const dial = f.events.get('alice-1')!.find((e) => e.type === 'dial');
  t.truthy(dial);
  t.deepEqual(
    f.events.get('bob-1')!.filter((e) => e.type === 'dial'),
    [],
    'the dial event goes to the owning session only',
  );
  const token = (dial as { token: string }).token;
  const stolen = t.throws(() => f.controller.answerAsSession(f.sessions.get('bob-1')!, token, () => new PassThrough()));
  t.like(stolen, { failure: 'forbidden' }, 'another session presenting the token');
  const mine = new PassThrough();
  f.controller.answerAsSession(f.sessions.get('alice-1')!, token, () => mine);
  t.is(await issuer, mine, "the agent's side gets the owning session's stream");
});

test('#11: the volumes of an engagement open only for its own session', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE, type: 'ingest', ports: [] });
  await f.settle();
  f.agentsArrive('dev', 'echo');
  await f.settle();
  const e = await t.throwsAsync(f.controller.openSftp(f.sessions.get('bob-1')!, 'dev', 'echo'));
  t.like(e, { failure: 'forbidden' });
});

test('#11: another session cannot follow an engagement it does not own', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  const e = await t.throwsAsync(
    f.controller.watch(f.sessions.get('bob-1')!, { namespace: 'dev', name: 'echo' }, () => true, new AbortController().signal),
  );
  t.is((e as { code?: string }).code, 'E_NOT_YOURS');
});

test('#11: after a restart the controller rebuilds from the objects, with no config change and no pod restart', async (t) => {
  const first = fake();
  first.workloads.set('dev/echo', echoWorkload());
  first.addSession('alice-1', ALICE);
  const obj = first.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  await first.settle();
  first.agentsArrive('dev', 'echo');
  await first.settle();
  const written = first.workloads.get('dev/echo')!.config;
  // A new manager: same cluster state (the workload keeps its config), the same objects.
  const second = fake();
  second.workloads.set('dev/echo', { ...echoWorkload(), config: written, annotated: true });
  second.addSession('alice-1', ALICE);
  second.agentsArrive('dev', 'echo');
  second.controller.onObject(obj);
  await second.settle();
  t.is(second.controller.registry.get(obj.metadata.uid!)?.state, 'active');
  t.deepEqual(second.calls, [], 'the agent config was already right');
});

test('#11: a replace that ends brings the app container back', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.addSession('alice-1', ALICE);
  const obj = f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE, type: 'replace', ports: [] });
  await f.settle();
  f.agentsArrive('dev', 'echo');
  await f.settle();
  t.deepEqual(f.calls, ['write echo replace=true']);
  f.controller.onDeleted(obj);
  await f.settle();
  t.deepEqual(f.calls, ['write echo replace=true', 'write echo replace=false']);
});

test('#16: in a namespace that enforces restricted, a Service with a numeric targetPort fails the engagement before anything is written', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.podSecurity.set('dev', 'restricted');
  f.services.set('dev', [{ name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] }]);
  f.addSession('alice-1', ALICE);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  const w = f.controller.watch(f.sessions.get('alice-1')!, { namespace: 'dev', name: 'echo' }, () => true, new AbortController().signal);
  const err = await t.throwsAsync(w);
  t.is((err as { code?: string }).code, 'E_ENGAGE_INVALID');
  t.regex(
    err!.message,
    /^port 8080 of deployment\/echo cannot be engaged: namespace dev enforces Pod Security "restricted", .* Service echo targets it by number; make http the targetPort of Service echo .* or allow the init container by labelling namespace dev pod-security\.kubernetes\.io\/enforce=privileged/,
  );
  t.deepEqual(f.calls, [], 'nothing was written to the workload');
  t.like(f.statuses.get('dev/echo'), { state: 'Failed' });
});

test('#16: in a namespace that enforces restricted, a port targeted by name is taken over: the written config needs no init container', async (t) => {
  const f = fake();
  f.workloads.set('dev/echo', echoWorkload());
  f.podSecurity.set('dev', 'restricted');
  f.services.set('dev', [{ name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 'http' }] }]);
  f.addSession('alice-1', ALICE);
  f.engagement({ name: 'echo', session: 'alice-1', owner: ALICE });
  const w = await watchUntilActive(f, 'alice-1', 'echo');
  await f.settle();
  t.deepEqual(f.workloads.get('dev/echo')!.config!.ports, [
    { containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http', mode: 'name', appName: 'tp-http' },
  ]);
  f.agentsArrive('dev', 'echo');
  await w.done;
  t.true(w.got.some((e) => e.type === 'active'));
});
