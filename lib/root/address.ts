// The TUN's own address: one /32 (and /128) the kernel uses as the source of packets it routes
// into the TUN. It is not in any cluster subnet, so pods never see it: the manager dials for us.
import { createRtNetlink, FlagsNew } from 'netlink';

export async function linkIndex(name: string): Promise<number> {
  const nl = createRtNetlink();
  try {
    const link = (await nl.getLinks()).find((l) => l.attrs.ifname === name);
    if (!link) throw new Error(`network interface ${name} does not exist`);
    return Number(link.data.index);
  } finally {
    nl.socket.close();
  }
}

export async function addAddress(ifindex: number, ipv4: string): Promise<void> {
  const nl = createRtNetlink();
  try {
    await nl.newAddress(
      { family: 2, prefixlen: 32, index: ifindex },
      { local: Buffer.from(ipv4.split('.').map(Number)), address: Buffer.from(ipv4.split('.').map(Number)) },
      { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
    );
  } finally {
    nl.socket.close();
  }
}
