// The agent's traffic reports to the manager (lib/agent/traffic-report.ts, issue #13), on a fake
// clock: sent when the counts change, at most once per interval, not at all when nothing changed,
// again after a failure or a reconnection.
import test from 'ava';
import type { EngagementTraffic } from '../../../lib/agent/forwarder.js';
import { AGENT_TRAFFIC_REPORT_MS, TrafficReporter, type ReportTimers } from '../../../lib/agent/traffic-report.js';

/** A fake interval timer: advance() runs the ticks due, awaiting each. */
function fakeTimers() {
  let fn: (() => void) | undefined;
  let every = 0;
  let now = 0;
  let next = 0;
  const timers: ReportTimers = {
    setInterval: (f, ms) => ((fn = f), (every = ms), (next = now + ms), 1),
    clearInterval: () => void (fn = undefined),
  };
  return {
    timers,
    get armed() {
      return fn !== undefined;
    },
    async advance(ms: number) {
      const until = now + ms;
      while (fn && next <= until) {
        now = next;
        next += every;
        fn();
        await new Promise((r) => setImmediate(r));
      }
      now = until;
    },
  };
}

const eng = (id: string, o: Partial<EngagementTraffic> = {}): EngagementTraffic => ({
  id,
  tapCopies: 0,
  tapDropped: 0,
  tapAborted: 0,
  tlsConnections: 0,
  ...o,
});

function harness(opts: { fail?: () => boolean } = {}) {
  const clock = fakeTimers();
  let counts: EngagementTraffic[] = [];
  let reads = 0;
  const sent: EngagementTraffic[][] = [];
  const r = new TrafficReporter({
    read: () => (reads++, counts.map((c) => ({ ...c }))),
    send: async (t) => {
      if (opts.fail?.()) throw new Error('no manager');
      sent.push(t);
    },
    timers: clock.timers,
  });
  return { clock, r, sent, set: (c: EngagementTraffic[]) => void (counts = c), reads: () => reads };
}

test('#13: counts are sent once when they change, not again while they stay the same', async (t) => {
  const h = harness();
  h.r.start();
  h.set([eng('a', { tlsConnections: 1 })]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS);
  t.deepEqual(h.sent, [[eng('a', { tlsConnections: 1 })]]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS * 10);
  t.is(h.sent.length, 1, 'nothing changed: no call');
  t.is(h.reads(), 11, 'one look at the counts per interval');
  h.set([eng('a', { tlsConnections: 3 })]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS);
  t.deepEqual(h.sent.at(-1), [eng('a', { tlsConnections: 3 })]);
});

test('#13: many changes within one interval make one report, with the latest counts', async (t) => {
  const h = harness();
  h.r.start();
  for (let i = 1; i <= 50; i++) {
    h.set([eng('w', { tapCopies: i, tapDropped: i >> 1 })]);
    await h.clock.advance(AGENT_TRAFFIC_REPORT_MS / 50);
  }
  t.deepEqual(h.sent, [[eng('w', { tapCopies: 50, tapDropped: 25 })]]);
});

test('#13: engagements with nothing to tell are left out; an agent with none sends nothing', async (t) => {
  const h = harness();
  h.r.start();
  h.set([eng('quiet'), eng('b', { tapCopies: 2 })]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS);
  t.deepEqual(h.sent, [[eng('b', { tapCopies: 2 })]]);
  const q = harness();
  q.r.start();
  q.set([eng('quiet')]);
  await q.clock.advance(AGENT_TRAFFIC_REPORT_MS * 3);
  t.deepEqual(q.sent, []);
});

test('#13: a report the manager did not take is sent again; after a reconnection the counts are sent again', async (t) => {
  let down = true;
  const h = harness({ fail: () => down });
  h.r.start();
  h.set([eng('a', { tlsConnections: 1 })]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS * 2);
  t.deepEqual(h.sent, []);
  down = false;
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS);
  t.is(h.sent.length, 1);
  h.r.reset();
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS);
  t.is(h.sent.length, 2, 'a new manager connection gets the counts');
  t.deepEqual(h.sent[1], h.sent[0]);
});

test('#13: stop() ends the reports', async (t) => {
  const h = harness();
  h.r.start();
  h.r.stop();
  t.false(h.clock.armed);
  h.set([eng('a', { tlsConnections: 1 })]);
  await h.clock.advance(AGENT_TRAFFIC_REPORT_MS * 3);
  t.deepEqual(h.sent, []);
});
