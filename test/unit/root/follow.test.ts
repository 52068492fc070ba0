import test from 'ava';
import { FOLLOW_GRACE_MS, Followers, type Timers } from '../../../lib/root/follow.js';

/** Timers on a clock the test moves. */
function fakeClock() {
  let now = 0;
  let next = 1;
  const due = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const id = next++;
      due.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (id) => void due.delete(id as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const first = [...due.entries()].filter(([, d]) => d.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!first) break;
      due.delete(first[0]);
      now = first[1].at;
      first[1].fn();
    }
    now = until;
  };
  return { timers, advance, pending: () => due.size };
}

test('#18: the grace is a named constant of about 10 s', (t) => {
  t.is(FOLLOW_GRACE_MS, 10_000);
});

test('#18: no user daemon ever attaches: the root daemon is alone once the grace is over, not before', (t) => {
  const c = fakeClock();
  let alone = 0;
  new Followers(1000, () => alone++, c.timers);
  c.advance(999);
  t.is(alone, 0);
  c.advance(1);
  t.is(alone, 1);
});

test('#18: the last follower leaves and none comes back within the grace: alone, once', (t) => {
  const c = fakeClock();
  let alone = 0;
  const f = new Followers(1000, () => alone++, c.timers);
  const a = f.attach();
  const b = f.attach();
  c.advance(5000);
  a();
  c.advance(5000);
  t.is(alone, 0, 'one follower is still there');
  b();
  b(); // leaving twice counts once
  t.is(f.count, 0);
  c.advance(999);
  t.is(alone, 0);
  c.advance(10_000);
  t.is(alone, 1);
  t.is(c.pending(), 0);
});

test('#18: a follower back within the grace cancels it; a later departure starts a fresh grace', (t) => {
  const c = fakeClock();
  let alone = 0;
  const f = new Followers(1000, () => alone++, c.timers);
  const a = f.attach();
  a();
  c.advance(900);
  const b = f.attach();
  c.advance(5000);
  t.is(alone, 0);
  b();
  c.advance(900);
  t.is(alone, 0, 'the grace starts again from the second departure');
  c.advance(100);
  t.is(alone, 1);
});

test('#18: stop() ends the watch: no call after it, whatever happens', (t) => {
  const c = fakeClock();
  let alone = 0;
  const f = new Followers(1000, () => alone++, c.timers);
  f.stop();
  const a = f.attach();
  a();
  c.advance(10_000);
  t.is(alone, 0);
});
