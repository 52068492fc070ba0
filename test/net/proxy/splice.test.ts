// The one splice (lib/proxy/splice.ts, issue #17) on real loopback TCP: a client connects to a
// relay, which dials a target and splices the two sockets; the far peers are what we watch. An
// in-memory Duplex pair stands in where a test needs a reader it fully controls (backpressure) or
// an error it injects.

import test from 'ava';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { splice, type SpliceResult } from '../../../lib/proxy/splice.js';
import { duplexPair } from '../../helpers/duplex-pair.js';

interface Relay {
  /** The client's socket (half-open allowed). */
  client: net.Socket;
  /** The target's side of the connection. */
  target: net.Socket;
  /** The relay's two sockets: a faces the client, b the target. */
  a: net.Socket;
  b: net.Socket;
  result: Promise<SpliceResult>;
  close(): Promise<void>;
}

/** client ↔ [a ⇄ splice ⇄ b] ↔ target, all on 127.0.0.1, all half-open allowed. */
async function relay(opts: { before?: (a: net.Socket) => Promise<void> } = {}): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const keep = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    return s;
  };
  const targetSrv = net.createServer({ allowHalfOpen: true });
  const relaySrv = net.createServer({ allowHalfOpen: true });
  const targetConn = once(targetSrv, 'connection') as Promise<[net.Socket]>;
  const relayConn = once(relaySrv, 'connection') as Promise<[net.Socket]>;
  await new Promise<void>((r) => targetSrv.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => relaySrv.listen(0, '127.0.0.1', r));
  const port = (s: net.Server) => (s.address() as net.AddressInfo).port;

  const client = keep(net.connect({ host: '127.0.0.1', port: port(relaySrv), allowHalfOpen: true }));
  const [a] = await relayConn;
  keep(a);
  await opts.before?.(a);
  const b = keep(net.connect({ host: '127.0.0.1', port: port(targetSrv), allowHalfOpen: true }));
  await once(b, 'connect');
  const [target] = await targetConn;
  keep(target);
  const result = splice(a, b);
  return {
    client,
    target,
    a,
    b,
    result,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => targetSrv.close(r)), new Promise((r) => relaySrv.close(r))]);
    },
  };
}

/** Everything `s` reads until its EOF. */
function readAll(s: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** How `s` learns its connection is over: 'FIN' (a clean EOF) or the error code (a reset). */
function outcome(s: net.Socket): Promise<string> {
  s.resume(); // a reset is only noticed by a socket that reads
  return new Promise((resolve) => {
    s.once('end', () => resolve('FIN'));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** A guard so that a broken splice fails the test instead of hanging it; not a figure under test. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
  ]);
}

const pattern = (n: number, seed: number) => {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

test('#17: bytes arrive intact both ways and the counts are exact', async (t) => {
  const r = await relay();
  const up = pattern(300_001, 1);
  const down = pattern(123_457, 2);
  const atTarget = readAll(r.target);
  const atClient = readAll(r.client);
  r.client.end(up);
  r.target.end(down);
  t.true((await within(atTarget, "the target's bytes")).equals(up));
  t.true((await within(atClient, "the client's bytes")).equals(down));
  t.deepEqual(await within(r.result, 'the splice settles'), { reason: 'ended', aToB: up.length, bToA: down.length });
  await r.close();
});

test('#17: half-close client → target: the FIN arrives and the answer still flows back', async (t) => {
  const r = await relay();
  const atTarget = readAll(r.target);
  const atClient = readAll(r.client);
  r.client.end('question');
  // The target answers only after its EOF: the FIN crossed, and its direction stayed open.
  t.is((await within(atTarget, "the target's bytes")).toString(), 'question');
  r.target.write('answer after your FIN');
  r.target.end();
  t.is((await within(atClient, "the client's bytes")).toString(), 'answer after your FIN');
  t.is((await within(r.result, 'the splice settles')).reason, 'ended');
  await r.close();
});

test('#17: half-close target → client: the FIN arrives and the client can still send', async (t) => {
  const r = await relay();
  const atTarget = readAll(r.target);
  const atClient = readAll(r.client);
  r.target.end('banner, then EOF');
  t.is((await within(atClient, "the client's bytes")).toString(), 'banner, then EOF');
  r.client.end('sent after the target closed its side');
  t.is((await within(atTarget, "the target's bytes")).toString(), 'sent after the target closed its side');
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'ended');
  t.is(res.aToB, 'sent after the target closed its side'.length);
  await r.close();
});

test('#17: a target that resets makes the client see ECONNRESET, not a clean EOF', async (t) => {
  const r = await relay();
  const seen = outcome(r.client);
  r.client.write('poke');
  await once(r.target, 'data');
  r.target.resetAndDestroy();
  t.is(await within(seen, "the far peer's outcome"), 'ECONNRESET');
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'error');
  t.is(res.by, 'b');
  t.is((res.error as NodeJS.ErrnoException).code, 'ECONNRESET');
  await r.close();
});

test('#17: a client that resets makes the target see ECONNRESET, not a clean EOF', async (t) => {
  const r = await relay();
  const seen = outcome(r.target);
  r.target.write('hello');
  await once(r.client, 'data');
  r.client.resetAndDestroy();
  t.is(await within(seen, "the far peer's outcome"), 'ECONNRESET');
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'error');
  t.is(res.by, 'a');
  await r.close();
});

test('#17: a side closed before the splice started (client gone during the dial) resets the other', async (t) => {
  const r = await relay({
    before: async (a) => {
      a.destroy();
      await once(a, 'close');
    },
  });
  t.is(await within(outcome(r.target), "the target's outcome"), 'ECONNRESET');
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'reset');
  t.is(res.by, 'a');
  await r.close();
});

test('#17: a reader that stops reading bounds what the splice holds; every byte arrives once it reads', async (t) => {
  const HWM = 16 * 1024;
  const TOTAL = 8 << 20;
  const sent = pattern(TOTAL, 3);
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, allowHalfOpen: true });
  const [a] = await accepted;
  // The slow side is an in-memory pair whose far end does not read until we say so.
  const [b, sink] = duplexPair(HWM);
  sink.pause();
  let passed = 0;
  a.on('data', (c: Buffer) => (passed += c.length));
  const result = splice(a, b);
  /** Bytes the relay holds in user space: read from the client, not yet taken by the reader. */
  const held = () => a.readableLength + b.writableLength + sink.readableLength;
  // One socket read (64 KiB) past each of the three highWaterMarks on the way.
  const bound = a.readableHighWaterMark + b.writableHighWaterMark + sink.readableHighWaterMark + 3 * 64 * 1024;

  client.end(sent);
  // pipe() pauses the client side once the reader's buffers are full; without backpressure every
  // byte would pass instead.
  const allPassed = new Promise<'all passed'>((r) => a.on('data', () => passed === TOTAL && r('all passed')));
  t.is(await within(Promise.race([once(a, 'pause').then(() => 'paused' as const), allPassed]), 'pause'), 'paused');
  for (let i = 0; i < 50; i++) {
    t.true(held() <= bound, `held ${held()} > ${bound}`);
    await new Promise((r) => setImmediate(r));
  }
  t.true(passed < TOTAL, 'the relay stopped taking bytes while the reader was stuck');

  let maxHeld = 0;
  const got: Buffer[] = [];
  sink.on('data', (c: Buffer) => {
    got.push(c);
    maxHeld = Math.max(maxHeld, held());
  });
  sink.resume();
  await within(once(sink, 'end'), 'the reader gets EOF');
  t.true(maxHeld <= bound, `held ${maxHeld} > ${bound} while draining`);
  t.true(Buffer.concat(got).equals(sent));
  sink.end();
  const res = await within(result, 'the splice settles');
  t.is(res.reason, 'ended');
  t.is(res.aToB, TOTAL);
  t.is(res.bToA, 0);
  client.destroy();
  await new Promise((r) => srv.close(r));
});

test('#17: an error on either side settles once, naming that side and its error; both sides are gone', async (t) => {
  for (const side of ['a', 'b'] as const) {
    const [a, aPeer] = duplexPair(1024);
    const [b, bPeer] = duplexPair(1024);
    for (const d of [aPeer, bPeer]) d.on('error', () => {});
    const result = splice(a, b);
    aPeer.write('x');
    const failing = side === 'a' ? a : b;
    const other = side === 'a' ? b : a;
    failing.destroy(new Error(`boom on ${side}`));
    // A second failure after the first changes nothing.
    other.destroy(new Error('later'));
    const res = await within(result, 'the splice settles');
    t.is(res.reason, 'error', side);
    t.is(res.by, side);
    t.is(res.error?.message, `boom on ${side}`);
    t.true(a.destroyed && b.destroyed);
  }
});

test('#17: a Duplex destroyed without an error before its end is a reset by that side', async (t) => {
  const [a, aPeer] = duplexPair(1024);
  const [b, bPeer] = duplexPair(1024);
  const result = splice(a, b);
  aPeer.write('partial');
  await once(bPeer, 'readable');
  aPeer.destroy();
  const res = await within(result, 'the splice settles');
  t.is(res.reason, 'reset');
  t.is(res.by, 'a');
  t.is(res.error, undefined);
  t.true(bPeer.destroyed, 'the other side went too');
});

test('#17: idleMs closes both sides (a FIN, not a reset) when no byte moves either way; onIdle runs first', async (t) => {
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = once(srv, 'connection') as Promise<[net.Socket]>;
  const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const [a] = await accepted;
  const [b, bPeer] = duplexPair(1024);
  let idleRan = false;
  const seen = outcome(client).then((o) => ({ o, idleRan }));
  const result = splice(a, b, { idleMs: 50, onIdle: () => (idleRan = true) });
  client.write('one byte resets the clock');
  const res = await within(result, 'the splice settles');
  t.is(res.reason, 'idle');
  t.is(res.aToB, 'one byte resets the clock'.length);
  // onIdle ran before the peer saw the close: a counter it bumps is current by then.
  t.deepEqual(await within(seen, "the far peer's outcome"), { o: 'FIN', idleRan: true });
  t.true(bPeer.destroyed);
  client.destroy();
  await new Promise((r) => srv.close(r));
});

/** client h2 stream ↔ [a: server stream ⇄ splice ⇄ b] ↔ target (TCP), on 127.0.0.1. */
async function h2Relay(): Promise<{ stream: http2.ClientHttp2Stream; target: net.Socket; result: Promise<SpliceResult>; close(): void }> {
  const targetSrv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => targetSrv.listen(0, '127.0.0.1', r));
  const targetConn = once(targetSrv, 'connection') as Promise<[net.Socket]>;
  const h2 = http2.createServer();
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  let settled!: (r: Promise<SpliceResult>) => void;
  const result = new Promise<Promise<SpliceResult>>((r) => (settled = r));
  h2.on('stream', (s) => {
    s.respond({ ':status': 200 });
    const b = net.connect({ host: '127.0.0.1', port: (targetSrv.address() as net.AddressInfo).port, allowHalfOpen: true });
    b.once('connect', () => settled(splice(s, b)));
  });
  const session = http2.connect(`http://127.0.0.1:${(h2.address() as net.AddressInfo).port}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
  stream.on('error', () => {});
  const [target] = await targetConn;
  target.on('error', () => {});
  return {
    stream,
    target,
    result: result.then((p) => p),
    close() {
      target.destroy();
      session.destroy();
      h2.close();
      targetSrv.close();
    },
  };
}

test('#17: an HTTP/2 peer that resets its stream (even with NO_ERROR) makes the TCP peer see ECONNRESET', async (t) => {
  const r = await h2Relay();
  const seen = outcome(r.target);
  r.stream.write('poke');
  await once(r.target, 'data');
  // A plain destroy() sends RST_STREAM(NO_ERROR), which Node reports as 'aborted' and then as an
  // end: the splice must still pass it on as a reset, not as a FIN.
  r.stream.destroy();
  t.is(await within(seen, "the target's outcome"), 'ECONNRESET');
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'reset');
  t.is(res.by, 'a');
  r.close();
});

test('#17: a TCP peer that resets makes the HTTP/2 peer see RST_STREAM(CONNECT_ERROR) (RFC 9113 §8.5)', async (t) => {
  const r = await h2Relay();
  r.stream.resume();
  r.stream.write('poke');
  await once(r.target, 'data');
  r.target.resetAndDestroy();
  // (events.once would reject on the stream's 'error', which is how a reset shows.)
  await within(new Promise((resolve) => r.stream.once('close', resolve)), 'the stream closes');
  t.is(r.stream.rstCode, http2.constants.NGHTTP2_CONNECT_ERROR);
  const res = await within(r.result, 'the splice settles');
  t.is(res.reason, 'error');
  t.is(res.by, 'b');
  r.close();
});

test('#17: END_STREAM and FIN carry half-close between HTTP/2 and TCP, both ways', async (t) => {
  const r = await h2Relay();
  const atTarget = readAll(r.target);
  const atClient = readAll(r.stream);
  r.stream.end('request, then END_STREAM');
  t.is((await within(atTarget, "the target's bytes")).toString(), 'request, then END_STREAM');
  r.target.end('answer after the FIN');
  t.is((await within(atClient, "the client's bytes")).toString(), 'answer after the FIN');
  await within(once(r.stream, 'close'), 'the stream closes');
  t.is(r.stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  const res = await within(r.result, 'the splice settles');
  t.deepEqual(res, { reason: 'ended', aToB: 'request, then END_STREAM'.length, bToA: 'answer after the FIN'.length });
  r.close();
});
