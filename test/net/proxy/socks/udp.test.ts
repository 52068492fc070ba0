// SOCKS5 UDP ASSOCIATE with a hand-built client: a DNS-shaped query to a name the cluster
// resolves, answered by a local UDP echo server, comes back wrapped in the RFC 1928 §7 header.

import test from 'ava';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { buildUdpHeader, parseUdpHeader } from '../../../../lib/proxy/socks/socks5.js';
import { readExactly, startProxy, startUdpEcho, TestDialer } from './harness.js';

const echo = await startUdpEcho();
const dialer = new TestDialer((host) =>
  host === 'kube-dns.kube-system' || host === '127.0.0.1' ? { host: '127.0.0.1', port: echo.port } : 'nxdomain',
);
const { proxy, port } = await startProxy({ dialer });
test.after.always(async () => {
  await proxy.stop();
  echo.sock.close();
});

/** Opens the control connection and asks for an association; resolves with the relay address. */
async function associate(): Promise<{ control: Socket; relay: { host: string; port: number } }> {
  const control = connect({ host: '127.0.0.1', port });
  await once(control, 'connect');
  control.write(Buffer.from([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0])); // greeting + UDP ASSOCIATE 0.0.0.0:0
  t0(await readExactly(control, 2), [5, 0]);
  const reply = await readExactly(control, 10);
  if (reply[1] !== 0 || reply[3] !== 1) throw new Error(`associate failed: ${reply.toString('hex')}`);
  return { control, relay: { host: `${reply[4]}.${reply[5]}.${reply[6]}.${reply[7]}`, port: reply.readUInt16BE(8) } };
}
function t0(got: Buffer, want: number[]) {
  if (!got.equals(Buffer.from(want))) throw new Error(`got ${got.toString('hex')}`);
}

function nextDatagram(sock: DgramSocket, ms = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => (sock.off('message', on), resolve(null)), ms);
    const on = (m: Buffer) => (clearTimeout(t), resolve(m));
    sock.once('message', on);
  });
}

/** A DNS query for kube-dns.kube-system A, as a resolver would send it. */
const dnsQuery = Buffer.from('abcd01000001000000000000086b7562652d646e730b6b7562652d73797374656d0000010001', 'hex');

test('UDP ASSOCIATE: a DNS-like query by name reaches the echo server and the reply names its source', async (t) => {
  const { control, relay } = await associate();
  t.is(relay.host, '127.0.0.1');
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  client.send(Buffer.concat([buildUdpHeader('kube-dns.kube-system', 53), dnsQuery]), relay.port, relay.host);
  const reply = await nextDatagram(client);
  t.truthy(reply);
  const h = parseUdpHeader(reply!);
  t.like(h, { status: 'ok', value: { frag: 0, host: 'kube-dns.kube-system', port: 53 } });
  if (h.status === 'ok') t.deepEqual(reply!.subarray(h.value.dataOffset), Buffer.concat([Buffer.from('echo:'), dnsQuery]));
  t.true(dialer.calls.some((c) => c.kind === 'udp' && c.host === 'kube-dns.kube-system' && c.port === 53));

  // A second datagram reuses the flow.
  const flowsBefore = dialer.calls.filter((c) => c.kind === 'udp').length;
  client.send(Buffer.concat([buildUdpHeader('kube-dns.kube-system', 53), Buffer.from('again')]), relay.port, relay.host);
  const again = await nextDatagram(client);
  t.true(again?.toString('latin1').endsWith('echo:again'));
  t.is(dialer.calls.filter((c) => c.kind === 'udp').length, flowsBefore);

  // Closing the control connection ends the association.
  const before = proxy.stats.udpAssociationsActive;
  control.destroy();
  const deadline = Date.now() + 2000;
  while (proxy.stats.udpAssociationsActive >= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.is(proxy.stats.udpAssociationsActive, before - 1);
  client.send(Buffer.concat([buildUdpHeader('kube-dns.kube-system', 53), Buffer.from('late')]), relay.port, relay.host);
  t.is(await nextDatagram(client, 300), null);
  client.close();
});

test('UDP ASSOCIATE: fragments, bad headers and unresolvable names are dropped; the association survives', async (t) => {
  const { control, relay } = await associate();
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  const dropped0 = proxy.stats.udpDatagramsDropped;
  const frag = buildUdpHeader('127.0.0.1', 53);
  frag[2] = 1;
  client.send(Buffer.concat([frag, Buffer.from('fragment')]), relay.port, relay.host);
  client.send(Buffer.from([0, 0, 0, 9, 1, 2]), relay.port, relay.host); // unknown ATYP
  client.send(Buffer.from([0, 0]), relay.port, relay.host); // truncated
  client.send(Buffer.concat([buildUdpHeader('nowhere.default', 53), Buffer.from('x')]), relay.port, relay.host);
  t.is(await nextDatagram(client, 300), null);
  t.true(proxy.stats.udpDatagramsDropped - dropped0 >= 3);
  // By IP, the relay still works.
  client.send(Buffer.concat([buildUdpHeader('127.0.0.1', 53), Buffer.from('ok')]), relay.port, relay.host);
  const reply = await nextDatagram(client);
  t.true(reply?.toString('latin1').endsWith('echo:ok'));
  const h = parseUdpHeader(reply!);
  t.like(h, { status: 'ok', value: { host: '127.0.0.1', port: 53 } });
  client.close();
  control.destroy();
});

test('UDP ASSOCIATE: datagrams from another port than the first one are ignored', async (t) => {
  const { control, relay } = await associate();
  const a = createSocket('udp4');
  const b = createSocket('udp4');
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', r));
  a.send(Buffer.concat([buildUdpHeader('127.0.0.1', 53), Buffer.from('first')]), relay.port, relay.host);
  t.truthy(await nextDatagram(a));
  b.send(Buffer.concat([buildUdpHeader('127.0.0.1', 53), Buffer.from('intruder')]), relay.port, relay.host);
  t.is(await nextDatagram(b, 300), null);
  a.close();
  b.close();
  control.destroy();
});
