// The virtio_net_hdr codec (wire/vnet.ts): what a TUN with IFF_VNET_HDR puts in front of every
// packet (virtio 1.x §5.1.6, little-endian as TUNSETVNETLE makes it).

import test from 'ava';
import {
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  checksumTrusted,
  newVnetHeader,
  readVnetHeader,
  writePlainVnetHeader,
  writeVnetHeader,
} from '../../../../../lib/proxy/netstack/wire/vnet.js';

const bytes = (...b: number[]) => Buffer.from(b);

test('#14: the header is 10 bytes: flags, gso_type, then hdr_len, gso_size, csum_start, csum_offset little-endian', (t) => {
  const h = newVnetHeader();
  t.is(VNET_HDR_LEN, 10);
  t.is(readVnetHeader(bytes(1, 4, 0x3c, 0, 0xa0, 0x05, 40, 0, 16, 0, 0xee), h), null);
  t.deepEqual(h, {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: VNET_GSO_TCPV6,
    ecn: false,
    hdrLen: 60,
    gsoSize: 1440,
    csumStart: 40,
    csumOffset: 16,
  });
});

test('#14: the ECN bit of gso_type is read apart from the type', (t) => {
  const h = newVnetHeader();
  t.is(readVnetHeader(bytes(1, VNET_GSO_TCPV4 | VNET_GSO_ECN, 40, 0, 0xb4, 0x05, 20, 0, 16, 0), h), null);
  t.is(h.gsoType, VNET_GSO_TCPV4);
  t.true(h.ecn);
});

test('#14: NEEDS_CSUM and DATA_VALID both mean the checksum needs no verification; no flag means it does', (t) => {
  const h = newVnetHeader();
  readVnetHeader(bytes(VNET_F_NEEDS_CSUM, 0, 0, 0, 0, 0, 20, 0, 16, 0), h);
  t.true(checksumTrusted(h));
  readVnetHeader(bytes(VNET_F_DATA_VALID, 0, 0, 0, 0, 0, 0, 0, 0, 0), h);
  t.true(checksumTrusted(h));
  readVnetHeader(Buffer.alloc(10), h);
  t.false(checksumTrusted(h));
});

test('#14: what tp never enables or cannot use is a drop reason, not a guess: UFO, unknown types and flags, a super-packet without a segment size, a short header', (t) => {
  const h = newVnetHeader();
  t.is(readVnetHeader(bytes(1, VNET_GSO_UDP, 28, 0, 0xdc, 0x05, 20, 0, 6, 0), h), 'bad-offload');
  t.is(readVnetHeader(bytes(1, 9, 0, 0, 0, 0, 0, 0, 0, 0), h), 'bad-offload');
  t.is(readVnetHeader(bytes(0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0), h), 'bad-offload');
  t.is(readVnetHeader(bytes(1, VNET_GSO_TCPV4, 40, 0, 0, 0, 20, 0, 16, 0), h), 'bad-offload');
  t.is(readVnetHeader(bytes(0, 0, 0, 0, 0), h), 'truncated');
  t.is(readVnetHeader(bytes(1, VNET_GSO_UDP_L4, 28, 0, 0xdc, 0x05, 20, 0, 6, 0), h), null);
});

test('#14: a written header asks for a partial checksum and, only when a segment size is given, segmentation', (t) => {
  const b = Buffer.alloc(12, 0xff);
  t.is(writeVnetHeader(b, 1, 20, 16, VNET_GSO_TCPV4, 1460, 40), VNET_HDR_LEN);
  t.deepEqual([...b], [0xff, 1, 1, 40, 0, 0xb4, 0x05, 20, 0, 16, 0, 0xff]);
  const h = newVnetHeader();
  t.is(readVnetHeader(b.subarray(1), h), null);
  t.like(h, { flags: VNET_F_NEEDS_CSUM, gsoType: VNET_GSO_TCPV4, hdrLen: 40, gsoSize: 1460, csumStart: 20, csumOffset: 16 });
  writeVnetHeader(b, 0, 40, 16, VNET_GSO_TCPV6, 0, 60);
  readVnetHeader(b, h);
  t.like(h, { gsoType: VNET_GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 40 });
});

test('#14: a plain header is all zeros: a whole packet, its checksum complete', (t) => {
  const b = Buffer.alloc(10, 0xaa);
  writePlainVnetHeader(b, 0);
  t.deepEqual([...b], new Array(10).fill(0));
});

test('#14: fuzz: any 10 bytes decode to a header or a reason, never an exception', (t) => {
  const h = newVnetHeader();
  let s = 12345;
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.alloc(1 + (i % 12));
    for (let k = 0; k < b.length; k++) b[k] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    const r = readVnetHeader(b, h);
    t.true(r === null || r === 'bad-offload' || r === 'truncated');
  }
});
