// Whole packets: IP + TCP/UDP/ICMP, parsed once with every length and checksum checked, and
// emitted into caller-supplied buffers. After parsePacket returns null every view in the
// result is in bounds, so the stack never needs another length check.

import { finishChecksum, fold16, pseudoHeaderPartialOf, pseudoHeaderSum, sum16, verifiesTo } from './checksum.js';
import {
  IPV4_DST,
  IPV4_HEADER_LEN,
  IPV4_SRC,
  IPV6_DST,
  IPV6_HEADER_LEN,
  IPV6_SRC,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  ipv4Check,
  ipv4Proto,
  ipv4TotalLen,
  ipv6Check,
  ipv6NextHeader,
  ipv6PayloadLen,
  ipVersion,
  writeIpv4Header,
  writeIpv6Header,
} from './ip.js';
import type { DropReason } from './reasons.js';
import { newTcpSegment, parseTcp, writeTcpHeader, type OutSegment, type TcpSegment } from './tcp.js';
import { UDP_HEADER_LEN, newUdpDatagram, parseUdp, udpChecksumField, writeUdpHeader, type UdpDatagram } from './udp.js';

export interface ParsedPacket {
  version: 4 | 6;
  /** The IP packet without link padding beyond its length field. */
  ip: Buffer;
  src: Buffer;
  dst: Buffer;
  proto: number;
  /** The transport bytes (TCP/UDP header + payload, or the ICMP message). */
  l4: Buffer;
  /** Filled when proto is TCP. */
  tcp: TcpSegment;
  /** Filled when proto is UDP. */
  udp: UdpDatagram;
}

export function newParsedPacket(): ParsedPacket {
  const empty = Buffer.alloc(0);
  return { version: 4, ip: empty, src: empty, dst: empty, proto: 0, l4: empty, tcp: newTcpSegment(), udp: newUdpDatagram() };
}

function isMartian(a: Buffer): boolean {
  if (a.length === 4) return a[0]! >= 224 || (a[0] === 0 && a[1] === 0 && a[2] === 0 && a[3] === 0);
  return a[0] === 0xff; // IPv6 multicast
}

/** Parses and validates `packet` into `out` (reused across calls). Returns why it was dropped,
 * or null. Never throws for any input. `checksumTrusted`: the device vouches for the transport
 * checksum (a virtio_net_hdr with NEEDS_CSUM or DATA_VALID, wire/vnet.ts) — the field may hold a
 * partial sum, so it is not verified; the IPv4 header's own checksum always is. */
export function parsePacket(packet: Buffer, out: ParsedPacket, checksumTrusted = false): DropReason | null {
  if (packet.length < 1) return 'truncated';
  const v = ipVersion(packet);
  let l4start: number;
  if (v === 4) {
    const r = ipv4Check(packet);
    if (r) return r;
    out.version = 4;
    out.ip = packet.subarray(0, ipv4TotalLen(packet));
    out.src = packet.subarray(IPV4_SRC, IPV4_SRC + 4);
    out.dst = packet.subarray(IPV4_DST, IPV4_DST + 4);
    out.proto = ipv4Proto(packet);
    l4start = IPV4_HEADER_LEN;
  } else if (v === 6) {
    const r = ipv6Check(packet);
    if (r) return r;
    out.version = 6;
    out.ip = packet.subarray(0, IPV6_HEADER_LEN + ipv6PayloadLen(packet));
    out.src = packet.subarray(IPV6_SRC, IPV6_SRC + 16);
    out.dst = packet.subarray(IPV6_DST, IPV6_DST + 16);
    out.proto = ipv6NextHeader(packet);
    l4start = IPV6_HEADER_LEN;
  } else {
    return 'bad-version';
  }
  if (isMartian(out.src) || isMartian(out.dst)) return 'martian-address';
  out.l4 = out.ip.subarray(l4start);
  const l4 = out.l4;
  if (out.proto === PROTO_TCP) {
    const r = parseTcp(l4, out.tcp);
    if (r) return r;
    if (
      !checksumTrusted &&
      !verifiesTo(sum16(l4, 0, l4.length, pseudoHeaderSum(pseudoHeaderPartialOf(out.src, out.dst, PROTO_TCP), l4.length)))
    ) {
      return 'bad-checksum';
    }
    return null;
  }
  if (out.proto === PROTO_UDP) {
    const r = parseUdp(l4, out.udp);
    if (r) return r;
    const udpLen = UDP_HEADER_LEN + out.udp.payload.length;
    const ck = udpChecksumField(l4);
    // RFC 768: zero means "no checksum" over IPv4; RFC 8200 §8.1: mandatory over IPv6.
    if (checksumTrusted || (ck === 0 && out.version === 4)) return null;
    if (ck === 0) return 'bad-checksum';
    if (!verifiesTo(sum16(l4, 0, udpLen, pseudoHeaderSum(pseudoHeaderPartialOf(out.src, out.dst, PROTO_UDP), udpLen)))) {
      return 'bad-checksum';
    }
    return null;
  }
  if (out.proto === PROTO_ICMP || out.proto === PROTO_ICMPV6) return null; // the stack ignores ICMP
  return 'unsupported-protocol';
}

export const ipHeaderLen = (version: 4 | 6) => (version === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN);

/** Builds an IP+TCP packet into `buf` from `src`/`dst` addresses (4 or 16 bytes).
 * `pseudoPartial` is pseudoHeaderPartialOf(src, dst, PROTO_TCP), computed once per flow.
 * Returns the packet length. `buf` must hold ipHeaderLen + tcp header + payload. */
export function buildTcpPacket(
  buf: Buffer,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  seg: OutSegment,
  pseudoPartial = pseudoHeaderPartialOf(src, dst, PROTO_TCP),
): number {
  const hlen = buildTcpHeaders(buf, 0, src, dst, srcPort, dstPort, seg, pseudoPartial, false);
  if (seg.payload.length > 0) buf.set(seg.payload, hlen);
  return hlen + seg.payload.length;
}

/** The IP and TCP headers of a segment, at `off`, whose payload follows them elsewhere (a gathered
 * write: the payload stays where it lies). Returns the headers' length. The checksum covers the payload
 * all the same; with `partialChecksum` the field gets only the folded pseudo-header sum, for a
 * device that finishes it (virtio_net_hdr NEEDS_CSUM, wire/vnet.ts) — no pass over the payload. */
export function buildTcpHeaders(
  buf: Buffer,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  seg: OutSegment,
  pseudoPartial: number,
  partialChecksum: boolean,
): number {
  const ihl = src.length === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  const hlen = writeTcpHeader(buf, off + ihl, srcPort, dstPort, seg);
  const plen = seg.payload.length;
  const l4len = hlen + plen;
  const pseudo = pseudoHeaderSum(pseudoPartial, l4len);
  // The TCP header is a multiple of 4 bytes, so the payload's 16-bit words pair up as they would
  // inside one buffer and the two sums add.
  const ck = partialChecksum
    ? fold16(pseudo)
    : finishChecksum(sum16(seg.payload, 0, plen, sum16(buf, off + ihl, off + ihl + hlen, pseudo)));
  buf.writeUInt16BE(ck, off + ihl + 16);
  if (ihl === IPV4_HEADER_LEN) writeIpv4Header(buf, off, src, dst, PROTO_TCP, l4len);
  else writeIpv6Header(buf, off, src, dst, PROTO_TCP, l4len);
  return ihl + hlen;
}

/** Builds an IP+UDP packet; returns its length. */
export function buildUdpPacket(
  buf: Buffer,
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
): number {
  const ihl = src.length === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  writeUdpHeader(buf, ihl, srcPort, dstPort, payload.length);
  buf.set(payload, ihl + UDP_HEADER_LEN);
  const l4len = UDP_HEADER_LEN + payload.length;
  let ck = finishChecksum(sum16(buf, ihl, ihl + l4len, pseudoHeaderSum(pseudoHeaderPartialOf(src, dst, PROTO_UDP), l4len)));
  if (ck === 0) ck = 0xffff; // RFC 768: a computed zero is sent as all ones
  buf.writeUInt16BE(ck, ihl + 6);
  if (ihl === IPV4_HEADER_LEN) writeIpv4Header(buf, 0, src, dst, PROTO_UDP, l4len);
  else writeIpv6Header(buf, 0, src, dst, PROTO_UDP, l4len);
  return ihl + l4len;
}

/** RFC 8200 §5 / RFC 4443 §2.4(c): an ICMPv6 error must fit the minimum MTU. */
const ICMPV6_MAX_QUOTE = 1280 - IPV6_HEADER_LEN - 8;

/** Why a destination is unreachable, with its ICMPv4 (RFC 792, RFC 1812 §5.2.7.1) and ICMPv6
 * (RFC 4443 §3.1) codes. */
export type Unreachable = 'net' | 'host' | 'port' | 'admin';
const ICMPV4_CODE: Record<Unreachable, number> = { net: 0, host: 1, port: 3, admin: 13 };
const ICMPV6_CODE: Record<Unreachable, number> = { net: 0, host: 3, port: 4, admin: 1 };

/** ICMP "destination unreachable" for `original` (a validated IP packet from the workstation),
 * sent from its destination back to its source: ICMPv4 type 3 quoting the IP header and the
 * first 8 payload bytes (RFC 792), or ICMPv6 type 1 quoting as much as fits in 1280 bytes
 * (RFC 4443 §2.4(c)). 'port' is what the kernel turns into ECONNREFUSED on a UDP socket. */
export function buildDestUnreachable(buf: Buffer, original: Buffer, why: Unreachable): number {
  const v4 = ipVersion(original) === 4;
  const ihl = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  const src = original.subarray(v4 ? IPV4_DST : IPV6_DST, v4 ? IPV4_DST + 4 : IPV6_DST + 16);
  const dst = original.subarray(v4 ? IPV4_SRC : IPV6_SRC, v4 ? IPV4_SRC + 4 : IPV6_SRC + 16);
  const quoteLen = Math.min(original.length, v4 ? IPV4_HEADER_LEN + 8 : ICMPV6_MAX_QUOTE);
  const l4len = 8 + quoteLen;
  buf[ihl] = v4 ? 3 : 1;
  buf[ihl + 1] = v4 ? ICMPV4_CODE[why] : ICMPV6_CODE[why];
  buf.writeUInt16BE(0, ihl + 2);
  buf.writeUInt32BE(0, ihl + 4);
  original.copy(buf, ihl + 8, 0, quoteLen);
  // ICMPv4 sums only the message; ICMPv6 includes the pseudo-header (RFC 4443 §2.3).
  const initial = v4 ? 0 : pseudoHeaderSum(pseudoHeaderPartialOf(src, dst, PROTO_ICMPV6), l4len);
  buf.writeUInt16BE(finishChecksum(sum16(buf, ihl, ihl + l4len, initial)), ihl + 2);
  if (v4) writeIpv4Header(buf, 0, src, dst, PROTO_ICMP, l4len);
  else writeIpv6Header(buf, 0, src, dst, PROTO_ICMPV6, l4len);
  return ihl + l4len;
}

export const buildPortUnreachable = (buf: Buffer, original: Buffer): number => buildDestUnreachable(buf, original, 'port');
