import test from 'ava';
import { adjustChecksum, finishChecksum, fold16, sum16, verifiesTo } from '../../../../../lib/proxy/netstack/wire/checksum.js';
import { refChecksum } from './reference.js';

test('RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', (t) => {
  const b = Buffer.from('0001f203f4f5f6f7', 'hex');
  t.is(fold16(sum16(b, 0, b.length)), 0xddf2);
  t.is(finishChecksum(sum16(b, 0, b.length)), 0x220d);
});

test('known answer: the IPv4 header 4500 0073 0000 4000 4011 ____ c0a8 0001 c0a8 00c7 has checksum b861', (t) => {
  const b = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
  t.is(finishChecksum(sum16(b, 0, b.length)), 0xb861);
  b.writeUInt16BE(0xb861, 10);
  t.true(verifiesTo(sum16(b, 0, b.length)));
});

test('sum16 agrees with a naive reference for odd and even lengths and offsets', (t) => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let n = 0; n < 200; n++) {
    const len = n * 7 + (n % 3);
    const b = Buffer.alloc(len + 3);
    for (let i = 0; i < b.length; i++) b[i] = rnd();
    const start = n % 3;
    t.is(finishChecksum(sum16(b, start, start + len)), refChecksum([...b.subarray(start, start + len)]) || 0, `len ${len}`);
  }
});

test('sum16 of 64 KiB of 0xff does not lose carries', (t) => {
  const b = Buffer.alloc(65535, 0xff);
  t.is(finishChecksum(sum16(b, 0, b.length)), refChecksum([...b]));
});

test('RFC 1624: an incremental update equals a full recomputation', (t) => {
  const b = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
  const before = finishChecksum(sum16(b, 0, b.length));
  const oldWord = b.readUInt16BE(8); // TTL + protocol
  b[8] = 0x3f; // TTL decremented
  const after = adjustChecksum(before, oldWord, b.readUInt16BE(8));
  t.is(after, finishChecksum(sum16(b, 0, b.length)));
});

test('RFC 1071 §2: the 32-bit little-endian fast path folds to the same sum as big-endian 16-bit words, at every alignment and length', (t) => {
  const buf = Buffer.alloc(70_000);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 7919 + 13) & 255;
  const naive = (b: Uint8Array, s: number, e: number) => {
    let x = 0;
    for (let i = s; i < e; i += 2) x += (b[i]! << 8) | (i + 1 < e ? b[i + 1]! : 0);
    return fold16(x);
  };
  let checked = 0;
  for (let shift = 0; shift < 4; shift++) {
    const view = buf.subarray(shift);
    for (const [s, len] of [
      [0, 65_536],
      [1, 65_535],
      [2, 1_500],
      [3, 129],
      [6, 128],
      [0, 127],
      [10, 64_001],
    ] as const) {
      t.is(fold16(sum16(view, s, s + len)), naive(view, s, s + len), `shift ${shift}, start ${s}, length ${len}`);
      checked++;
    }
  }
  t.is(checked, 28);
});
