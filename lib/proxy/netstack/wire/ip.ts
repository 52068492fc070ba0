// IPv4 (RFC 791) and IPv6 (RFC 8200) fixed headers: checks, in-place accessors and emitters.
// The TUN hands us whole, unfragmented packets from the local kernel; anything else (options,
// fragments, extension headers) is rejected with a reason instead of half-supported.

import { finishChecksum, sum16, verifiesTo } from './checksum.js';
import type { DropReason } from './reasons.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;

export const ipVersion = (b: Buffer) => b[0]! >> 4;

// IPv4 accessors (valid after ipv4Check returned null)
export const ipv4HeaderLen = (b: Buffer) => (b[0]! & 0x0f) << 2;
export const ipv4TotalLen = (b: Buffer) => b.readUInt16BE(2);
export const ipv4Proto = (b: Buffer) => b[9]!;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;

/** Validates an IPv4 packet so that later accessors can't read out of bounds. */
export function ipv4Check(b: Buffer): DropReason | null {
  if (b.length < IPV4_HEADER_LEN) return 'truncated';
  if (ipVersion(b) !== 4) return 'bad-version';
  const ihl = ipv4HeaderLen(b);
  if (ihl < IPV4_HEADER_LEN) return 'bad-length';
  // Options are never set by the local kernel on TCP/UDP; refusing them keeps offsets fixed.
  if (ihl !== IPV4_HEADER_LEN) return 'ip-options';
  const total = ipv4TotalLen(b);
  if (total < ihl || total > b.length) return 'bad-length';
  if (!verifiesTo(sum16(b, 0, ihl))) return 'bad-checksum';
  const fragField = b.readUInt16BE(6);
  // MF set or a non-zero offset: a fragment. The TUN MTU is large enough that the kernel
  // never fragments towards us, so reassembly would be dead code.
  if ((fragField & 0x2000) !== 0 || (fragField & 0x1fff) !== 0) return 'fragment';
  return null;
}

// IPv6 accessors (valid after ipv6Check returned null)
export const ipv6PayloadLen = (b: Buffer) => b.readUInt16BE(4);
export const ipv6NextHeader = (b: Buffer) => b[6]!;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;

export function ipv6Check(b: Buffer): DropReason | null {
  if (b.length < IPV6_HEADER_LEN) return 'truncated';
  if (ipVersion(b) !== 6) return 'bad-version';
  if (IPV6_HEADER_LEN + ipv6PayloadLen(b) > b.length) return 'bad-length';
  const nh = ipv6NextHeader(b);
  if (nh === PROTO_TCP || nh === PROTO_UDP || nh === PROTO_ICMPV6) return null;
  // 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options, 59 no next header...
  if (nh === 44) return 'fragment';
  if (nh === 0 || nh === 43 || nh === 60 || nh === 51 || nh === 50 || nh === 135) return 'ipv6-extension-header';
  return 'unsupported-protocol';
}

/** Writes a 20-byte IPv4 header at `off`; `payloadLen` is the L4 length. DF is set: the TUN
 * MTU bounds what we emit, so nobody on the path needs to fragment it. */
export function writeIpv4Header(
  b: Buffer,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  proto: number,
  payloadLen: number,
  ttl = 64,
): number {
  b[off] = 0x45;
  b[off + 1] = 0;
  b.writeUInt16BE(IPV4_HEADER_LEN + payloadLen, off + 2);
  b.writeUInt16BE(0, off + 4); // identification is meaningless with DF (RFC 6864 §4.1)
  b.writeUInt16BE(0x4000, off + 6);
  b[off + 8] = ttl;
  b[off + 9] = proto;
  b.writeUInt16BE(0, off + 10);
  b.set(src, off + 12);
  b.set(dst, off + 16);
  b.writeUInt16BE(finishChecksum(sum16(b, off, off + IPV4_HEADER_LEN)), off + 10);
  return IPV4_HEADER_LEN;
}

export function writeIpv6Header(
  b: Buffer,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  payloadLen: number,
  hopLimit = 64,
): number {
  b.writeUInt32BE(0x60000000, off); // version 6, traffic class 0, flow label 0
  b.writeUInt16BE(payloadLen, off + 4);
  b[off + 6] = nextHeader;
  b[off + 7] = hopLimit;
  b.set(src, off + 8);
  b.set(dst, off + 24);
  return IPV6_HEADER_LEN;
}

/** Text form of a 4- or 16-byte address, for dialing. IPv6 follows RFC 5952 (lower case,
 * longest run of two or more zero groups compressed, first run wins a tie). */
export function formatIp(a: Uint8Array): string {
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((a[i]! << 8) | a[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
