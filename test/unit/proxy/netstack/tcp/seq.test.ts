import test from 'ava';
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt } from '../../../../../lib/proxy/netstack/tcp/seq.js';

test('sequence arithmetic compares modulo 2^32 across the wrap (RFC 9293 §3.4)', (t) => {
  t.true(seqLt(0xfffffff0, 0x10));
  t.true(seqGt(0x10, 0xfffffff0));
  t.true(seqLe(5, 5) && seqGe(5, 5));
  t.is(seqAdd(0xffffffff, 2), 1);
  t.is(seqDiff(1, 0xffffffff), 2);
  t.is(seqDiff(0xffffffff, 1), -2);
  t.true(seqInWindow(2, 0xfffffffe, 10));
  t.false(seqInWindow(10, 0xfffffffe, 10));
});
