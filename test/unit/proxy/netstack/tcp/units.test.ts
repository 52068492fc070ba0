import test from 'ava';
import { Reassembly } from '../../../../../lib/proxy/netstack/tcp/reassembly.js';
import { ByteRing } from '../../../../../lib/proxy/netstack/tcp/ring.js';
import { RttEstimator } from '../../../../../lib/proxy/netstack/tcp/rtt.js';
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

test('ByteRing: bytes survive wrap-around and growth; views stop at the wrap point', (t) => {
  const ring = new ByteRing(40_000);
  const all = Buffer.alloc(100_000);
  for (let i = 0; i < all.length; i++) all[i] = (i * 31) & 0xff;
  let written = 0;
  let read = 0;
  const got: Buffer[] = [];
  for (let round = 0; round < 50 && read < all.length; round++) {
    written += ring.push(all.subarray(written, Math.min(all.length, written + 7_777)));
    let off = 0;
    const want = Math.min(ring.length, 5_000);
    while (off < want) {
      const v = ring.view(off, want - off);
      t.true(v.length > 0);
      got.push(Buffer.from(v));
      off += v.length;
    }
    ring.consume(want);
    read += want;
  }
  t.true(ring.free <= 40_000);
  t.deepEqual(Buffer.concat(got), all.subarray(0, read));
});

test('Reassembly: overlapping pieces are stored once and taken in order (RFC 9293 §3.10.7.4)', (t) => {
  const r = new Reassembly();
  const base = 0xfffffff0; // across the wrap
  const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
  t.is(r.insert(seqAdd(base, 10), data.subarray(10, 20)), 10);
  t.is(r.insert(seqAdd(base, 5), data.subarray(5, 15)), 5);
  t.is(r.insert(seqAdd(base, 18), data.subarray(18, 26)), 6);
  t.is(r.insert(seqAdd(base, 12), data.subarray(12, 14)), 0);
  t.is(r.bytes, 21);
  t.is(r.take(base), null); // hole [0,5)
  const out: Buffer[] = [];
  let nxt = seqAdd(base, 5);
  for (let c = r.take(nxt); c; c = r.take(nxt)) {
    out.push(c);
    nxt = seqAdd(nxt, c.length);
  }
  t.is(Buffer.concat(out).toString(), 'fghijklmnopqrstuvwxyz');
  t.is(r.bytes, 0);
});

test('Reassembly: a piece partly before RCV.NXT is trimmed when taken', (t) => {
  const r = new Reassembly();
  r.insert(100, Buffer.from('0123456789'));
  t.is(r.take(105)!.toString(), '56789');
  t.is(r.take(110), null);
});

test('Reassembly: the piece count is capped (a peer sending 1-byte islands cannot grow it)', (t) => {
  const r = new Reassembly(4);
  for (let i = 0; i < 10; i++) r.insert(i * 2, Buffer.from('x'));
  t.is(r.size, 4);
});
