// VNAT at the stack's edge (#16): flows to a virtual address dial the real one; everything the
// stack sends back — SYN-ACK, data, RST, UDP replies, ICMP errors — carries the virtual address
// the kernel used, with checksums right for it (the rig re-parses and verifies every packet).
import test from 'ava';
import { SubnetMap, inPrefix, rebase } from '../../../../lib/proxy/netstack/nat.js';
import { pseudoHeaderPartialOf, pseudoHeaderSum, sum16, verifiesTo } from '../../../../lib/proxy/netstack/wire/checksum.js';
import { ACK, RST, SYN } from '../../../../lib/proxy/netstack/wire/tcp.js';
import { CLIENT4, CLIENT6, rig, settle, tcpPacket, udpPacket } from './stack-harness.js';

const REAL4 = { addr: Buffer.from([10, 96, 0, 0]), bits: 12 };
const VIRTUAL4 = { addr: Buffer.from([100, 64, 0, 0]), bits: 12 };
const REAL6 = { addr: Buffer.from('fd000010009600000000000000000000', 'hex'), bits: 108 };
const VIRTUAL6 = { addr: Buffer.from('fd7470766e6100000000000000000000', 'hex'), bits: 108 };
/** 100.64.0.10: what DNS answered for the Service at 10.96.0.10. */
const V_SVC4 = Buffer.from([100, 64, 0, 10]);
const V_SVC6 = Buffer.from('fd7470766e610000000000000000000a', 'hex');

function vnatRig() {
  const map = new SubnetMap();
  map.add({ real: REAL4, virtual: VIRTUAL4 });
  map.add({ real: REAL6, virtual: VIRTUAL6 });
  return rig({ destinations: map });
}

test('#16 prefixes: membership and rebasing keep the host bits, also across a byte boundary', (t) => {
  t.true(inPrefix(Buffer.from([10, 111, 255, 1]), REAL4));
  t.false(inPrefix(Buffer.from([10, 112, 0, 1]), REAL4));
  t.false(inPrefix(Buffer.from('fd000010009600000000000000000001', 'hex'), REAL4), 'another family is never inside');
  t.deepEqual([...rebase(Buffer.from([10, 111, 255, 1]), VIRTUAL4)], [100, 79, 255, 1]);
  const map = new SubnetMap();
  map.add({ real: REAL4, virtual: VIRTUAL4 });
  const unmapped = Buffer.from([10, 244, 0, 1]);
  t.is(map.toReal(unmapped), unmapped, 'an address in no virtual subnet is dialed as it is');
  t.deepEqual([...map.toReal(Buffer.from([100, 79, 1, 2]))], [10, 111, 1, 2]);
  t.deepEqual([...map.toVirtual(Buffer.from([10, 96, 0, 10]))!], [100, 64, 0, 10]);
  t.throws(() => map.add({ real: REAL4, virtual: { addr: VIRTUAL4.addr, bits: 16 } }), { message: /size/ });
});

test('#16 VNAT TCP: a SYN to a virtual address dials the real one; SYN-ACK and data come from the virtual address', async (t) => {
  const r = vnatRig();
  const send = (s: Parameters<typeof tcpPacket>[4]) => r.stack.input(tcpPacket(CLIENT4, V_SVC4, 40_000, 80, s));
  send({ seq: 100, flags: SYN, mss: 1460 });
  await settle();
  t.deepEqual(
    r.dialer.tcpDials.map((d) => `${d.host}:${d.port}`),
    ['10.96.0.10:80'],
  );
  t.deepEqual(
    r.out.map((o) => [o.src, o.srcPort, o.dst, o.flags]),
    [['100.64.0.10', 80, '10.0.0.2', SYN | ACK]],
  );
  send({ seq: 101, ack: 7001, flags: ACK, data: 'GET /' });
  await settle();
  t.is(r.dialer.tunnels[0]!.text(), 'GET /');
  r.dialer.tunnels[0]!.push('200 OK');
  await settle();
  const data = r.out.find((o) => o.payload.length > 0)!;
  t.is(data.src, '100.64.0.10');
  t.is(data.payload.toString(), '200 OK');
  t.is(r.stack.stats().dialsTranslated, 1);
});

test('#16 VNAT TCP: a refused dial is answered with an RST from the virtual address (the kernel matches it to the socket)', async (t) => {
  const r = vnatRig();
  r.dialer.plan = 'refused';
  r.stack.input(tcpPacket(CLIENT4, V_SVC4, 40_001, 81, { seq: 100, flags: SYN }));
  await settle();
  t.deepEqual(
    r.dialer.tcpDials.map((d) => d.host),
    ['10.96.0.10'],
  );
  t.deepEqual(
    r.out.map((o) => [o.src, o.srcPort, o.dst, o.dstPort, o.flags, o.ack]),
    [['100.64.0.10', 81, '10.0.0.2', 40_001, RST | ACK, 101]],
  );
});

test('#16 VNAT TCP over IPv6: the real address is dialed, replies carry the virtual one', async (t) => {
  const r = vnatRig();
  r.stack.input(tcpPacket(CLIENT6, V_SVC6, 40_002, 80, { seq: 100, flags: SYN }));
  await settle();
  t.deepEqual(
    r.dialer.tcpDials.map((d) => d.host),
    ['fd00:10:96::a'],
  );
  t.is(r.out[0]!.raw.subarray(8, 24).compare(V_SVC6), 0);
});

test('#16 VNAT UDP: datagrams to a virtual address go to the real one; replies come from the virtual address', async (t) => {
  const r = vnatRig();
  r.stack.input(udpPacket(CLIENT4, V_SVC4, 5353, 53, 'query'));
  await settle();
  t.deepEqual(r.dialer.udpDials, [{ host: '10.96.0.10', port: 53 }]);
  r.dialer.udpFlows[0]!.listener!(Buffer.from('answer'));
  await settle();
  t.deepEqual(
    r.out.map((o) => [o.proto, o.src, o.srcPort, o.dst, o.dstPort, o.payload.toString()]),
    [[17, '100.64.0.10', 53, '10.0.0.2', 5353, 'answer']],
  );
});

/** The ICMP message of an error packet, its checksum verified (RFC 792; RFC 4443 §2.3 sums a
 * pseudo-header for ICMPv6). */
function icmpOf(raw: Buffer): Buffer {
  const v4 = raw[0]! >> 4 === 4;
  const icmp = raw.subarray(v4 ? 20 : 40);
  const initial = v4 ? 0 : pseudoHeaderSum(pseudoHeaderPartialOf(raw.subarray(8, 24), raw.subarray(24, 40), 58), icmp.length);
  if (!verifiesTo(sum16(icmp, 0, icmp.length, initial))) throw new Error('bad ICMP checksum');
  return icmp;
}

test('#16 VNAT UDP: a refused dial gets an ICMP port unreachable from the virtual address that quotes the datagram as the kernel sent it (RFC 792, RFC 1122 §4.1.3.3)', async (t) => {
  const r = vnatRig();
  r.dialer.plan = 'refused';
  const sent = udpPacket(CLIENT4, V_SVC4, 5353, 9, 'x');
  r.stack.input(sent);
  await settle();
  t.deepEqual(
    r.dialer.udpDials.map((d) => d.host),
    ['10.96.0.10'],
  );
  const o = r.out[0]!;
  t.is(o.proto, 1);
  t.is(o.src, '100.64.0.10', 'the error comes from the address the datagram went to');
  const icmp = icmpOf(o.raw);
  t.deepEqual([icmp[0], icmp[1]], [3, 3]);
  t.deepEqual(
    icmp.subarray(8, 8 + 28),
    sent.subarray(0, 28),
    'the quote is the original IP header and 8 bytes: virtual destination, its own checksums',
  );
  t.true(verifiesTo(sum16(icmp, 8, 28)), 'the quoted IP header still verifies');
});

test('#16 VNAT UDP over IPv6: the ICMPv6 port unreachable quotes the virtual destination and verifies', async (t) => {
  const r = vnatRig();
  r.dialer.plan = 'refused';
  const sent = udpPacket(CLIENT6, V_SVC6, 5353, 9, 'x');
  r.stack.input(sent);
  await settle();
  t.deepEqual(
    r.dialer.udpDials.map((d) => d.host),
    ['fd00:10:96::a'],
  );
  const o = r.out[0]!;
  t.is(o.proto, 58);
  t.is(o.raw.subarray(8, 24).compare(V_SVC6), 0);
  const icmp = icmpOf(o.raw);
  t.deepEqual([icmp[0], icmp[1]], [1, 4]);
  t.deepEqual(icmp.subarray(8), sent);
});

test('#16 without VNAT entries nothing changes: flows dial the address they were sent to', async (t) => {
  const r = rig({ destinations: new SubnetMap() });
  r.stack.input(tcpPacket(CLIENT4, V_SVC4, 40_003, 80, { seq: 1, flags: SYN }));
  await settle();
  t.deepEqual(
    r.dialer.tcpDials.map((d) => d.host),
    ['100.64.0.10'],
  );
  t.is(r.stack.stats().dialsTranslated, 0);
});
