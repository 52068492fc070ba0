import test from 'ava';
import { RttEstimator } from '../../../../../lib/proxy/netstack/tcp/rtt.js';

test('RFC 6298 §2.2: the first sample sets SRTT=R, RTTVAR=R/2, RTO=SRTT+4*RTTVAR', (t) => {
  const r = new RttEstimator(200, 60_000, 1000);
  t.is(r.rto, 1000);
  r.sample(300);
  t.is(r.srtt, 300);
  t.is(r.rttvar, 150);
  t.is(r.rto, 900);
});

test('RFC 6298 §2.3: later samples use alpha=1/8, beta=1/4', (t) => {
  const r = new RttEstimator(1, 60_000, 1000);
  r.sample(100);
  r.sample(200);
  t.is(r.rttvar, 0.75 * 50 + 0.25 * 100);
  t.is(r.srtt, 0.875 * 100 + 0.125 * 200);
  t.is(r.rto, r.srtt + 4 * r.rttvar);
});

test('RFC 6298 §2.4-2.5 and §5.5: RTO is clamped to [min, max] and doubles on backoff', (t) => {
  const r = new RttEstimator(200, 1000, 300);
  r.sample(1);
  t.is(r.rto, 200);
  r.backoff();
  t.is(r.rto, 400);
  r.backoff();
  r.backoff();
  t.is(r.rto, 1000);
});
