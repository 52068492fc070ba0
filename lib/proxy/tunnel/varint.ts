// QUIC variable-length integers (RFC 9000 §16), used by capsules (RFC 9297 §3.2). The two high bits
// of the first byte give the length (1, 2, 4 or 8 bytes); the rest is the value, big-endian.
// Values are JS numbers: an 8-byte varint above 2^53-1 is refused rather than silently rounded.

import { TunnelParseError } from './errors.js';

export const VARINT_MAX = Number.MAX_SAFE_INTEGER;

export function varintLen(v: number): 1 | 2 | 4 | 8 {
  if (v < 0 || !Number.isInteger(v) || v > VARINT_MAX) throw new RangeError(`varint out of range: ${v}`);
  return v < 0x40 ? 1 : v < 0x4000 ? 2 : v < 0x4000_0000 ? 4 : 8;
}

/** Writes v at off, returns the offset after it. The caller sized buf with varintLen. */
export function writeVarint(buf: Uint8Array, off: number, v: number): number {
  const n = varintLen(v);
  switch (n) {
    case 1:
      buf[off] = v;
      return off + 1;
    case 2:
      buf[off] = 0x40 | (v >>> 8);
      buf[off + 1] = v & 0xff;
      return off + 2;
    case 4:
      buf[off] = 0x80 | (v >>> 24);
      buf[off + 1] = (v >>> 16) & 0xff;
      buf[off + 2] = (v >>> 8) & 0xff;
      buf[off + 3] = v & 0xff;
      return off + 4;
    case 8: {
      const hi = Math.floor(v / 2 ** 32);
      const lo = v >>> 0;
      buf[off] = 0xc0 | (hi >>> 24);
      buf[off + 1] = (hi >>> 16) & 0xff;
      buf[off + 2] = (hi >>> 8) & 0xff;
      buf[off + 3] = hi & 0xff;
      buf[off + 4] = lo >>> 24;
      buf[off + 5] = (lo >>> 16) & 0xff;
      buf[off + 6] = (lo >>> 8) & 0xff;
      buf[off + 7] = lo & 0xff;
      return off + 8;
    }
  }
}

/** Reads a varint at off. Returns undefined when buf ends inside it (wait for more bytes). */
export function readVarint(buf: Uint8Array, off: number): { value: number; next: number } | undefined {
  if (off >= buf.length) return undefined;
  const first = buf[off]!;
  const n = 1 << (first >>> 6);
  if (off + n > buf.length) return undefined;
  let value = first & 0x3f;
  for (let i = 1; i < n; i++) {
    // Multiplication, not <<: a 30-bit prefix would overflow a 32-bit shift.
    value = value * 256 + buf[off + i]!;
  }
  if (value > VARINT_MAX) throw new TunnelParseError(`varint at offset ${off} exceeds 2^53-1`);
  return { value, next: off + n };
}

/** Full-range decode, for the 62-bit values JS numbers cannot hold. */
export function readVarintBig(buf: Uint8Array, off: number): { value: bigint; next: number } | undefined {
  if (off >= buf.length) return undefined;
  const first = buf[off]!;
  const n = 1 << (first >>> 6);
  if (off + n > buf.length) return undefined;
  let value = BigInt(first & 0x3f);
  for (let i = 1; i < n; i++) value = (value << 8n) | BigInt(buf[off + i]!);
  return { value, next: off + n };
}
