// The write queue of Tun against a scripted addon: the paths a real TUN almost never takes
// (a write meeting EAGAIN, a dead fd), which the device tests cannot provoke. No namespace.

import test from 'ava';
import { copyPacket } from '../../../lib/proxy/netstack/index.js';
import { setTunAddonForTests, Tun, TunError, type PollHandle, type TunAddon } from '../../../lib/root/tun.js';

interface Script {
  /** Packets (as strings) that reached the "kernel", in order. */
  written: string[];
  /** How many more packets the kernel takes before EAGAIN (Infinity: all). */
  room: number;
  /** What the handle watches, as pollSet() last set it. */
  watch: { readable: boolean; writable: boolean };
  onWritable?: () => void;
  onRead?: (n: number) => void;
  slab?: Buffer;
  lengths?: Uint32Array;
  closed: boolean;
  dead: boolean;
  /** pollSetSlab calls: bursts moved to another slab because views of one were lent. */
  slabsSet: number;
}

function scripted(): Script {
  const s: Script = { written: [], room: Infinity, watch: { readable: true, writable: false }, closed: false, dead: false, slabsSet: 0 };
  const fake: TunAddon = {
    open: (name) => ({ fd: 42, name, offloads: 0 }),
    setMtu: () => {},
    setTxQueueLen: () => {},
    setUp: () => {},
    close: () => {
      s.closed = true;
    },
    write: (_fd, packets, start) => {
      if (s.dead) throw Object.assign(new Error('write tun: Bad file descriptor'), { code: 'EBADF' });
      let i = start;
      for (; i < packets.length && s.room > 0; i++, s.room--) s.written.push(copyPacket(packets[i]!).toString());
      return i;
    },
    poll: (_fd, slab, lengths, _max, onRead, onWritable) => {
      Object.assign(s, { slab, lengths, onRead, onWritable });
      return {} as PollHandle;
    },
    pollSet: (_h, readable, writable) => {
      s.watch = { readable, writable };
    },
    pollRef: () => {},
    pollSetSlab: (_h, slab) => {
      s.slab = slab;
      s.slabsSet++;
    },
    pollClose: () => {},
  };
  setTunAddonForTests(fake);
  return s;
}

test.after.always(() => setTunAddonForTests(undefined));

const bufs = (...xs: string[]) => xs.map((x) => Buffer.from(x));

test.serial('EAGAIN mid-batch: the rest is copied, written in order when writable, later batches queue behind', (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  s.room = 2;
  const batch = bufs('a', 'b', 'c', 'd');
  tun.write(batch);
  t.deepEqual(s.written, ['a', 'b']);
  t.deepEqual(s.watch, { readable: true, writable: true });
  batch[2]!.write('X'); // the caller's buffers are pooled: the queue must hold copies
  tun.write(bufs('e'));
  t.deepEqual(s.written, ['a', 'b'], 'nothing overtakes the queue');
  s.room = 1;
  s.onWritable!();
  t.deepEqual(s.written, ['a', 'b', 'c']);
  t.deepEqual(s.watch, { readable: true, writable: true }, 'still blocked: wait again');
  s.room = Infinity;
  s.onWritable!();
  t.deepEqual(s.written, ['a', 'b', 'c', 'd', 'e']);
  t.like(tun.stats(), { writeStalls: 2, writeQueued: 0, writeDropped: 0, packetsWritten: 5 });
  tun.close();
});

test.serial('a full queue drops and counts instead of growing', (t) => {
  const s = scripted();
  const tun = Tun.open('tp0', { writeQueue: 3 });
  s.room = 0;
  tun.write(bufs('a', 'b', 'c', 'd', 'e'));
  t.like(tun.stats(), { writeQueued: 3, writeDropped: 2 });
  s.room = Infinity;
  s.onWritable!();
  t.deepEqual(s.written, ['a', 'b', 'c']);
  tun.close();
});

test.serial('read bursts arrive as views of the slab with the lengths the addon reported', (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  const got: string[][] = [];
  tun.onPackets((ps) => got.push(ps.map((p) => p.toString())));
  s.slab!.write('helloworld!');
  s.lengths!.set([5, 5, 1]);
  s.onRead!(3);
  t.deepEqual(got, [['hello', 'world', '!']]);
  t.like(tun.stats(), { packetsRead: 3, bytesRead: 11, readBursts: 1 });
  tun.close();
});

test.serial('#14: a lent view keeps its bytes while later bursts are read into another slab; a released slab is read into again', (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  let kept: Buffer | undefined;
  let release: (() => void) | undefined;
  tun.onPackets((ps, lend) => {
    if (kept) return;
    kept = ps[0]!;
    release = lend(kept);
  });
  const first = s.slab!;
  first.write('lent!');
  s.lengths!.set([5]);
  s.onRead!(1);
  t.truthy(release);
  t.not(s.slab, first, 'the next burst goes elsewhere');
  s.slab!.write('other');
  s.onRead!(1);
  t.is(kept!.toString(), 'lent!');
  t.is(tun.stats().viewsLent, 1);
  release!();
  release!(); // twice is once
  // Another lending burst moves on from the current slab to the freed one.
  const second = s.slab!;
  tun.onPackets((ps, lend) => lend(ps[0]!));
  s.onRead!(1);
  t.is(s.slab, first);
  t.not(s.slab, second);
  tun.close();
});

test.serial("#14: lend refuses a view that is not in the current burst's slab (the caller copies)", (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  let answer: unknown = 'unset';
  tun.onPackets((_ps, lend) => (answer = lend(Buffer.from('elsewhere'))));
  s.lengths!.set([1]);
  s.onRead!(1);
  t.is(answer, undefined);
  t.is(s.slabsSet, 0);
  tun.close();
});

test.serial('a dead fd on write closes the Tun and reports E_TUN_IO asynchronously, not to the writer', async (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  const err = new Promise<TunError>((r) => tun.onError(r));
  s.dead = true;
  t.notThrows(() => tun.write(bufs('a')));
  const e = await err;
  t.is(e.code, 'E_TUN_IO');
  t.true(tun.closed && s.closed);
  tun.write(bufs('b')); // after close: ignored
  t.deepEqual(s.written, []);
});

test.serial('pause and resume switch readability, keeping a pending writable wait', (t) => {
  const s = scripted();
  const tun = Tun.open('tp0');
  s.room = 0;
  tun.write(bufs('a'));
  tun.pause();
  t.deepEqual(s.watch, { readable: false, writable: true });
  tun.resume();
  t.deepEqual(s.watch, { readable: true, writable: true });
  tun.close();
});
