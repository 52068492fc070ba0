import test from 'ava';
import { NewReno } from '../../../../../lib/proxy/netstack/tcp/congestion.js';

test('NewReno: congestion avoidance grows cwnd by about one SMSS per window (RFC 5681 eq. 3)', (t) => {
  const cc = new NewReno(1000, 1 << 30, 0);
  cc.onTimeout(20_000, 20_000); // ssthresh = 10000, cwnd = 1 SMSS
  t.is(cc.ssthresh, 10_000);
  let ack = 0;
  while (cc.cwnd < cc.ssthresh) cc.onAck((ack += 1000), 1000, 1000); // slow start, eq. 2
  t.is(cc.cwnd, 10_000);
  for (let i = 0; i < 10; i++) cc.onAck((ack += 1000), 1000, 1000); // one window of ACKs
  t.true(cc.cwnd >= 10_900 && cc.cwnd <= 11_000, String(cc.cwnd));
});

test('NewReno: the third duplicate ACK, not the second, starts fast retransmit (RFC 5681 §3.2)', (t) => {
  const cc = new NewReno(1000, 1 << 30, 0);
  t.false(cc.onDupAck(8000, 8000));
  t.false(cc.onDupAck(8000, 8000));
  t.true(cc.onDupAck(8000, 8000));
  t.is(cc.ssthresh, 4000);
  t.is(cc.cwnd, 7000);
  t.true(cc.inRecovery);
  t.false(cc.onDupAck(8000, 8000));
  t.is(cc.cwnd, 8000);
});
