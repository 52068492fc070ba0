// Virtual subnets (VNAT) at the stack's edge. When a cluster subnet overlaps a route of the
// workstation, the root daemon routes a free subnet of the same size into the TUN instead and
// hands the stack this map: the workstation's kernel addresses the virtual address, and only the
// dial of a flow uses the real one. Everything the stack sends back is built from the flow's
// endpoints as the kernel sent them (flows.ts), so replies, RSTs and the packets ICMP errors quote
// carry the virtual addresses with checksums computed for them — no packet is rewritten, and the
// translation costs one prefix comparison per new flow, none per packet.

/** A subnet as bytes: `addr` is 4 or 16 bytes with its host bits zero. */
export interface Prefix {
  addr: Uint8Array;
  bits: number;
}

export interface SubnetMapping {
  real: Prefix;
  virtual: Prefix;
}

/** What the stack asks of a VNAT map: the address to dial for a destination the workstation
 * addressed (the same bytes when it lies in no virtual subnet). */
export interface DestinationMap {
  toReal(dst: Uint8Array): Uint8Array;
}

/** Whether `a` lies in `p` (same family, the first `p.bits` bits equal). */
export function inPrefix(a: Uint8Array, p: Prefix): boolean {
  if (a.length !== p.addr.length) return false;
  const whole = p.bits >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== p.addr[i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (p.addr[whole]! & mask);
}

/** `a` (inside a subnet of `to.bits`) moved into `to`: the network bits of `to`, the host bits
 * of `a`. A new buffer; `a` is left as it is (it may be a view into a packet). */
export function rebase(a: Uint8Array, to: Prefix): Buffer {
  const out = Buffer.from(a);
  const whole = to.bits >>> 3;
  for (let i = 0; i < whole; i++) out[i] = to.addr[i]!;
  const rest = to.bits & 7;
  if (rest !== 0) {
    const mask = (0xff << (8 - rest)) & 0xff;
    out[whole] = (to.addr[whole]! & mask) | (a[whole]! & ~mask & 0xff);
  }
  return out;
}

/** Real ↔ virtual subnets, one to one and of equal size. Mutable: the cluster's subnets change
 * while connected, and flows in flight keep the addresses they dialed. */
export class SubnetMap implements DestinationMap {
  #entries: SubnetMapping[] = [];

  get size(): number {
    return this.#entries.length;
  }

  entries(): readonly SubnetMapping[] {
    return this.#entries;
  }

  add(m: SubnetMapping): void {
    if (m.real.addr.length !== m.virtual.addr.length || m.real.bits !== m.virtual.bits) {
      throw new Error('a virtual subnet must be of the family and size of its real subnet');
    }
    this.#entries.push({
      real: { addr: Buffer.from(m.real.addr), bits: m.real.bits },
      virtual: { addr: Buffer.from(m.virtual.addr), bits: m.virtual.bits },
    });
  }

  /** Drops the mapping whose virtual subnet is `virtual`; returns whether there was one. */
  removeVirtual(virtual: Prefix): boolean {
    const i = this.#entries.findIndex((e) => e.virtual.bits === virtual.bits && inPrefix(virtual.addr, e.virtual));
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    return true;
  }

  toReal(dst: Uint8Array): Uint8Array {
    for (const e of this.#entries) if (inPrefix(dst, e.virtual)) return rebase(dst, e.real);
    return dst;
  }

  /** The virtual address of a real one, or undefined when `real` lies in no mapped subnet. */
  toVirtual(real: Uint8Array): Buffer | undefined {
    for (const e of this.#entries) if (inPrefix(real, e.real)) return rebase(real, e.virtual);
    return undefined;
  }
}
