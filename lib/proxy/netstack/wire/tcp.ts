// TCP header (RFC 9293 §3.1) with the options a passive opener needs: MSS (§3.7.1), window scale
// (RFC 7323 §2), SACK-permitted and SACK blocks (RFC 2018: we report the holes in what we
// received; blocks the peer sends us are parsed but our sender does not use them, which RFC 2018
// allows). Timestamps are skipped.

import type { DropReason } from './reasons.js';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;

export const TCP_HEADER_LEN = 20;
/** Largest header we emit: 20 + NOP NOP + SACK with 4 blocks (2 + 32). */
export const TCP_MAX_EMIT_HEADER_LEN = 56;

/** A parsed inbound segment. One scratch instance is reused for every packet; a connection
 * copies what it keeps. `payload` is a view into the packet. */
export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** Raw window field: the receiver scales it (not scaled on SYN segments, RFC 7323 §2.2). */
  window: number;
  /** -1 when the option is absent. */
  mss: number;
  /** Shift count, -1 when absent. */
  wscale: number;
  sackPermitted: boolean;
  /** SACK blocks as [left, right) pairs, flattened; reused between parses. */
  sack: number[];
  payload: Buffer;
}

export function newTcpSegment(): TcpSegment {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    sack: [],
    payload: Buffer.alloc(0),
  };
}

export const tcpDataOffset = (b: Buffer) => (b[12]! >> 4) << 2;

/** Parses `b` (exactly the TCP bytes of one packet) into `out`. Checksum is checked by the
 * caller, which knows the pseudo-header. */
export function parseTcp(b: Buffer, out: TcpSegment): DropReason | null {
  if (b.length < TCP_HEADER_LEN) return 'truncated';
  const doff = tcpDataOffset(b);
  if (doff < TCP_HEADER_LEN || doff > b.length) return 'bad-length';
  out.srcPort = b.readUInt16BE(0);
  out.dstPort = b.readUInt16BE(2);
  if (out.srcPort === 0 || out.dstPort === 0) return 'bad-port';
  out.seq = b.readUInt32BE(4);
  out.ack = b.readUInt32BE(8);
  out.flags = b[13]! & 0x3f;
  out.window = b.readUInt16BE(14);
  out.mss = -1;
  out.wscale = -1;
  out.sackPermitted = false;
  out.sack.length = 0;
  for (let i = TCP_HEADER_LEN; i < doff;) {
    const kind = b[i]!;
    if (kind === 0) break; // end of option list
    if (kind === 1) {
      i++;
      continue;
    } // NOP
    if (i + 1 >= doff) return 'bad-tcp-option';
    const len = b[i + 1]!;
    if (len < 2 || i + len > doff) return 'bad-tcp-option';
    switch (kind) {
      case 2:
        if (len !== 4) return 'bad-tcp-option';
        out.mss = b.readUInt16BE(i + 2);
        break;
      case 3:
        if (len !== 3) return 'bad-tcp-option';
        // RFC 7323 §2.3: a shift above 14 is treated as 14.
        out.wscale = Math.min(b[i + 2]!, 14);
        break;
      case 4:
        if (len !== 2) return 'bad-tcp-option';
        out.sackPermitted = true;
        break;
      case 5:
        if ((len - 2) % 8 !== 0) return 'bad-tcp-option';
        for (let k = i + 2; k < i + len; k += 8) out.sack.push(b.readUInt32BE(k), b.readUInt32BE(k + 4));
        break;
      default: // SACK blocks, timestamps, unknown: skipped by length (RFC 9293 §3.1 MUST-6)
    }
    i += len;
  }
  out.payload = b.subarray(doff);
  return null;
}

/** What a connection asks the edge to send. The edge adds IP and ports. */
export interface OutSegment {
  seq: number;
  ack: number;
  flags: number;
  /** Raw (already scaled down) window field. */
  window: number;
  /** Options, for SYN-ACK only: -1 / false for absent. */
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  /** SACK blocks ([left, right) pairs, at most 4 blocks), only on segments without payload:
   * options on a full-sized data segment would push it past the MTU (RFC 6691). */
  sack?: readonly number[];
  /** View of the bytes to carry; the edge copies them into the packet. */
  payload: Buffer;
}

export function tcpOptionsLen(s: OutSegment): number {
  let n = 0;
  if (s.mss >= 0) n += 4;
  if (s.wscale >= 0) n += 4; // NOP + WS keeps later options aligned
  if (s.sackPermitted) n += 4; // NOP NOP + SACK-permitted
  if (s.sack && s.sack.length > 0) n += 4 + 4 * s.sack.length; // NOP NOP + kind, len + blocks
  return n;
}

/** Writes the TCP header (checksum field zero) at `off`; returns its length. */
export function writeTcpHeader(b: Buffer, off: number, srcPort: number, dstPort: number, s: OutSegment): number {
  const hlen = TCP_HEADER_LEN + tcpOptionsLen(s);
  b.writeUInt16BE(srcPort, off);
  b.writeUInt16BE(dstPort, off + 2);
  b.writeUInt32BE(s.seq >>> 0, off + 4);
  b.writeUInt32BE(s.ack >>> 0, off + 8);
  b[off + 12] = (hlen >> 2) << 4;
  b[off + 13] = s.flags;
  b.writeUInt16BE(s.window, off + 14);
  b.writeUInt32BE(0, off + 16); // checksum and urgent pointer
  let i = off + TCP_HEADER_LEN;
  if (s.mss >= 0) {
    b[i] = 2;
    b[i + 1] = 4;
    b.writeUInt16BE(s.mss, i + 2);
    i += 4;
  }
  if (s.wscale >= 0) {
    b[i] = 1;
    b[i + 1] = 3;
    b[i + 2] = 3;
    b[i + 3] = s.wscale;
    i += 4;
  }
  if (s.sackPermitted) {
    b[i] = 1;
    b[i + 1] = 1;
    b[i + 2] = 4;
    b[i + 3] = 2;
    i += 4;
  }
  if (s.sack && s.sack.length > 0) {
    b[i] = 1;
    b[i + 1] = 1;
    b[i + 2] = 5;
    b[i + 3] = 2 + 4 * s.sack.length;
    i += 4;
    for (const edge of s.sack) {
      b.writeUInt32BE(edge >>> 0, i);
      i += 4;
    }
  }
  return hlen;
}
