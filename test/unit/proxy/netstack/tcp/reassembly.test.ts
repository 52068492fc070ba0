import test from 'ava';
import { Reassembly } from '../../../../../lib/proxy/netstack/tcp/reassembly.js';
import { seqAdd } from '../../../../../lib/proxy/netstack/tcp/seq.js';

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

test('Reassembly.sackBlocks: at most the asked number of blocks, the latest insert first (RFC 2018 §4)', (t) => {
  const r = new Reassembly();
  for (const s of [10, 30, 50, 70, 90, 110]) r.insert(s, Buffer.alloc(5));
  r.insert(52, Buffer.alloc(10)); // extends the block at 50 to 62
  const out: number[] = [];
  r.sackBlocks(out, 4);
  t.deepEqual(out, [50, 62, 110, 115, 90, 95, 70, 75]);
});
