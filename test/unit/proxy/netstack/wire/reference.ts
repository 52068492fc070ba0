// An independent, deliberately naive Internet checksum (RFC 1071) for known-answer checks:
// assemble the covered bytes into one array, sum 16-bit words with a carry fold after each add.

export function refChecksum(bytes: number[]): number {
  if (bytes.length % 2 === 1) bytes = [...bytes, 0];
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += bytes[i]! * 256 + bytes[i + 1]!;
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  return 0xffff - sum;
}

/** Checksum over pseudo-header + transport bytes, with the checksum field zeroed. */
export function refTransportChecksum(src: Uint8Array, dst: Uint8Array, proto: number, l4: Uint8Array, ckOffset: number): number {
  const body = [...l4];
  body[ckOffset] = 0;
  body[ckOffset + 1] = 0;
  const len = l4.length;
  const pseudo =
    src.length === 4 ? [...src, ...dst, 0, proto, len >> 8, len & 0xff] : [...src, ...dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, proto];
  return refChecksum([...pseudo, ...body]);
}
