import test from 'ava';
import { MAX_PENDING_PAIRS, Pairing } from '../../../lib/manager/pairing.js';
import { PassThrough } from 'node:stream';

test("the stream the token's party answers with is handed to the issuer, as it is", async (t) => {
  const r = new Pairing(1000);
  const tok = r.issue('alice-laptop-x1');
  const issuer = r.wait(tok);
  const answering = new PassThrough();
  r.answer(tok, 'alice-laptop-x1', () => answering);
  t.is(await issuer, answering, 'the issuer splices the answering stream itself: no copy in between');
  t.is(r.size, 0);
});

test('#11: a token presented by another party is refused, and stays answerable by its own', async (t) => {
  const r = new Pairing(1000);
  const tok = r.issue('alice-laptop-x1');
  const issuer = r.wait(tok);
  let accepted = 0;
  const stolen = t.throws(() => r.answer(tok, 'bob-desk-y2', () => (accepted++, new PassThrough())));
  t.is((stolen as { failure?: string }).failure, 'forbidden');
  t.regex(stolen!.message, /unknown or used/, 'the same refusal as for an unknown token');
  t.is(accepted, 0, 'a refused stream is never answered 200');
  r.answer(tok, 'alice-laptop-x1', () => new PassThrough());
  await issuer;
  t.pass();
});

test('unknown and used tokens are refused', async (t) => {
  const r = new Pairing(1000);
  t.throws(() => r.answer('nope', 'a', () => new PassThrough()), { message: /unknown or used/ });
  const tok = r.issue('a');
  void r.wait(tok);
  r.answer(tok, 'a', () => new PassThrough());
  t.throws(() => r.answer(tok, 'a', () => new PassThrough()), { message: /unknown or used/ });
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
  const tokens: string[] = [];
  for (let i = 0; i < MAX_PENDING_PAIRS; i++) tokens.push(r.issue('a'));
  const e = t.throws(() => r.issue('a'));
  t.is((e as { failure?: string }).failure, 'unreachable');
  for (const tok of tokens) r.cancel(tok, 'test over'); // their expiry timers would hold the process
});
