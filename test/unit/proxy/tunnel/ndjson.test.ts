import test from 'ava';
import { NdjsonDecoder, encodeNdjson } from '../../../../lib/proxy/tunnel/ndjson.js';
import { TunnelParseError } from '../../../../lib/proxy/tunnel/errors.js';

test('one value per line, newline-terminated', (t) => {
  t.is(encodeNdjson({ a: 'x\ny' }), '{"a":"x\\ny"}\n');
});

test('values split across chunks come out whole and in order', (t) => {
  const wire = Buffer.from(encodeNdjson({ n: 1 }) + encodeNdjson({ s: 'two' }) + encodeNdjson([3]));
  for (let cut = 0; cut <= wire.length; cut++) {
    const dec = new NdjsonDecoder();
    const got = [...dec.push(wire.subarray(0, cut)), ...dec.push(wire.subarray(cut)), ...dec.end()];
    t.deepEqual(got, [{ n: 1 }, { s: 'two' }, [3]], `cut at ${cut}`);
  }
});

test('a multi-byte UTF-8 character split between chunks survives', (t) => {
  const wire = Buffer.from(encodeNdjson({ s: 'é🚀' }));
  const at = wire.indexOf(0xf0) + 2; // inside the 4-byte rocket
  const dec = new NdjsonDecoder();
  t.deepEqual([...dec.push(wire.subarray(0, at)), ...dec.push(wire.subarray(at))], [{ s: 'é🚀' }]);
});

test('blank lines are keep-alives, a last line without newline is accepted at end', (t) => {
  const dec = new NdjsonDecoder();
  t.deepEqual(dec.push('\n\n{"a":1}\n  \n{"b"'), [{ a: 1 }]);
  t.deepEqual(dec.push(':2}'), []);
  t.deepEqual(dec.end(), [{ b: 2 }]);
});

test('malformed: a line that is not JSON is a TunnelParseError naming the line', (t) => {
  const dec = new NdjsonDecoder();
  const err = t.throws(() => dec.push('{"ok":1}\n{nope}\n'));
  t.true(err instanceof TunnelParseError);
  t.regex(err!.message, /bad NDJSON line.*\{nope\}/);
});

test('malformed: an endless line is refused instead of buffered', (t) => {
  const dec = new NdjsonDecoder(1024);
  dec.push('x'.repeat(1000));
  t.throws(() => dec.push('y'.repeat(100)), { instanceOf: TunnelParseError, message: /longer than 1024/ });
});
