import test from 'ava';
import { readVarint, readVarintBig, varintLen, writeVarint } from '../../../../lib/proxy/tunnel/varint.js';
import { TunnelParseError } from '../../../../lib/proxy/tunnel/errors.js';

const hex = (s: string) => Buffer.from(s, 'hex');

// RFC 9000 Appendix A.1 sample encodings.
const VECTORS: [string, number][] = [
  ['9d7f3e7d', 494878333],
  ['7bbd', 15293],
  ['25', 37],
  ['4025', 37], // a non-minimal encoding is still valid
];

for (const [h, v] of VECTORS) {
  test(`RFC 9000 A.1: 0x${h} decodes to ${v}`, (t) => {
    t.deepEqual(readVarint(hex(h), 0), { value: v, next: h.length / 2 });
  });
}

test('RFC 9000 A.1: the 8-byte sample 0xc2197c5eff14e88c decodes with the bigint reader', (t) => {
  t.deepEqual(readVarintBig(hex('c2197c5eff14e88c'), 0), { value: 151288809941952652n, next: 8 });
});

test('an 8-byte varint above 2^53-1 is refused, not rounded', (t) => {
  const err = t.throws(() => readVarint(hex('c2197c5eff14e88c'), 0));
  t.true(err instanceof TunnelParseError);
  t.regex(err!.message, /exceeds 2\^53-1/);
});

test('minimal encodings round-trip at every length boundary', (t) => {
  for (const v of [0, 63, 64, 16383, 16384, 2 ** 30 - 1, 2 ** 30, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const buf = Buffer.alloc(varintLen(v));
    t.is(writeVarint(buf, 0, v), buf.length);
    t.deepEqual(readVarint(buf, 0), { value: v, next: buf.length }, `value ${v}`);
  }
  t.is(varintLen(37), 1);
  t.is(varintLen(15293), 2);
  t.is(varintLen(494878333), 4);
});

test('writes the RFC samples byte for byte', (t) => {
  const b = Buffer.alloc(4);
  writeVarint(b, 0, 494878333);
  t.is(b.toString('hex'), '9d7f3e7d');
  const c = Buffer.alloc(2);
  writeVarint(c, 0, 15293);
  t.is(c.toString('hex'), '7bbd');
});

test('a truncated varint reads as "need more bytes"', (t) => {
  t.is(readVarint(hex('9d7f3e'), 0), undefined);
  t.is(readVarint(hex('40'), 0), undefined);
  t.is(readVarint(Buffer.alloc(0), 0), undefined);
});

test('negative and fractional values cannot be encoded', (t) => {
  t.throws(() => varintLen(-1), { instanceOf: RangeError });
  t.throws(() => varintLen(1.5), { instanceOf: RangeError });
});
