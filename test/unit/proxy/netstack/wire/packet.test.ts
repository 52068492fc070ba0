import test from 'ava';
import { PROTO_TCP, PROTO_UDP } from '../../../../../lib/proxy/netstack/wire/ip.js';
import {
  buildDestUnreachable,
  buildPortUnreachable,
  buildTcpPacket,
  buildUdpPacket,
  newParsedPacket,
  parsePacket,
} from '../../../../../lib/proxy/netstack/wire/packet.js';
import type { DropReason } from '../../../../../lib/proxy/netstack/wire/reasons.js';
import { ACK, SYN, type OutSegment } from '../../../../../lib/proxy/netstack/wire/tcp.js';
import { refChecksum, refTransportChecksum } from './reference.js';

const A4 = Buffer.from([10, 0, 0, 1]);
const B4 = Buffer.from([10, 96, 0, 10]);
const A6 = Buffer.from('fd000000000000000000000000000001', 'hex');
const B6 = Buffer.from('fd0000000000000000000000000000aa', 'hex');

function seg(over: Partial<OutSegment> = {}): OutSegment {
  return {
    seq: 0x01020304,
    ack: 0x0a0b0c0d,
    flags: ACK,
    window: 1234,
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    payload: Buffer.from('hello, world!'),
    ...over,
  };
}

function tcp4(over: Partial<OutSegment> = {}): Buffer {
  const buf = Buffer.alloc(2000);
  return buf.subarray(0, buildTcpPacket(buf, A4, B4, 40000, 80, seg(over)));
}

test('TCP/IPv4 packet: built fields parse back, and the checksum matches an independent calculation', (t) => {
  const pkt = tcp4({ flags: SYN | ACK, mss: 65495, wscale: 7, sackPermitted: true, payload: Buffer.alloc(0) });
  t.is(pkt.length, 20 + 32);
  t.is(pkt.readUInt16BE(2), pkt.length);
  t.is(refChecksum([...pkt.subarray(0, 10), 0, 0, ...pkt.subarray(12, 20)]), pkt.readUInt16BE(10));
  const l4 = pkt.subarray(20);
  t.is(refTransportChecksum(A4, B4, PROTO_TCP, l4, 16), l4.readUInt16BE(16));
  const p = newParsedPacket();
  t.is(parsePacket(pkt, p), null);
  t.is(p.version, 4);
  t.deepEqual([...p.src], [...A4]);
  t.deepEqual([...p.dst], [...B4]);
  t.like(p.tcp, {
    srcPort: 40000,
    dstPort: 80,
    seq: 0x01020304,
    ack: 0x0a0b0c0d,
    flags: SYN | ACK,
    window: 1234,
    mss: 65495,
    wscale: 7,
    sackPermitted: true,
  });
  t.is(p.tcp.payload.length, 0);
});

test('TCP/IPv6 packet: pseudo-header with 32-bit length (RFC 8200 §8.1), payload view without copy', (t) => {
  const buf = Buffer.alloc(2000);
  const len = buildTcpPacket(buf, A6, B6, 40000, 443, seg());
  const pkt = buf.subarray(0, len);
  t.is(pkt.readUInt16BE(4), len - 40);
  const l4 = pkt.subarray(40);
  t.is(refTransportChecksum(A6, B6, PROTO_TCP, l4, 16), l4.readUInt16BE(16));
  const p = newParsedPacket();
  t.is(parsePacket(pkt, p), null);
  t.is(p.version, 6);
  t.is(p.tcp.payload.toString(), 'hello, world!');
  t.is(p.tcp.payload.buffer, buf.buffer); // a view into the packet
});

test('UDP over IPv4 and IPv6: checksums match the reference; an all-zero computed checksum goes out as ffff (RFC 768)', (t) => {
  for (const [src, dst] of [
    [A4, B4],
    [A6, B6],
  ] as const) {
    const buf = Buffer.alloc(600);
    const len = buildUdpPacket(buf, src, dst, 5353, 53, Buffer.from('dns?'));
    const ihl = src.length === 4 ? 20 : 40;
    const l4 = buf.subarray(ihl, len);
    t.is(refTransportChecksum(src, dst, PROTO_UDP, l4, 6), l4.readUInt16BE(6));
    const p = newParsedPacket();
    t.is(parsePacket(buf.subarray(0, len), p), null);
    t.like(p.udp, { srcPort: 5353, dstPort: 53 });
    t.is(p.udp.payload.toString(), 'dns?');
  }
});

test('UDP: a zero checksum is accepted over IPv4 (RFC 768) and rejected over IPv6 (RFC 8200 §8.1)', (t) => {
  const p = newParsedPacket();
  for (const [src, dst, ihl, want] of [
    [A4, B4, 20, null],
    [A6, B6, 40, 'bad-checksum'],
  ] as const) {
    const buf = Buffer.alloc(600);
    const len = buildUdpPacket(buf, src, dst, 5353, 53, Buffer.from('x'));
    buf.writeUInt16BE(0, ihl + 6);
    t.is(parsePacket(buf.subarray(0, len), p), want);
  }
});

test('ICMPv4 port unreachable (RFC 792): type 3 code 3 from the original destination, quoting IP header + 8 bytes', (t) => {
  const orig = Buffer.alloc(100);
  const olen = buildUdpPacket(orig, A4, B4, 5353, 53, Buffer.alloc(40, 9));
  const buf = Buffer.alloc(600);
  const len = buildPortUnreachable(buf, orig.subarray(0, olen));
  t.is(len, 20 + 8 + 28);
  t.is(buf[9], 1);
  t.deepEqual([...buf.subarray(12, 16)], [...B4]);
  t.deepEqual([...buf.subarray(16, 20)], [...A4]);
  t.is(buf[20], 3);
  t.is(buf[21], 3);
  t.deepEqual(buf.subarray(28, len), orig.subarray(0, 28));
  t.is(refChecksum([...buf.subarray(20, 22), 0, 0, ...buf.subarray(24, len)]), buf.readUInt16BE(22));
  t.is(parsePacket(buf.subarray(0, len), newParsedPacket()), null);
});

test('ICMPv6 port unreachable (RFC 4443 §3.1): type 1 code 4, checksum over the pseudo-header, fits 1280 bytes', (t) => {
  const orig = Buffer.alloc(3000);
  const olen = buildUdpPacket(orig, A6, B6, 5353, 53, Buffer.alloc(2000, 9));
  const buf = Buffer.alloc(3000);
  const len = buildPortUnreachable(buf, orig.subarray(0, olen));
  t.is(len, 1280);
  t.is(buf[6], 58);
  t.is(buf[40], 1);
  t.is(buf[41], 4);
  t.is(refTransportChecksum(B6, A6, 58, buf.subarray(40, len), 2), buf.readUInt16BE(42));
});

// ------------------------------------------------------------------ malformed input

const corrupt: Array<[string, (b: Buffer) => Buffer, DropReason]> = [
  ['empty', () => Buffer.alloc(0), 'truncated'],
  ['shorter than an IPv4 header', (b) => b.subarray(0, 19), 'truncated'],
  [
    'IP version 5',
    (b) => {
      b[0] = 0x55;
      return b;
    },
    'bad-version',
  ],
  [
    'total length beyond the bytes',
    (b) => {
      b.writeUInt16BE(b.length + 1, 2);
      fixIp(b);
      return b;
    },
    'bad-length',
  ],
  [
    'total length below the header',
    (b) => {
      b.writeUInt16BE(10, 2);
      fixIp(b);
      return b;
    },
    'bad-length',
  ],
  [
    'IHL below 5',
    (b) => {
      b[0] = 0x44;
      return b;
    },
    'bad-length',
  ],
  [
    'IP options',
    (b) => {
      b[0] = 0x46;
      fixIp(b);
      return b;
    },
    'ip-options',
  ],
  [
    'bad IPv4 header checksum',
    (b) => {
      b[10]! ^= 1;
      return b;
    },
    'bad-checksum',
  ],
  [
    'more-fragments flag',
    (b) => {
      b.writeUInt16BE(0x2000, 6);
      fixIp(b);
      return b;
    },
    'fragment',
  ],
  [
    'non-zero fragment offset',
    (b) => {
      b.writeUInt16BE(0x0010, 6);
      fixIp(b);
      return b;
    },
    'fragment',
  ],
  [
    'bad TCP checksum',
    (b) => {
      b[b.length - 1]! ^= 0x40;
      return b;
    },
    'bad-checksum',
  ],
  [
    'TCP data offset beyond the segment',
    (b) => {
      b[32] = 0xf0;
      return b;
    },
    'bad-length',
  ],
  [
    'TCP data offset below 5',
    (b) => {
      b[32] = 0x40;
      return b;
    },
    'bad-length',
  ],
  [
    'TCP shorter than its header',
    (b) => {
      const c = b.subarray(0, 30);
      c.writeUInt16BE(30, 2);
      fixIp(c);
      return c;
    },
    'truncated',
  ],
  [
    'multicast destination',
    (b) => {
      b[16] = 239;
      fixIp(b);
      return b;
    },
    'martian-address',
  ],
  [
    'unknown protocol',
    (b) => {
      b[9] = 47;
      fixIp(b);
      return b;
    },
    'unsupported-protocol',
  ],
];

function fixIp(b: Buffer): void {
  b.writeUInt16BE(0, 10);
  b.writeUInt16BE(refChecksum([...b.subarray(0, 20)]), 10);
}

for (const [name, mutate, reason] of corrupt) {
  test(`malformed IPv4/TCP is rejected with a reason, never thrown: ${name}`, (t) => {
    const p = newParsedPacket();
    t.is(parsePacket(mutate(Buffer.from(tcp4())), p), reason);
  });
}

test('malformed TCP option lengths are rejected (RFC 9293 §3.1: options are length-checked)', (t) => {
  const p = newParsedPacket();
  const buf = Buffer.alloc(200);
  // MSS option with length 3, then fix the checksum so only the option is wrong.
  const len = buildTcpPacket(buf, A4, B4, 1, 2, seg({ flags: SYN, mss: 1460, payload: Buffer.alloc(0) }));
  buf[20 + 21] = 3;
  const l4 = buf.subarray(20, len);
  l4.writeUInt16BE(refTransportChecksum(A4, B4, PROTO_TCP, l4, 16), 16);
  t.is(parsePacket(buf.subarray(0, len), p), 'bad-tcp-option');
  buf[20 + 21] = 0; // zero-length option would loop forever if accepted
  l4.writeUInt16BE(refTransportChecksum(A4, B4, PROTO_TCP, l4, 16), 16);
  t.is(parsePacket(buf.subarray(0, len), p), 'bad-tcp-option');
});

test('IPv6 extension headers and fragments are rejected (RFC 8200 §4)', (t) => {
  const p = newParsedPacket();
  const buf = Buffer.alloc(200);
  const len = buildTcpPacket(buf, A6, B6, 1, 2, seg());
  const pkt = buf.subarray(0, len);
  pkt[6] = 0;
  t.is(parsePacket(pkt, p), 'ipv6-extension-header');
  pkt[6] = 44;
  t.is(parsePacket(pkt, p), 'fragment');
  pkt[6] = 6;
  pkt.writeUInt16BE(len, 4);
  t.is(parsePacket(pkt, p), 'bad-length');
});

test('port 0 is rejected', (t) => {
  const buf = Buffer.alloc(200);
  const len = buildTcpPacket(buf, A4, B4, 0, 80, seg());
  t.is(parsePacket(buf.subarray(0, len), newParsedPacket()), 'bad-port');
});

test('fuzz: random mutations of valid packets yield a value or a reason, never an exception', (t) => {
  let seed = 12345;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const bases = [tcp4(), tcp4({ flags: SYN, mss: 1460, wscale: 7, sackPermitted: true, payload: Buffer.alloc(0) })];
  const u = Buffer.alloc(200);
  bases.push(u.subarray(0, buildUdpPacket(u, A6, B6, 1, 2, Buffer.from('abc'))));
  const p = newParsedPacket();
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(bases[i % bases.length]!);
    const flips = 1 + rnd(4);
    for (let k = 0; k < flips; k++) b[rnd(b.length)] = rnd(256);
    const cut = rnd(3) === 0 ? b.subarray(0, rnd(b.length + 1)) : b;
    const r = parsePacket(cut, p) ?? 'ok';
    outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
  }
  t.true(outcomes.size > 3, JSON.stringify([...outcomes]));
});

test('destination unreachable codes: host/net/admin for ICMPv4 (RFC 1812 §5.2.7.1) and ICMPv6 (RFC 4443 §3.1)', (t) => {
  const orig4 = Buffer.alloc(100);
  const o4 = orig4.subarray(0, buildUdpPacket(orig4, A4, B4, 1, 2, Buffer.from('x')));
  const orig6 = Buffer.alloc(100);
  const o6 = orig6.subarray(0, buildUdpPacket(orig6, A6, B6, 1, 2, Buffer.from('x')));
  const buf = Buffer.alloc(1500);
  const codes = (['net', 'host', 'port', 'admin'] as const).map((why) => {
    buildDestUnreachable(buf, o4, why);
    const v4 = buf[21];
    buildDestUnreachable(buf, o6, why);
    return [v4, buf[41]];
  });
  t.deepEqual(codes, [
    [0, 0],
    [1, 3],
    [3, 4],
    [13, 1],
  ]);
});

test('SACK option (RFC 2018 §3): blocks are written after NOP NOP and parse back', (t) => {
  const buf = Buffer.alloc(200);
  const len = buildTcpPacket(buf, A4, B4, 1, 2, seg({ payload: Buffer.alloc(0), sack: [0xfffffff0, 0x10, 100, 200] }));
  t.is(len, 20 + 20 + 20);
  t.deepEqual([...buf.subarray(40, 44)], [1, 1, 5, 18]);
  const p = newParsedPacket();
  t.is(parsePacket(buf.subarray(0, len), p), null);
  t.deepEqual(p.tcp.sack, [0xfffffff0, 0x10, 100, 200]);
  const l4 = buf.subarray(20, len);
  t.is(refTransportChecksum(A4, B4, PROTO_TCP, l4, 16), l4.readUInt16BE(16));
});
