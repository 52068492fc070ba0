// The VIF data path of the root daemon: packets from the TUN into the userspace stack, and the
// stack's output back to the TUN. Kept apart from tun.ts so the device wrapper has no opinion
// about what consumes its packets.

import { NetStack, type NetStackOptions } from '../proxy/netstack/index.js';
import type { Tun } from './tun.js';

/** Runs a NetStack on `tun`: each read burst is one inputBatch (ACKs coalesce, one flush per
 * burst) and each flush is one batched write. The stack's MTU and offload mode are the device's. */
export function attachStack(tun: Tun, opts: Omit<NetStackOptions, 'output' | 'mtu' | 'vnetHdr'>): NetStack {
  const stack = new NetStack({ ...opts, mtu: tun.mtu, vnetHdr: tun.vnetHdr, output: (packets) => tun.write(packets) });
  // Large payloads travel on as views of the TUN's read slab (Tun lends them), not copies.
  tun.onPackets((packets, lend) => stack.inputBatch(packets, lend));
  return stack;
}
