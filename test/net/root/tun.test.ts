// The TUN device wrapper (lib/root/tun.ts over native/tun) on its own, without the stack: a
// packet round trip with the kernel, the device's life, and each open error a user can meet.
// Everything runs in a fresh namespace; errors that need a weaker process use setpriv (no
// CAP_NET_ADMIN) or a private mount namespace (no /dev/net/tun).

import test from 'ava';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, VNET_F_NEEDS_CSUM, VNET_GSO_NONE } from '../../../lib/proxy/netstack/wire/vnet.js';
import { netns, type Netns } from '../helpers/netns.js';

const CHILD = new URL('./device-child.js', import.meta.url).pathname;

async function device<T>(ns: Netns, args: string[], wrap: string[] = []): Promise<T> {
  const cmd = [...wrap, process.execPath, CHILD, ...args];
  const { stdout } = await ns.run(cmd[0]!, cmd.slice(1), { timeoutMs: 15_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

interface Failure {
  code: string;
  message: string;
  hint?: string;
}

test('raw packets: a kernel UDP datagram is read off the TUN, a written reply reaches the socket', async (t) => {
  const ns = await netns(t);
  const r = await device<{
    pkt: { src: string; dst: string; proto: number; payload: string; dport: number };
    reply: string;
    stats: { packetsRead: number; packetsWritten: number; writeErrors: number; lastWriteErrno: number };
  }>(ns, ['raw']);
  t.like(r.pkt, { src: '10.99.0.1', dst: '10.100.0.7', proto: 17, payload: 'ping?', dport: 5000 });
  t.is(r.reply, 'pong!');
  // The batch carried a 1-byte non-IP packet first: the kernel refused it (EINVAL), the reply
  // behind it still went out.
  t.like(r.stats, { packetsWritten: 1, writeErrors: 1, lastWriteErrno: 22 });
});

test('#14: with offloads the kernel takes checksum and TSO4/6, reads carry its virtio_net_hdr, and a reply behind a plain header reaches the socket', async (t) => {
  const ns = await netns(t);
  const r = await device<{
    pkt: { src: string; dst: string; proto: number; payload: string; dport: number };
    reply: string;
    stats: { packetsWritten: number; writeErrors: number; lastWriteErrno: number };
    vnetHdr: boolean;
    offloads: number;
    vnet: { flags: number; gsoType: number; csumStart: number; csumOffset: number };
  }>(ns, ['raw-offload']);
  t.true(r.vnetHdr);
  const wanted = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  t.is(r.offloads & wanted, wanted);
  t.like(r.pkt, { src: '10.99.0.1', dst: '10.100.0.7', proto: 17, payload: 'ping?', dport: 5000 });
  t.is(r.vnet.gsoType, VNET_GSO_NONE);
  // The kernel leaves a local datagram's checksum partial for a device that offloads it: it
  // starts at the UDP header (20 bytes in) and goes 6 bytes into it.
  if ((r.vnet.flags & VNET_F_NEEDS_CSUM) !== 0) t.like(r.vnet, { csumStart: 20, csumOffset: 6 });
  t.is(r.reply, 'pong!');
  // A 1-byte write is shorter than the header: refused (EINVAL), the reply behind it still went.
  t.like(r.stats, { packetsWritten: 1, writeErrors: 1, lastWriteErrno: 22 });
});

test('the device exists while open, with its MTU and up, and disappears on close; tp%d is named by the kernel', async (t) => {
  const ns = await netns(t);
  const r = await device<{ name: string; mtu: number; up: boolean; before: boolean; after: boolean }>(ns, ['lifecycle']);
  t.deepEqual(r, { name: 'tp0', mtu: 65535, up: true, before: true, after: false });
});

test('a link deleted under an open Tun stops reading with E_TUN_IO', async (t) => {
  const ns = await netns(t);
  const r = await device<Failure>(ns, ['deleted']);
  t.is(r.code, 'E_TUN_IO');
  t.regex(r.message, /reading TUN device tp0 failed: EBADFD?/);
});

test('a second open of the same name fails with E_TUN_NAME_IN_USE', async (t) => {
  const ns = await netns(t);
  const r = await device<Failure>(ns, ['open-twice', 'tp0']);
  t.is(r.code, 'E_TUN_NAME_IN_USE');
  t.regex(r.message, /tp0: another process has it open/);
});

test('a name held by a non-TUN link fails with E_TUN_NAME_IN_USE', async (t) => {
  const ns = await netns(t);
  const r = await device<Failure>(ns, ['open', 'lo']);
  t.is(r.code, 'E_TUN_NAME_IN_USE');
  t.regex(r.message, /another kind/);
});

test('without CAP_NET_ADMIN the open fails with E_TUN_PERMISSION and a hint', async (t) => {
  const ns = await netns(t);
  const r = await device<Failure>(ns, ['open', 'tp0'], ['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin']);
  t.is(r.code, 'E_TUN_PERMISSION');
  t.regex(r.message, /CAP_NET_ADMIN/);
  t.truthy(r.hint);
});

test('without /dev/net/tun the open fails with E_TUN_NO_DEVICE and a hint', async (t) => {
  const ns = await netns(t);
  // A private mount namespace with an empty /dev/net: the host's /dev is untouched.
  const hide = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/net && exec "$@"', 'sh'];
  const r = await device<Failure>(ns, ['open', 'tp0'], hide);
  t.is(r.code, 'E_TUN_NO_DEVICE');
  t.regex(r.hint ?? '', /modprobe tun/);
});
