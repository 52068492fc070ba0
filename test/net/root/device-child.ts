// Device-level checks of Tun, run inside a test namespace (possibly under setpriv/unshare) by
// tun.test.ts. Prints one JSON line on stdout and exits. argv[2] is the scenario:
//   open NAME          → { name, fd } of a successful open, or { code, message, hint }
//   open-twice NAME    → the second open's error
//   lifecycle          → whether the device exists before and after close(), and 'tp%d' naming
//   deleted            → the error reported when the link is deleted under an open Tun
//   raw                → a UDP datagram from a kernel socket read off the TUN, and a reply
//                        written to the TUN that the socket receives: the addon without the stack

import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { VNET_HDR_LEN, newVnetHeader, readVnetHeader, type VnetHeader } from '../../../lib/proxy/netstack/wire/vnet.js';
import { Tun, TunError } from '../../../lib/root/tun.js';

const out = (v: unknown) => process.stdout.write(JSON.stringify(v) + '\n');
const asResult = (err: unknown) =>
  err instanceof TunError ? { code: err.code, message: err.message, hint: err.hint } : { code: 'UNEXPECTED', message: String(err) };
const linkExists = (name: string) => {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** The IPv4 header checksum (RFC 791): written in place. UDP over IPv4 may carry checksum 0. */
function ipChecksum(ip: Buffer): void {
  ip.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
}

/** A UDP round trip with the kernel. With `offload`, every packet read starts with the
 * kernel's virtio_net_hdr (reported as `vnet`) and the reply goes out behind a plain one. */
async function raw(offload: boolean): Promise<unknown> {
  const tun = Tun.open('tp0', { mtu: 1500, offload });
  const skip = offload ? VNET_HDR_LEN : 0;
  let vnet: VnetHeader | undefined;
  execFileSync('ip', ['addr', 'add', '10.99.0.1/32', 'dev', 'tp0']);
  execFileSync('ip', ['route', 'add', '10.100.0.0/24', 'dev', 'tp0']);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '10.99.0.1', r));
  const seen = new Promise<{ src: string; dst: string; proto: number; payload: string; sport: number; dport: number }>((resolve) => {
    tun.onPackets((packets) => {
      for (const whole of packets) {
        const p = whole.subarray(skip);
        if (p[0]! >> 4 !== 4 || p[9] !== 17) continue; // IPv6 router solicitations and such
        if (offload) {
          vnet = newVnetHeader();
          readVnetHeader(whole, vnet);
        }
        const hl = (p[0]! & 15) * 4;
        const got = {
          src: [...p.subarray(12, 16)].join('.'),
          dst: [...p.subarray(16, 20)].join('.'),
          proto: p[9]!,
          sport: p.readUInt16BE(hl),
          dport: p.readUInt16BE(hl + 2),
          payload: p.subarray(hl + 8).toString(),
        };
        // Answer in one batch with a packet the kernel rejects first: a write error must drop
        // that packet only.
        const reply = Buffer.alloc(20 + 8 + 5);
        p.copy(reply, 0, 0, 20);
        reply[0] = 0x45;
        reply.writeUInt16BE(reply.length, 2);
        p.copy(reply, 12, 16, 20); // src ← old dst
        p.copy(reply, 16, 12, 16); // dst ← old src
        ipChecksum(reply);
        reply.writeUInt16BE(got.dport, 20);
        reply.writeUInt16BE(got.sport, 22);
        reply.writeUInt16BE(8 + 5, 24);
        reply.writeUInt16BE(0, 26);
        reply.write('pong!', 28);
        tun.write(offload ? [Buffer.from([0x00]), [Buffer.alloc(VNET_HDR_LEN), reply]] : [Buffer.from([0x00]), reply]);
        resolve(got);
      }
    });
  });
  const answer = new Promise<string>((resolve) => sock.once('message', (m) => resolve(m.toString())));
  sock.send('ping?', 5000, '10.100.0.7');
  const [pkt, reply] = await Promise.all([seen, answer]);
  const stats = tun.stats();
  sock.close();
  tun.close();
  return { pkt, reply, stats, vnetHdr: tun.vnetHdr, offloads: tun.offloads, vnet };
}

async function main(): Promise<unknown> {
  const [scenario, name = 'tp0'] = process.argv.slice(2);
  switch (scenario) {
    case 'open':
      try {
        const tun = Tun.open(name, { mtu: 9000 });
        tun.close();
        return { name: tun.name, fd: tun.fd };
      } catch (err) {
        return asResult(err);
      }
    case 'open-twice': {
      const first = Tun.open(name);
      try {
        Tun.open(name);
        return { code: 'OPENED TWICE' };
      } catch (err) {
        return asResult(err);
      } finally {
        first.close();
      }
    }
    case 'lifecycle': {
      const tun = Tun.open('tp%d', { mtu: 65535 });
      const mtu = /mtu (\d+)/.exec(execFileSync('ip', ['link', 'show', 'dev', tun.name], { encoding: 'utf8' }))?.[1];
      const up = /[<,]UP[,>]/.test(execFileSync('ip', ['link', 'show', 'dev', tun.name], { encoding: 'utf8' }));
      const before = linkExists(tun.name);
      tun.close();
      tun.close(); // idempotent
      return { name: tun.name, mtu: Number(mtu), up, before, after: linkExists(tun.name) };
    }
    case 'raw':
      return raw(false);
    case 'raw-offload':
      return raw(true);
    case 'deleted': {
      // Someone deletes the link under the daemon: reading must stop with an error, not spin.
      const tun = Tun.open('tp0');
      const err = new Promise<TunError>((resolve) => tun.onError(resolve));
      execFileSync('ip', ['link', 'del', 'tp0']);
      const timeout = new Promise<null>((r) => setTimeout(() => r(null), 3000));
      const e = await Promise.race([err, timeout]);
      tun.close();
      return e ? { code: e.code, message: e.message } : { code: 'NO ERROR' };
    }
  }
  throw new Error(`unknown scenario ${scenario}`);
}

main().then(
  (v) => {
    out(v);
    process.exit(0);
  },
  (err: Error) => {
    out({ code: 'CRASH', message: err.stack });
    process.exit(1);
  },
);
