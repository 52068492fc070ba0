// Random peers: whatever arrives, the state machine must not throw, must keep its sequence
// invariants, and must never emit more than one MSS of payload or data beyond SND.MAX's rules.

import test from 'ava';
import { seqAdd, seqLe } from '../../../../../lib/proxy/netstack/tcp/seq.js';
import { ACK, FIN, RST, SYN } from '../../../../../lib/proxy/netstack/wire/tcp.js';
import { MSS, O1, P1, collect, established, send } from './harness.js';

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

test('fuzz: random segments in random order never break TcpConn invariants', (t) => {
  const flagChoices = [ACK, ACK, ACK, ACK | FIN, RST, SYN, 0, ACK | RST, SYN | ACK];
  for (let run = 0; run < 60; run++) {
    const rnd = prng(run + 1);
    const { c } = established({ tuning: { receiveBuffer: 8000, sendBuffer: 6000, maxRetransmits: 3 } });
    let now = 0;
    for (let step = 0; step < 200 && c.state !== 'CLOSED'; step++) {
      now += rnd(300);
      const r = rnd(10);
      if (r === 0) c.write(Buffer.alloc(1 + rnd(3000)));
      else if (r === 1 && rnd(4) === 0) c.close();
      else if (r === 2) c.consumed(rnd(4000));
      else {
        const seq = seqAdd(P1, rnd(12_000) - 2000);
        const ack = seqAdd(O1, rnd(8000) - 1000);
        const data = rnd(3) === 0 ? Buffer.alloc(rnd(1500), 1) : undefined;
        send(c, { seq, ack, flags: flagChoices[rnd(flagChoices.length)]!, window: rnd(3) === 0 ? 0 : rnd(0x10000), data }, now);
      }
      const out = collect(c, now);
      for (const s of out) {
        t.true(s.data.length <= MSS, 'payload within MSS');
      }
      if (!c.isClosed()) {
        t.true(seqLe(c.sndUna, c.sndNxt) && seqLe(c.sndNxt, c.sndMax), `run ${run} step ${step}: una<=nxt<=max`);
        t.true(c.bufferedBytes <= 6000);
        t.true(c.outOfOrderBytes <= 8000);
      }
      t.true(Number.isFinite(c.pollAt()) || c.pollAt() === Number.POSITIVE_INFINITY);
    }
  }
});
