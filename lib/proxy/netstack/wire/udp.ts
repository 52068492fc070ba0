// UDP header (RFC 768). Checksum is verified by the packet parser, which has the pseudo-header.

import type { DropReason } from './reasons.js';

export const UDP_HEADER_LEN = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** View into the packet. */
  payload: Buffer;
}

export function newUdpDatagram(): UdpDatagram {
  return { srcPort: 0, dstPort: 0, payload: Buffer.alloc(0) };
}

/** `b` is the whole IP payload. The UDP length may be shorter (trailing padding is ignored),
 * never longer. */
export function parseUdp(b: Buffer, out: UdpDatagram): DropReason | null {
  if (b.length < UDP_HEADER_LEN) return 'truncated';
  const len = b.readUInt16BE(4);
  if (len < UDP_HEADER_LEN || len > b.length) return 'bad-length';
  out.srcPort = b.readUInt16BE(0);
  out.dstPort = b.readUInt16BE(2);
  if (out.srcPort === 0 || out.dstPort === 0) return 'bad-port';
  out.payload = b.subarray(UDP_HEADER_LEN, len);
  return null;
}

export const udpLength = (b: Buffer) => b.readUInt16BE(4);
export const udpChecksumField = (b: Buffer) => b.readUInt16BE(6);

export function writeUdpHeader(b: Buffer, off: number, srcPort: number, dstPort: number, payloadLen: number): number {
  b.writeUInt16BE(srcPort, off);
  b.writeUInt16BE(dstPort, off + 2);
  b.writeUInt16BE(UDP_HEADER_LEN + payloadLen, off + 4);
  b.writeUInt16BE(0, off + 6);
  return UDP_HEADER_LEN;
}
