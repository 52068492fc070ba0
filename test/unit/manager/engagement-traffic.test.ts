// What agents report of an engagement's traffic (issue #13): summed over the workload's agents
// into the registry (what `tp list` shows) and into the Engagement's status, whose writes are
// rate-limited (a fake clock), with a TLSSeen condition for filtered intercepts. Reports about
// engagements of other workloads are ignored.
import test from 'ava';
import type { TrafficCounts } from '../../../lib/common/rpc/engagement.js';
import type { EngagementEvent } from '../../../lib/common/rpc/manager.js';
import { TrafficLedger, TRAFFIC_STATUS_MIN_MS, type LedgerClock } from '../../../lib/manager/engagement-traffic.js';
import { ALICE, BOB, echoWorkload, fake, made } from './controller-harness.js';

test.after.always(() => {
  for (const c of made) c.stop();
});

/** A manual clock: timers fire only in advance(). */
function manualClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: LedgerClock = {
    now: () => now,
    setTimeout: (fn, ms) => (timers.set(++seq, { at: now + ms, fn }), seq),
    clearTimeout: (h) => void timers.delete(h as number),
  };
  return {
    clock,
    pending: () => timers.size,
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
}

const counts = (o: Partial<TrafficCounts> = {}): TrafficCounts => ({ tapCopies: 0, tapDropped: 0, tapAborted: 0, tlsConnections: 0, ...o });
const tick = () => new Promise((r) => setImmediate(r));

test('#13: the ledger sums the last report of each pod; a repeated report changes nothing', (t) => {
  const writes: TrafficCounts[] = [];
  const m = manualClock();
  const l = new TrafficLedger({ write: async (_id, c) => void writes.push(c), clock: m.clock });
  t.deepEqual(l.report('e', 'ns/p0', counts({ tapCopies: 5, tapDropped: 1 })), counts({ tapCopies: 5, tapDropped: 1 }));
  t.deepEqual(l.report('e', 'ns/p1', counts({ tapCopies: 2 })), counts({ tapCopies: 7, tapDropped: 1 }));
  t.is(l.report('e', 'ns/p1', counts({ tapCopies: 2 })), undefined, 'the same counts again: no change');
  t.deepEqual(
    l.report('e', 'ns/p0', counts({ tapCopies: 6, tapDropped: 1 })),
    counts({ tapCopies: 8, tapDropped: 1 }),
    'cumulative per pod: replaced, not added',
  );
  t.deepEqual(l.get('e'), counts({ tapCopies: 8, tapDropped: 1 }));
});

test('#13: status writes: the first at once, then at most one per interval with the latest sum', (t) => {
  const writes: TrafficCounts[] = [];
  const m = manualClock();
  const l = new TrafficLedger({ write: async (_id, c) => void writes.push(c), clock: m.clock });
  l.report('e', 'p', counts({ tlsConnections: 1 }));
  t.deepEqual(writes, [counts({ tlsConnections: 1 })]);
  for (let i = 2; i <= 100; i++) {
    l.report('e', 'p', counts({ tlsConnections: i }));
    m.advance(TRAFFIC_STATUS_MIN_MS / 200);
  }
  t.is(writes.length, 1, 'within the interval: nothing more written yet');
  m.advance(TRAFFIC_STATUS_MIN_MS);
  t.deepEqual(writes, [counts({ tlsConnections: 1 }), counts({ tlsConnections: 100 })], 'one write, with the latest sum');
  m.advance(TRAFFIC_STATUS_MIN_MS * 5);
  t.is(writes.length, 2, 'nothing changed: nothing written');
  l.report('e', 'p', counts({ tlsConnections: 101 }));
  t.is(writes.length, 3, 'the last write is old enough: written at once');
});

test('#13: a forgotten engagement gets no pending write', (t) => {
  const writes: TrafficCounts[] = [];
  const m = manualClock();
  const l = new TrafficLedger({ write: async (_id, c) => void writes.push(c), clock: m.clock });
  l.report('e', 'p', counts({ tapDropped: 1 }));
  l.report('e', 'p', counts({ tapDropped: 2 }));
  t.is(m.pending(), 1);
  l.forget('e');
  t.is(m.pending(), 0);
  m.advance(TRAFFIC_STATUS_MIN_MS * 2);
  t.is(writes.length, 1);
  t.is(l.get('e'), undefined);
});

async function activeFilteredIntercept(replicas = 2) {
  const m = manualClock();
  const f = fake({ trafficClock: m.clock });
  f.workloads.set('dev/echo', echoWorkload('dev', 'echo', replicas));
  f.workloads.set('dev/other', echoWorkload('dev', 'other'));
  f.addSession('alice-1', ALICE);
  f.engagement({ name: 'echo-alice', session: 'alice-1', owner: ALICE, filter: { headers: { 'x-dev': 'alice' } } });
  f.engagement({ name: 'other', session: 'alice-1', owner: ALICE, workload: 'other' });
  await f.settle();
  const agents = f.agentsArrive('dev', 'echo');
  const others = f.agentsArrive('dev', 'other');
  await f.settle();
  const e = f.controller.registry.byName('dev', 'echo-alice')!;
  const other = f.controller.registry.byName('dev', 'other')!;
  return { m, f, agents, others, e, other };
}

test('#13: TLS on a filtered intercept: summed over the agents, listed, and in status with a TLSSeen condition that keeps AgentReady and Routing', async (t) => {
  const { m, f, agents, e } = await activeFilteredIntercept();
  t.is(e.state, 'active');
  f.controller.agentTraffic(agents[0]!, [{ id: e.id, ...counts({ tlsConnections: 2 }) }]);
  f.controller.agentTraffic(agents[1]!, [{ id: e.id, ...counts({ tlsConnections: 1 }) }]);
  t.deepEqual(
    f.controller.list('dev').find((x) => x.name === 'echo-alice')?.traffic,
    counts({ tlsConnections: 3 }),
    'what tp list shows: at once, not rate-limited',
  );
  await tick();
  const status = () => f.statuses.get('dev/echo-alice')!;
  t.deepEqual(status().traffic, counts({ tlsConnections: 2 }), 'the first write at once');
  m.advance(TRAFFIC_STATUS_MIN_MS);
  await tick();
  t.deepEqual(status().traffic, counts({ tlsConnections: 3 }));
  t.is(status().state, 'Active', 'a traffic write leaves the state alone');
  const types = status().conditions!.map((c) => c.type);
  t.deepEqual(types, ['AgentReady', 'Routing', 'TLSSeen']);
  const tls = status().conditions!.find((c) => c.type === 'TLSSeen')!;
  t.like(tls, { status: 'True', reason: 'ClientHello' });
  t.regex(tls.message, /port 8080 carries TLS, so HTTP filters cannot match it; its connections go to the app \(3 so far\)/);
  const trafficWrites = f.statusWrites.filter((w) => w.key === 'dev/echo-alice' && w.status.traffic);
  t.is(trafficWrites.length, 2, 'two reports within the interval: two writes in all');
});

test('#13: an agent reporting an engagement of another workload is ignored', async (t) => {
  const { f, others, e } = await activeFilteredIntercept(1);
  const before = f.statusWrites.length;
  f.controller.agentTraffic(others[0]!, [
    { id: e.id, ...counts({ tlsConnections: 9, tapDropped: 9 }) },
    { id: 'no-such-engagement', ...counts({ tapDropped: 1 }) },
  ]);
  await tick();
  t.is(f.controller.registry.get(e.id)?.traffic, undefined);
  t.is(f.statusWrites.length, before, 'nothing written');
});

test('#13: wiretap drops are counted in status; TLS under an unfiltered intercept is no warning', async (t) => {
  const { f, agents, others, other } = await activeFilteredIntercept(1);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'tap', session: 'bob-1', owner: BOB, type: 'wiretap' });
  await f.settle();
  const tap = f.controller.registry.byName('dev', 'tap')!;
  t.is(tap.state, 'active');
  f.controller.agentTraffic(agents[0]!, [{ id: tap.id, ...counts({ tapCopies: 10, tapDropped: 4, tapAborted: 1 }) }]);
  f.controller.agentTraffic(others[0]!, [{ id: other.id, ...counts({ tlsConnections: 5 }) }]);
  await tick();
  t.deepEqual(f.statuses.get('dev/tap')?.traffic, counts({ tapCopies: 10, tapDropped: 4, tapAborted: 1 }));
  t.deepEqual(f.statuses.get('dev/other')?.traffic, counts({ tlsConnections: 5 }));
  t.false(
    f.statuses.get('dev/other')!.conditions!.some((c) => c.type === 'TLSSeen'),
    'an unfiltered intercept takes TLS connections whole',
  );
  t.false(f.statuses.get('dev/tap')!.conditions!.some((c) => c.type === 'TLSSeen'));
});

test('#13: a filtered intercept created on a port where TLS was seen is warned when it becomes active; an unfiltered one is not', async (t) => {
  const { f, agents, e } = await activeFilteredIntercept(1);
  f.controller.agentTraffic(agents[0]!, [{ id: e.id, ...counts({ tlsConnections: 2 }) }]);
  f.addSession('bob-1', BOB);
  f.engagement({ name: 'echo-bob', session: 'bob-1', owner: BOB, filter: { headers: { 'x-dev': 'bob' } } });
  await f.settle();
  const active = async (session: string, name: string) => {
    const ac = new AbortController();
    let got: EngagementEvent | undefined;
    await f.controller.watch(
      f.sessions.get(session)!,
      { namespace: 'dev', name },
      (ev) => {
        if (ev.type === 'active') ((got = ev), ac.abort());
        return true;
      },
      ac.signal,
    );
    return got?.type === 'active' ? got : undefined;
  };
  const bob = await active('bob-1', 'echo-bob');
  t.is(bob?.engagement.traffic, undefined, "bob's own engagement saw nothing yet");
  t.deepEqual(bob?.warnings, [
    'TLS seen: port 8080 carries TLS, so HTTP filters cannot match it; its connections go to the app (2 so far)',
  ]);
  t.is((await active('alice-1', 'other'))?.warnings, undefined, 'another workload: no warning');
});
