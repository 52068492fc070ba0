import test from 'ava';
import { seqAdd } from '../../../../../lib/proxy/netstack/tcp/seq.js';
import { ACK, FIN, RST, SYN } from '../../../../../lib/proxy/netstack/wire/tcp.js';
import { MSS, O1, OUR_ISS, P1, PEER_ISS, brief, collect, established, expectNothing, send, synReceived } from './harness.js';

const text = (bufs: Buffer[]) => Buffer.concat(bufs).toString();

// ------------------------------------------------------------------ LISTEN → SYN-RECEIVED

test('LISTEN: a SYN with window scale gets a SYN-ACK with MSS and our shift, window unscaled (RFC 7323 §2.2)', (t) => {
  const { c } = synReceived({ peerWscale: 7 });
  t.is(c.state, 'SYN-RECEIVED');
  const out = collect(c, 0);
  t.deepEqual(brief(out), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
  t.is(out[0]!.mss, MSS);
  t.is(out[0]!.wscale, 5); // 1 MiB receive buffer >> 5 fits in 16 bits
  t.is(out[0]!.window, 0xffff);
});

test('LISTEN: without the peer offering window scale we send none and cap the window at 65535 (RFC 7323 §1.3)', (t) => {
  const { c } = synReceived();
  const out = collect(c, 0);
  t.is(out[0]!.wscale, -1);
  t.is(out[0]!.window, 0xffff);
  t.is(c.sndWscale, 0);
  t.is(c.rcvWscale, 0);
});

test('MSS negotiation: we send segments of min(peer MSS, our MSS) (RFC 9293 §3.7.1)', (t) => {
  const { c } = established({ peerMss: 500, mss: 1000 });
  c.write(Buffer.alloc(1200, 1));
  t.deepEqual(
    brief(collect(c, 0)).map((s) => s[3]),
    [500, 500, 200],
  );
});

test('MSS negotiation: a SYN without MSS option means 536 bytes (RFC 9293 §3.7.1)', (t) => {
  const { c } = established({ peerMss: -1, mss: 9000 });
  t.is(c.sendMss, 536);
});

test('window scale: the peer window is shifted by its scale and ours by our scale (RFC 7323 §2.3)', (t) => {
  const { c } = established({ peerWscale: 2 });
  send(c, { seq: P1, ack: O1, window: 300 });
  t.is(c.sndWnd, 1200);
  send(c, { seq: P1, data: 'x', ack: O1, window: 300 });
  const out = collect(c, 0);
  t.is(out[0]!.window, (1 << 20) >> 5);
});

// ------------------------------------------------------------------ SYN-RECEIVED

test('SYN-RECEIVED: ACK of ISS+1 enters ESTABLISHED (RFC 9293 §3.10.7.4)', (t) => {
  const { c, ev } = synReceived();
  collect(c, 0);
  send(c, { seq: P1, ack: O1 });
  t.is(c.state, 'ESTABLISHED');
  t.is(ev.established, 1);
  expectNothing(t, c, 0);
});

test('SYN-RECEIVED: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST> and the state stays (RFC 9293 §3.10.7.4)', (t) => {
  const { c } = synReceived();
  collect(c, 0);
  send(c, { seq: P1, ack: O1 + 100 });
  t.deepEqual(brief(collect(c, 0)), [[O1 + 100, 0, 'RST', 0]]);
  t.is(c.state, 'SYN-RECEIVED');
});

test('SYN-RECEIVED: RST at RCV.NXT closes the connection (RFC 9293 §3.10.7.4, RST in SYN-RECEIVED)', (t) => {
  const { c, ev } = synReceived();
  collect(c, 0);
  send(c, { seq: P1, flags: RST });
  t.is(c.state, 'CLOSED');
  t.deepEqual(ev.closed, ['peer-reset']);
  expectNothing(t, c, 0);
});

test('SYN-RECEIVED: a retransmitted SYN gets the SYN-ACK again (RFC 9293 §3.10.7.4)', (t) => {
  const { c } = synReceived();
  collect(c, 0);
  send(c, { seq: PEER_ISS, flags: SYN, mss: MSS });
  t.deepEqual(brief(collect(c, 10)), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
});

test('SYN-RECEIVED: the SYN-ACK is retransmitted with backoff and the handshake gives up with RST (RFC 6298 §5.5)', (t) => {
  const { c, ev } = synReceived({ tuning: { maxSynAckRetransmits: 2 } });
  t.deepEqual(brief(collect(c, 0)), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
  expectNothing(t, c, 999);
  t.deepEqual(brief(collect(c, 1000)), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
  expectNothing(t, c, 2999);
  t.deepEqual(brief(collect(c, 3000)), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
  t.deepEqual(brief(collect(c, 7000)), [[O1, 0, 'RST', 0]]);
  t.deepEqual(ev.closed, ['handshake-timeout']);
});

test('SYN-RECEIVED: data written before the handshake completes goes out after it (server speaks first)', (t) => {
  const { c } = synReceived();
  t.is(c.write(Buffer.from('220 hello')), 9);
  t.deepEqual(brief(collect(c, 0)), [[OUR_ISS, P1, 'SYN|ACK', 0]]);
  send(c, { seq: P1, ack: O1 });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 9]]);
});

// ------------------------------------------------------------------ ESTABLISHED: receiving

test('ESTABLISHED: in-order data is delivered and ACKs for one batch coalesce into one', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, ack: O1, data: 'hello' });
  send(c, { seq: P1 + 5, ack: O1, data: 'world' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 10, 'ACK', 0]]);
  t.is(text(ev.data), 'helloworld');
});

test('ESTABLISHED: out-of-order segments are queued, dup-ACKed, and reassembled when the hole fills (RFC 9293 §3.10.7.4, RFC 5681 §4.2)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1 + 10, ack: O1, data: 'third' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
  send(c, { seq: P1 + 5, ack: O1, data: 'secon' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
  t.deepEqual(ev.data, []);
  t.is(c.outOfOrderBytes, 10);
  send(c, { seq: P1, ack: O1, data: 'first' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 15, 'ACK', 0]]);
  t.is(text(ev.data), 'firstseconthird');
  t.is(c.outOfOrderBytes, 0);
});

test('ESTABLISHED: each out-of-order segment of a batch gets its own duplicate ACK (RFC 5681 §4.2)', (t) => {
  const { c } = established();
  send(c, { seq: P1 + 10, ack: O1, data: 'a' });
  send(c, { seq: P1 + 20, ack: O1, data: 'b' });
  send(c, { seq: P1 + 30, ack: O1, data: 'c' });
  t.deepEqual(brief(collect(c, 0)), [
    [O1, P1, 'ACK', 0],
    [O1, P1, 'ACK', 0],
    [O1, P1, 'ACK', 0],
  ]);
  // Once the hole is filled in the same batch, one cumulative ACK is enough.
  send(c, { seq: P1 + 11, ack: O1, data: 'x' });
  send(c, { seq: P1, ack: O1, data: '0123456789' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 12, 'ACK', 0]]);
});

test('ESTABLISHED: overlapping retransmissions are trimmed, each byte delivered once (RFC 9293 §3.10.7.4)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, ack: O1, data: 'abc' });
  send(c, { seq: P1, ack: O1, data: 'abcdef' });
  send(c, { seq: P1 + 8, ack: O1, data: 'ij' });
  send(c, { seq: P1 + 5, ack: O1, data: 'fghij' });
  collect(c, 0);
  t.is(text(ev.data), 'abcdefghij');
});

test('ESTABLISHED: an old duplicate segment is answered with an ACK and not delivered again (RFC 9293 §3.10.7.4)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, ack: O1, data: 'abc' });
  collect(c, 0);
  send(c, { seq: P1, ack: O1, data: 'abc' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 3, 'ACK', 0]]);
  t.is(text(ev.data), 'abc');
});

test('sequence wrap-around near 2^32: data both ways across the wrap (RFC 9293 §3.4)', (t) => {
  const peerIss = 0xfffffff0;
  const iss = 0xfffffffa;
  const { c, ev } = established({ peerIss, iss });
  const p1 = seqAdd(peerIss, 1);
  // Reordered across the wrap: the second half (seq 5) first.
  send(c, { seq: seqAdd(p1, 20), ack: seqAdd(iss, 1), data: 'B'.repeat(20) });
  send(c, { seq: p1, ack: seqAdd(iss, 1), data: 'A'.repeat(20) });
  t.deepEqual(brief(collect(c, 0)), [[seqAdd(iss, 1), seqAdd(p1, 40), 'ACK', 0]]);
  t.is(seqAdd(p1, 40), 0x19);
  t.is(text(ev.data), 'A'.repeat(20) + 'B'.repeat(20));
  c.write(Buffer.alloc(30, 7));
  t.deepEqual(brief(collect(c, 0)), [[0xfffffffb, 0x19, 'ACK', 30]]);
  send(c, { seq: 0x19, ack: seqAdd(0xfffffffb, 30) });
  t.is(c.bufferedBytes, 0);
  t.is(c.sndUna, 0x19);
});

test('receive window: follows what the app consumed, closes at 0 and reopens with a window update (RFC 9293 §3.8.6.2.2)', (t) => {
  const { c, ev } = established({ autoConsume: false, tuning: { receiveBuffer: 4000 } });
  const windows: number[] = [];
  for (let i = 0; i < 4; i++) {
    send(c, { seq: P1 + i * 1000, ack: O1, data: Buffer.alloc(1000) });
    windows.push(collect(c, 0)[0]!.window);
  }
  t.deepEqual(windows, [3000, 2000, 1000, 0]);
  // The window is full: more data is not taken, only acknowledged.
  send(c, { seq: P1 + 4000, ack: O1, data: Buffer.alloc(1000) });
  t.deepEqual(
    collect(c, 0).map((s) => [s.ack, s.window]),
    [[P1 + 4000, 0]],
  );
  t.is(ev.data.length, 4);
  c.consumed(4000);
  t.deepEqual(
    collect(c, 0).map((s) => [s.ack, s.window]),
    [[P1 + 4000, 4000]],
  );
});

test('receive window: a zero-window probe is answered with the current window and its ACK field still counts (RFC 9293 §3.8.6.1)', (t) => {
  const { c } = established({ autoConsume: false, tuning: { receiveBuffer: 1000 } });
  send(c, { seq: P1, ack: O1, data: Buffer.alloc(1000) });
  collect(c, 0);
  c.write(Buffer.from('xy'));
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 1000, 'ACK', 2]]);
  send(c, { seq: P1 + 1000, ack: O1 + 2, data: Buffer.alloc(1) });
  t.deepEqual(
    collect(c, 0).map((s) => [s.ack, s.window]),
    [[P1 + 1000, 0]],
  );
  t.is(c.sndUna, O1 + 2);
});

// ------------------------------------------------------------------ ESTABLISHED: sending

test('RFC 6298 §5.4-5.5: unacked data is resent on RTO, and the RTO doubles on each retransmission', (t) => {
  const { c } = established();
  c.write(Buffer.from('abc'));
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 3]]);
  t.is(c.rtt.rto, 200); // the handshake gave a 0 ms sample; min RTO 200 ms
  expectNothing(t, c, 199);
  const at: number[] = [];
  for (let now = 200; now <= 3000; now += 1) {
    const out = collect(c, now);
    if (out.length > 0) {
      t.deepEqual(brief(out), [[O1, P1, 'ACK', 3]]);
      at.push(now);
    }
  }
  t.deepEqual(at, [200, 600, 1400, 3000]);
  t.is(c.retransmits, 4);
});

test('RFC 6298 §5.1/§5.4: an RTO while the peer offers no window still resends, and the timer keeps running', (t) => {
  const { c } = established();
  c.write(Buffer.from('abc'));
  collect(c, 0);
  // The peer shrinks its window to 0 without acknowledging anything (its ACK is a duplicate).
  send(c, { seq: P1, ack: O1, window: 0 }, 10);
  collect(c, 10);
  const at: number[] = [];
  for (let now = 11; now <= 1500; now += 1) if (collect(c, now).some((s) => s.seq === O1)) at.push(now);
  t.deepEqual(at.slice(0, 2), [200, 600], 'the earliest segment goes out at each expiry; nothing stalls');
});

test('RFC 9293 §3.8.3: after too many retransmissions the connection is reset', (t) => {
  const { c, ev } = established({ tuning: { maxRetransmits: 2 } });
  c.write(Buffer.from('abc'));
  collect(c, 0);
  collect(c, 200);
  collect(c, 600);
  t.deepEqual(brief(collect(c, 1400)), [[O1 + 3, 0, 'RST', 0]]);
  t.deepEqual(ev.closed, ['retransmit-timeout']);
});

test('RFC 6298 §3 (Karn): an ACK for a retransmitted segment gives no RTT sample; a fresh one does', (t) => {
  const { c } = established({ tuning: { minRto: 10 } });
  t.is(c.rtt.rto, 10);
  t.is(c.rtt.srtt, 0); // the handshake's 0 ms sample
  c.write(Buffer.from('a'));
  collect(c, 0);
  collect(c, 10); // retransmission, RTO backs off to 20
  t.is(c.rtt.rto, 20);
  send(c, { seq: P1, ack: O1 + 1 }, 15);
  t.is(c.rtt.srtt, 0, 'no sample from an ambiguous ACK');
  // Deliberate deviation: the backoff is dropped once retransmitted data got through (see rtt.ts).
  t.is(c.rtt.rto, 10);
  c.write(Buffer.from('b'));
  collect(c, 15);
  send(c, { seq: P1, ack: O1 + 2 }, 18);
  t.is(c.rtt.srtt, 3 / 8);
});

test('RFC 5681 §3.1: an RTO restarts from one segment with ssthresh = max(FlightSize/2, 2*SMSS)', (t) => {
  const { c } = established();
  c.write(Buffer.alloc(3000));
  t.is(collect(c, 0).length, 3);
  const out = collect(c, 200);
  t.deepEqual(brief(out), [[O1, P1, 'ACK', 1000]]);
  t.is(c.cwnd, MSS);
  t.is(c.ssthresh, 2000);
  send(c, { seq: P1, ack: O1 + 1000 }, 210);
  t.deepEqual(brief(collect(c, 210)), [
    [O1 + 1000, P1, 'ACK', 1000],
    [O1 + 2000, P1, 'ACK', 1000],
  ]);
});

test('RFC 5681 §3.2 / RFC 6582: three duplicate ACKs trigger fast retransmit and recovery; slow start before', (t) => {
  const { c } = established();
  c.write(Buffer.alloc(20_000));
  t.is(collect(c, 0).length, 10); // RFC 6928 initial window: 10 segments
  t.is(c.cwnd, 10_000);
  send(c, { seq: P1, ack: O1 + 1000 }, 1);
  t.is(c.cwnd, 11_000); // slow start: +SMSS per ACK
  t.deepEqual(
    brief(collect(c, 1)).map((s) => s[0]),
    [O1 + 10_000, O1 + 11_000],
  );
  send(c, { seq: P1, ack: O1 + 1000 }, 2);
  send(c, { seq: P1, ack: O1 + 1000 }, 2);
  expectNothing(t, c, 2);
  send(c, { seq: P1, ack: O1 + 1000 }, 2);
  t.deepEqual(brief(collect(c, 2)), [[O1 + 1000, P1, 'ACK', 1000]]);
  t.is(c.retransmits, 1);
  t.is(c.ssthresh, 5500);
  t.is(c.cwnd, 8500);
  send(c, { seq: P1, ack: O1 + 1000 }, 3);
  t.is(c.cwnd, 9500); // inflation per further duplicate
  expectNothing(t, c, 3);
  send(c, { seq: P1, ack: O1 + 12_000 }, 4); // full ACK ends recovery
  t.is(c.cwnd, 5500);
});

test('RFC 6582 §3.2: a partial ACK during recovery retransmits the next hole at once', (t) => {
  const { c } = established();
  c.write(Buffer.alloc(10_000));
  collect(c, 0);
  for (let i = 0; i < 3; i++) send(c, { seq: P1, ack: O1 }, 1);
  t.deepEqual(brief(collect(c, 1)), [[O1, P1, 'ACK', 1000]]);
  send(c, { seq: P1, ack: O1 + 3000 }, 2);
  t.deepEqual(brief(collect(c, 2))[0], [O1 + 3000, P1, 'ACK', 1000]);
});

test('zero window: nothing is sent, the persist timer probes with backoff, and data flows once the window opens (RFC 9293 §3.8.6.1)', (t) => {
  const { c } = established();
  send(c, { seq: P1, ack: O1, window: 0 });
  c.write(Buffer.from('abc'));
  expectNothing(t, c, 0);
  expectNothing(t, c, 199);
  t.deepEqual(brief(collect(c, 200)), [[OUR_ISS, P1, 'ACK', 0]]); // probe: SND.UNA-1, no data
  expectNothing(t, c, 599);
  t.deepEqual(brief(collect(c, 600)), [[OUR_ISS, P1, 'ACK', 0]]);
  send(c, { seq: P1, ack: O1, window: 1000 }, 650);
  t.deepEqual(brief(collect(c, 650)), [[O1, P1, 'ACK', 3]]);
});

test('send buffer: write() takes only what fits and `writable` fires when ACKs make room', (t) => {
  const { c, ev } = established({ tuning: { sendBuffer: 5000 } });
  t.is(c.write(Buffer.alloc(8000)), 5000);
  t.is(c.writableBytes, 0);
  collect(c, 0);
  send(c, { seq: P1, ack: O1 + 1000 });
  t.is(ev.writable, 1);
  t.is(c.writableBytes, 1000);
});

// ------------------------------------------------------------------ closing

test('half-close: peer FIN → CLOSE-WAIT, we keep sending, our FIN → LAST-ACK → CLOSED (RFC 9293 §3.6)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, ack: O1, flags: ACK | FIN });
  t.is(c.state, 'CLOSE-WAIT');
  t.is(ev.peerFin, 1);
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 1, 'ACK', 0]]);
  c.write(Buffer.from('bye'));
  c.close();
  t.is(c.state, 'LAST-ACK');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 1, 'FIN|ACK', 3]]);
  send(c, { seq: P1 + 1, ack: O1 + 4 });
  t.is(c.state, 'CLOSED');
  t.deepEqual(ev.closed, ['graceful']);
});

test('active close: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED after 2*MSL (RFC 9293 §3.6)', (t) => {
  const { c, ev } = established({ tuning: { msl: 1000 } });
  c.close();
  t.is(c.state, 'FIN-WAIT-1');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'FIN|ACK', 0]]);
  send(c, { seq: P1, ack: O1 + 1 });
  t.is(c.state, 'FIN-WAIT-2');
  send(c, { seq: P1, ack: O1 + 1, data: 'late' }); // the peer may still send
  send(c, { seq: P1 + 4, ack: O1 + 1, flags: ACK | FIN });
  t.is(c.state, 'TIME-WAIT');
  t.deepEqual(brief(collect(c, 0)), [[O1 + 1, P1 + 5, 'ACK', 0]]);
  t.is(text(ev.data), 'late');
  t.is(c.pollAt(), 2000);
  collect(c, 1999);
  t.is(c.state, 'TIME-WAIT');
  collect(c, 2000);
  t.is(c.state, 'CLOSED');
  t.deepEqual(ev.closed, ['graceful']);
});

test('RFC 9293 §3.6: simultaneous close goes through CLOSING to TIME-WAIT', (t) => {
  const { c } = established();
  c.close();
  collect(c, 0);
  send(c, { seq: P1, ack: O1, flags: ACK | FIN });
  t.is(c.state, 'CLOSING');
  t.deepEqual(brief(collect(c, 0)), [[O1 + 1, P1 + 1, 'ACK', 0]]);
  send(c, { seq: P1 + 1, ack: O1 + 1 });
  t.is(c.state, 'TIME-WAIT');
});

test('TIME-WAIT: a retransmitted FIN is ACKed again and restarts the 2*MSL timer (RFC 9293 §3.10.7.4)', (t) => {
  const { c } = established({ tuning: { msl: 1000 } });
  c.close();
  collect(c, 0);
  send(c, { seq: P1, ack: O1 + 1, flags: ACK | FIN });
  collect(c, 0);
  t.is(c.state, 'TIME-WAIT');
  send(c, { seq: P1, ack: O1 + 1, flags: ACK | FIN }, 500);
  t.deepEqual(brief(collect(c, 500)), [[O1 + 1, P1 + 1, 'ACK', 0]]);
  t.is(c.pollAt(), 2500);
});

test('FIN arriving ahead of a hole is processed only once the hole fills (RFC 9293 §3.10.7.4 eighth)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1 + 3, ack: O1, flags: ACK | FIN, data: 'def' });
  t.is(c.state, 'ESTABLISHED');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
  send(c, { seq: P1, ack: O1, data: 'abc' });
  t.is(c.state, 'CLOSE-WAIT');
  t.is(text(ev.data), 'abcdef');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1 + 7, 'ACK', 0]]);
});

test('the FIN is retransmitted on RTO like data (RFC 9293 §3.10.4)', (t) => {
  const { c } = established();
  c.close();
  collect(c, 0);
  t.deepEqual(brief(collect(c, 200)), [[O1, P1, 'FIN|ACK', 0]]);
});

test('abort: RST with SEQ=SND.NXT, then CLOSED (RFC 9293 §3.10.5)', (t) => {
  const { c, ev } = established();
  c.write(Buffer.from('abc'));
  collect(c, 0);
  c.abort();
  t.deepEqual(brief(collect(c, 0)), [[O1 + 3, 0, 'RST', 0]]);
  t.is(c.state, 'CLOSED');
  t.deepEqual(ev.closed, ['aborted']);
});

// ------------------------------------------------------------------ RST / SYN / ACK validation

test('ESTABLISHED: RST at exactly RCV.NXT resets (RFC 5961 §3.2)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, flags: RST });
  t.is(c.state, 'CLOSED');
  t.deepEqual(ev.closed, ['peer-reset']);
});

test('ESTABLISHED: an in-window RST not at RCV.NXT gets a challenge ACK (RFC 5961 §3.2)', (t) => {
  const { c } = established();
  send(c, { seq: P1 + 100, flags: RST });
  t.is(c.state, 'ESTABLISHED');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
});

test('ESTABLISHED: an RST outside the window is dropped silently (RFC 9293 §3.10.7.4)', (t) => {
  const { c } = established();
  send(c, { seq: seqAdd(P1, -100_000), flags: RST });
  t.is(c.state, 'ESTABLISHED');
  expectNothing(t, c, 0);
});

test('RST in CLOSE-WAIT and FIN-WAIT-2 closes too (RFC 9293 §3.10.7.4, every synchronized state)', (t) => {
  const a = established();
  send(a.c, { seq: P1, ack: O1, flags: ACK | FIN });
  send(a.c, { seq: P1 + 1, flags: RST });
  t.deepEqual(a.ev.closed, ['peer-reset']);
  const b = established();
  b.c.close();
  collect(b.c, 0);
  send(b.c, { seq: P1, ack: O1 + 1 });
  t.is(b.c.state, 'FIN-WAIT-2');
  send(b.c, { seq: P1, flags: RST });
  t.deepEqual(b.ev.closed, ['peer-reset']);
});

test('ESTABLISHED: a SYN gets a challenge ACK, never a reset (RFC 5961 §4.2)', (t) => {
  const { c } = established();
  send(c, { seq: P1 + 10, flags: SYN });
  t.is(c.state, 'ESTABLISHED');
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
});

test('ESTABLISHED: an ACK for data never sent is answered with an ACK and the segment dropped (RFC 9293 §3.10.7.4, RFC 5961 §5.2)', (t) => {
  const { c, ev } = established();
  send(c, { seq: P1, ack: O1 + 500, data: 'abc' });
  t.deepEqual(brief(collect(c, 0)), [[O1, P1, 'ACK', 0]]);
  t.deepEqual(ev.data, []);
});

test('keepalive: probes after idle time and resets when they go unanswered (RFC 1122 §4.2.3.6)', (t) => {
  const { c, ev } = established({ tuning: { keepaliveIdle: 10_000, keepaliveInterval: 1000, keepaliveCount: 2 } });
  expectNothing(t, c, 9999);
  t.deepEqual(brief(collect(c, 10_000)), [[OUR_ISS, P1, 'ACK', 0]]);
  t.deepEqual(brief(collect(c, 11_000)), [[OUR_ISS, P1, 'ACK', 0]]);
  t.deepEqual(brief(collect(c, 12_000)), [[O1, 0, 'RST', 0]]);
  t.deepEqual(ev.closed, ['keepalive-timeout']);
});

test('keepalive: an answered probe keeps the connection and restarts the idle timer (RFC 1122 §4.2.3.6)', (t) => {
  const { c } = established({ tuning: { keepaliveIdle: 10_000, keepaliveInterval: 1000, keepaliveCount: 2 } });
  collect(c, 10_000);
  send(c, { seq: P1, ack: O1 }, 10_500);
  expectNothing(t, c, 12_000);
  t.is(c.state, 'ESTABLISHED');
  t.is(c.pollAt(), 20_500);
});

// ------------------------------------------------------------------ SACK (receiver side)

test('SACK-permitted is answered only when the SYN offered it (RFC 2018 §2)', (t) => {
  const a = synReceived({ peerSack: true });
  const b = synReceived();
  const sa = collect(a.c, 0)[0]!;
  const sb = collect(b.c, 0)[0]!;
  t.true(a.c.sackOn);
  t.false(b.c.sackOn);
  t.deepEqual([sa.sackPermitted, sb.sackPermitted], [true, false]);
});

test('duplicate ACKs report the held blocks, the latest first, adjacent pieces merged (RFC 2018 §4)', (t) => {
  const { c } = established({ peerSack: true });
  send(c, { seq: P1 + 10, ack: O1, data: 'aaaaa' });
  t.deepEqual(
    collect(c, 0).map((s) => s.sack),
    [[P1 + 10, P1 + 15]],
  );
  send(c, { seq: P1 + 20, ack: O1, data: 'bbbbb' });
  t.deepEqual(
    collect(c, 0).map((s) => s.sack),
    [[P1 + 20, P1 + 25, P1 + 10, P1 + 15]],
  );
  send(c, { seq: P1 + 15, ack: O1, data: 'ccccc' });
  t.deepEqual(
    collect(c, 0).map((s) => s.sack),
    [[P1 + 10, P1 + 25]],
  );
  send(c, { seq: P1, ack: O1, data: '0123456789' });
  t.deepEqual(
    collect(c, 0).map((s) => [s.ack, s.sack]),
    [[P1 + 25, []]],
  );
});

test('no SACK blocks when the peer did not offer SACK (RFC 2018 §2)', (t) => {
  const { c } = established();
  send(c, { seq: P1 + 10, ack: O1, data: 'aaaaa' });
  t.deepEqual(
    collect(c, 0).map((s) => s.sack),
    [[]],
  );
});

// ------------------------------------------------------------------ one timer (timer.ts)

test('one timer: while data is unacknowledged the retransmission timer runs, not keep-alive; once all is ACKed keep-alive counts from that ACK (RFC 6298 §5.1-5.2, RFC 1122 §4.2.3.6)', (t) => {
  const { c } = established({ tuning: { keepaliveIdle: 10_000 } });
  t.is(c.pollAt(), 10_000);
  c.write(Buffer.from('abc'));
  collect(c, 50);
  t.is(c.pollAt(), 250);
  send(c, { seq: P1, ack: O1 + 3 }, 100);
  t.is(c.pollAt(), 10_100);
});

test('one timer: data held back by a zero window runs the probe timer instead of keep-alive (RFC 9293 §3.8.6.1)', (t) => {
  const { c } = established({ tuning: { keepaliveIdle: 10_000 } });
  send(c, { seq: P1, ack: O1, window: 0 });
  c.write(Buffer.from('abc'));
  collect(c, 0);
  t.is(c.pollAt(), 200);
});

test('zero window: a peer that stops answering probes is reset after maxRetransmits of them (RFC 9293 §3.8.3 R2, as Linux tcp_retries2)', (t) => {
  const { c, ev } = established({ tuning: { maxRetransmits: 2 } });
  send(c, { seq: P1, ack: O1, window: 0 });
  c.write(Buffer.from('abc'));
  collect(c, 0);
  t.deepEqual(brief(collect(c, 200)), [[OUR_ISS, P1, 'ACK', 0]]);
  t.deepEqual(brief(collect(c, 600)), [[OUR_ISS, P1, 'ACK', 0]]);
  t.deepEqual(brief(collect(c, 1400)), [[O1, 0, 'RST', 0]]);
  t.deepEqual(ev.closed, ['retransmit-timeout']);
});

test('zero window: a peer that answers every probe keeps the connection however long the window stays shut (RFC 1122 §4.2.2.17)', (t) => {
  const { c } = established({ tuning: { maxRetransmits: 2 } });
  send(c, { seq: P1, ack: O1, window: 0 });
  c.write(Buffer.from('abc'));
  collect(c, 0);
  let probes = 0;
  for (let now = 1; now <= 400_000 && probes < 10; now += 1) {
    if (collect(c, now).length === 0) continue;
    probes++;
    send(c, { seq: P1, ack: O1, window: 0 }, now);
  }
  t.is(probes, 10);
  t.is(c.state, 'ESTABLISHED');
  send(c, { seq: P1, ack: O1, window: 1000 }, 400_001);
  t.deepEqual(brief(collect(c, 400_001)), [[O1, P1, 'ACK', 3]]);
});

test('#14: the reused out-segment keeps no view of sent data once emit returns (an idle connection must not pin its send buffer)', (t) => {
  const { c } = established();
  c.write(Buffer.from('payload'));
  const seen: { payload: Buffer }[] = [];
  let during = 0;
  c.dispatch(0, (s) => {
    during = s.payload.length;
    seen.push(s);
  });
  t.is(during, 7);
  t.is(seen.length, 1);
  t.is(seen[0]!.payload.length, 0);
  t.is(seen[0]!.payload.buffer.byteLength, 0);
});

test('#14: with segmentMax (TSO) new data leaves in whole multiples of the MSS up to it; retransmission resends the segment whole', (t) => {
  const { c } = established({ segmentMax: 4 * MSS + 10 });
  c.write(Buffer.alloc(10 * MSS, 1));
  const out = collect(c, 0);
  t.true(out.length >= 1);
  t.is(out[0]!.data.length, 4 * MSS);
  t.is(c.sendChunk, 4 * MSS);
  c.onTimer(c.pollAt()); // RTO
  const again = collect(c, c.pollAt());
  t.true(again.length >= 1);
  t.is(again[0]!.seq, out[0]!.seq);
  t.true(again[0]!.data.length > MSS && again[0]!.data.length <= 4 * MSS);
});
