import test from 'ava';
import { Rendezvous } from '../../../lib/manager/rendezvous.js';
import { duplexPair } from '../../../lib/proxy/duplex-pair.js';

const read = (d: NodeJS.ReadableStream) => new Promise<string>((resolve) => {
  let s = '';
  d.on('data', (c: Buffer) => (s += c.toString()));
  d.on('end', () => resolve(s));
});

test('the two sides of a token get connected ends, in either order', async (t) => {
  const r = new Rendezvous(1000);
  const tok = r.issue();
  const first = r.meet(tok);
  const second = await r.meet(tok);
  const a = await first;
  const got = read(second);
  a.end('hello');
  t.is(await got, 'hello');
  t.is(r.size, 0);
});

test('unknown and used tokens are refused', async (t) => {
  const r = new Rendezvous(1000);
  await t.throwsAsync(r.meet('nope'), { message: /unknown or used/ });
  const tok = r.issue();
  void r.meet(tok);
  await r.meet(tok);
  await t.throwsAsync(r.meet(tok), { message: /unknown or used/ });
});

test('a token nobody answers fails the waiter with a timeout', async (t) => {
  const r = new Rendezvous(50);
  const tok = r.issue();
  const e = await t.throwsAsync(r.meet(tok));
  t.is((e as { failure?: string }).failure, 'timeout');
});

test('cancel fails the waiter as refused', async (t) => {
  const r = new Rendezvous(1000);
  const tok = r.issue();
  const p = r.meet(tok);
  r.cancel(tok, 'gone');
  const e = await t.throwsAsync(p);
  t.is((e as { failure?: string }).failure, 'refused');
});

test('duplexPair: backpressure holds writes until the reader reads; destroy resets both ends', async (t) => {
  const [a, b] = duplexPair(16);
  let flushed = false;
  a.write(Buffer.alloc(64), () => (flushed = true));
  await new Promise((r) => setTimeout(r, 20));
  t.false(flushed, 'the write waits while b is not read');
  b.read();
  await new Promise((r) => setTimeout(r, 20));
  t.true(flushed);
  const closed = new Promise((r) => b.once('close', r));
  a.destroy();
  await closed;
  t.true(b.destroyed);
});

test('duplexPair: end() on one side is EOF on the other, the other direction still flows', async (t) => {
  const [a, b] = duplexPair();
  const fromA = read(b);
  const fromB = read(a);
  a.end('ping');
  t.is(await fromA, 'ping');
  b.end('pong');
  t.is(await fromB, 'pong');
});
