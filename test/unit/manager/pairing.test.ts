import test from 'ava';
import { MAX_PENDING_PAIRS, Pairing } from '../../../lib/manager/pairing.js';
import { duplexPair } from '../../../lib/proxy/duplex-pair.js';

const read = (d: NodeJS.ReadableStream) => new Promise<string>((resolve) => {
  let s = '';
  d.on('data', (c: Buffer) => (s += c.toString()));
  d.on('end', () => resolve(s));
});

test('the party a token was issued to gets the other end of the issuer\'s stream', async (t) => {
  const r = new Pairing(1000);
  const tok = r.issue('alice-laptop-x1');
  const issuer = r.wait(tok);
  const answer = await r.answer(tok, 'alice-laptop-x1');
  const got = read(answer);
  (await issuer).end('hello');
  t.is(await got, 'hello');
  t.is(r.size, 0);
});

test('#11: a token presented by another party is refused, and stays answerable by its own', async (t) => {
  const r = new Pairing(1000);
  const tok = r.issue('alice-laptop-x1');
  const issuer = r.wait(tok);
  const stolen = await t.throwsAsync(r.answer(tok, 'bob-desk-y2'));
  t.is((stolen as { failure?: string }).failure, 'forbidden');
  t.regex(stolen!.message, /unknown or used/, 'the same refusal as for an unknown token');
  await r.answer(tok, 'alice-laptop-x1');
  await issuer;
  t.pass();
});

test('unknown and used tokens are refused', async (t) => {
  const r = new Pairing(1000);
  await t.throwsAsync(r.answer('nope', 'a'), { message: /unknown or used/ });
  const tok = r.issue('a');
  void r.wait(tok);
  await r.answer(tok, 'a');
  await t.throwsAsync(r.answer(tok, 'a'), { message: /unknown or used/ });
  await t.throwsAsync(r.wait(tok), { message: /unknown or used/ });
});

test('a token nobody answers fails the issuer with a timeout', async (t) => {
  const r = new Pairing(50);
  const tok = r.issue('a');
  const e = await t.throwsAsync(r.wait(tok));
  t.is((e as { failure?: string }).failure, 'timeout');
  t.is(r.size, 0);
});

test('cancel fails the issuer as refused', async (t) => {
  const r = new Pairing(1000);
  const tok = r.issue('a');
  const p = r.wait(tok);
  r.cancel(tok, 'gone');
  const e = await t.throwsAsync(p);
  t.is((e as { failure?: string }).failure, 'refused');
});

test('#12: tokens waiting at once are capped; the next issue fails fast', (t) => {
  const r = new Pairing(60_000);
  for (let i = 0; i < MAX_PENDING_PAIRS; i++) r.issue('a');
  const e = t.throws(() => r.issue('a'));
  t.is((e as { failure?: string }).failure, 'unreachable');
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
