// The stack's timer wheel (wheel.ts): deadlines filed by time, so that expiry costs what is due.

import test from 'ava';
import { TimerWheel } from '../../../../lib/proxy/netstack/wheel.js';

const item = (name: string) => ({ name, wheelAt: Number.POSITIVE_INFINITY });
const names = (xs: { name: string }[]) => xs.map((x) => x.name);

test('#14: items come due in slot order, each once, and only those due', (t) => {
  const w = new TimerWheel<ReturnType<typeof item>>();
  const [a, b, c] = [item('a'), item('b'), item('c')];
  w.schedule(c, 304, 0);
  w.schedule(a, 104, 0);
  w.schedule(b, 200, 0);
  t.is(w.next(), 104);
  const out: (typeof a)[] = [];
  w.due(250, out);
  t.deepEqual(names(out), ['a', 'b']);
  t.is(w.next(), 304);
  out.length = 0;
  w.due(250, out);
  t.deepEqual(out, []);
  w.due(304, out);
  t.deepEqual(names(out), ['c']);
  t.is(w.next(), Number.POSITIVE_INFINITY);
});

test('#14: a deadline is rounded up to a step that grows with its distance: 1 ms near, 8 ms within 2 s, 128 ms within 10 s, 1 s beyond', (t) => {
  t.is(TimerWheel.slotOf(300_400, 0), 301_000);
  t.is(TimerWheel.slotOf(300_000, 0), 300_000);
  t.is(TimerWheel.slotOf(1_030.2, 1_000), 1_031);
  t.is(TimerWheel.slotOf(1_201, 1_000), 1_208);
  t.is(TimerWheel.slotOf(5_001, 0), 5_120);
  const w = new TimerWheel<ReturnType<typeof item>>();
  for (let i = 0; i < 1000; i++) w.schedule(item(`k${i}`), 300_000 + i, i); // 1,000 keep-alives opened over 1 s
  t.is(w.slots, 2);
});

test('#14: a deadline moved earlier is filed again and comes due once; one moved later stays filed early', (t) => {
  const w = new TimerWheel<ReturnType<typeof item>>();
  const a = item('a');
  w.schedule(a, 504, 0);
  w.schedule(a, 800, 0); // later: no change, the owner refiles when the early slot fires
  t.is(a.wheelAt, 504);
  w.schedule(a, 200, 0); // earlier
  t.is(a.wheelAt, 200);
  const out: (typeof a)[] = [];
  w.due(1000, out);
  t.deepEqual(names(out), ['a']);
  t.is(a.wheelAt, Number.POSITIVE_INFINITY);
});

test('#14: clear unfiles everything', (t) => {
  const w = new TimerWheel<ReturnType<typeof item>>();
  const a = item('a');
  w.schedule(a, 5, 0);
  w.clear();
  t.is(a.wheelAt, Number.POSITIVE_INFINITY);
  t.is(w.next(), Number.POSITIVE_INFINITY);
});
