import test from 'ava';
import { ByteRing } from '../../../../../lib/proxy/netstack/tcp/ring.js';

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

test('#14: a ring holds no storage until written, gives small storage back once emptied, and keeps storage that grew for bulk', (t) => {
  const ring = new ByteRing(1 << 20);
  t.is(ring.storage, 0);
  ring.push(Buffer.from('x'));
  t.true(ring.storage > 0);
  const v = ring.view(0, 1);
  ring.consume(1);
  t.is(ring.storage, 0, 'an idle connection holds no send buffer');
  t.is(v.toString(), 'x', 'a view taken before keeps its bytes');
  ring.push(Buffer.alloc(100_000, 1));
  const grown = ring.storage;
  ring.consume(100_000);
  t.is(ring.storage, grown);
});
