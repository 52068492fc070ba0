// struct virtio_net_hdr (virtio 1.x §5.1.6; Linux include/uapi/linux/virtio_net.h), the 10 bytes
// in front of every packet a TUN opened with IFF_VNET_HDR reads and writes (little-endian: the
// addon sets TUNSETVNETLE). It carries what the kernel's offloads need:
//
//  - flags NEEDS_CSUM: the transport checksum is partial — the field holds the folded
//    pseudo-header sum, and the sum over [csumStart, end) still has to be stored at
//    csumStart + csumOffset. From the kernel: the packet never left this machine, nothing to
//    verify. From us: the kernel finishes it, or (local delivery) trusts it as the kernel trusts
//    its own segments (CHECKSUM_PARTIAL).
//  - flags DATA_VALID: the kernel already verified the checksum.
//  - gsoType / gsoSize / hdrLen: the packet is a segmentation offload super-packet of one TCP
//    (TSO) or UDP (USO) header and up to 64 KiB of payload, to be cut into gsoSize-byte
//    segments; hdrLen is the length of the headers repeated in each.
//
// Pure codec: reading validates what the stack relies on, writing fills a header at an offset.

import type { DropReason } from './reasons.js';

export const VNET_HDR_LEN = 10;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3; // UFO, IPv4 fragmentation offload: never enabled by tp
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5; // USO (Linux 6.2+)
export const VNET_GSO_ECN = 0x80;

/** TUN_F_* bits of TUNSETOFFLOAD (include/uapi/linux/if_tun.h), as the addon reports them. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

export interface VnetHeader {
  flags: number;
  /** VNET_GSO_* without the ECN bit. */
  gsoType: number;
  ecn: boolean;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function newVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: VNET_GSO_NONE, ecn: false, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Decodes the header at the start of `b` into `out` (reused). Returns why the packet must be
 * dropped, or null: a type of offload tp never enables (UFO), or a super-packet without a
 * segment size, is not something to guess at. */
export function readVnetHeader(b: Buffer, out: VnetHeader): DropReason | null {
  if (b.length < VNET_HDR_LEN) return 'truncated';
  out.flags = b[0]!;
  const gso = b[1]!;
  out.gsoType = gso & ~VNET_GSO_ECN;
  out.ecn = (gso & VNET_GSO_ECN) !== 0;
  out.hdrLen = b.readUInt16LE(2);
  out.gsoSize = b.readUInt16LE(4);
  out.csumStart = b.readUInt16LE(6);
  out.csumOffset = b.readUInt16LE(8);
  if ((out.flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0) return 'bad-offload';
  switch (out.gsoType) {
    case VNET_GSO_NONE:
      return null;
    case VNET_GSO_TCPV4:
    case VNET_GSO_TCPV6:
    case VNET_GSO_UDP_L4:
      return out.gsoSize > 0 ? null : 'bad-offload';
    default:
      return 'bad-offload';
  }
}

/** Whether the transport checksum of a packet with this header needs no verification. */
export function checksumTrusted(h: VnetHeader): boolean {
  return (h.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
}

/** Writes a header at `off`: a partial checksum to finish at [csumStart + csumOffset] and, when
 * gsoSize > 0, a super-packet of gsoType to cut into gsoSize-byte segments behind hdrLen bytes of
 * headers. Returns VNET_HDR_LEN. */
export function writeVnetHeader(
  b: Buffer,
  off: number,
  csumStart: number,
  csumOffset: number,
  gsoType = VNET_GSO_NONE,
  gsoSize = 0,
  hdrLen = 0,
): number {
  b[off] = VNET_F_NEEDS_CSUM;
  b[off + 1] = gsoSize > 0 ? gsoType : VNET_GSO_NONE;
  b.writeUInt16LE(gsoSize > 0 ? hdrLen : 0, off + 2);
  b.writeUInt16LE(gsoSize > 0 ? gsoSize : 0, off + 4);
  b.writeUInt16LE(csumStart, off + 6);
  b.writeUInt16LE(csumOffset, off + 8);
  return VNET_HDR_LEN;
}

/** A header that asks nothing of the kernel: a complete packet with a complete checksum. */
export function writePlainVnetHeader(b: Buffer, off: number): number {
  b.fill(0, off, off + VNET_HDR_LEN);
  return VNET_HDR_LEN;
}
