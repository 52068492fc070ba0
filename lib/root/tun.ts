// The root daemon's TUN device: a typed wrapper over our addon (native/tun/src/tp_tun.c).
//
//   const tun = Tun.open('tp0', { mtu: 65535 });          // device up, MTU set
//   const stack = new NetStack({ dialer, mtu: tun.mtu, output: (p) => tun.write(p) });
//   tun.onPackets((p) => stack.inputBatch(p));             // see vif.ts: attachStack()
//   …
//   tun.close();                                           // the device disappears with the fd
//
// Reading: the addon watches the fd with a uv_poll on Node's loop — no thread, no timer, so an
// idle device costs no CPU — and reads a burst of packets per wake-up into one slab that this
// object owns. The Buffers handed to onPackets are views into that slab: valid only during the
// call, unless lent: lend(view) pins the slab until the returned release() is called (the
// netstack writes a large payload to its tunnel stream as is and releases it in the write's
// callback), and the next burst goes into another slab. A bounded number of slabs may be lent;
// past it lend() says no and the caller copies, as it would without lending.
// Writing: write() is synchronous (one write(2) per packet, or one writev(2) for a packet given in
// pieces: headers, then the payload where it lies). A TUN write does not block in practice; if
// the kernel ever says EAGAIN, the rest of the batch is copied into a bounded queue and written
// when the fd is writable again. Beyond the bound packets are dropped and counted —
// TCP retransmits, UDP may lose; an unbounded queue would only hide the stall (DESIGN.md §9).
// Offloads (`offload: true`, the default): IFF_VNET_HDR + TUNSETOFFLOAD, so every packet read and
// written starts with a virtio_net_hdr (lib/proxy/netstack/wire/vnet.ts) and the stack on top must
// be told (attachStack does: `vnetHdr: tun.vnetHdr`). The kernel then hands over TCP segments of up
// to 64 KiB with partial checksums and takes the same back, whatever the MTU.
// Addresses and routes are not set here (lib/root/routes, netlink).

import { constants } from 'node:os';
import { copyPacket, type OutPacket } from '../proxy/netstack/index.js';
import { VNET_HDR_LEN } from '../proxy/netstack/wire/vnet.js';
import { loadTunAddon } from './tun-addon.js';
import { TpError } from '../common/errors.js';

/** The native module's surface (native/tun/src/tp_tun.c documents each call). */
export interface TunAddon {
  open(name: string, offload: boolean): { fd: number; name: string; offloads: number };
  setMtu(name: string, mtu: number): void;
  setUp(name: string, up: boolean): void;
  setTxQueueLen(name: string, n: number): void;
  close(fd: number): void;
  write(fd: number, packets: readonly OutPacket[], start: number, counters: Float64Array): number;
  poll(fd: number, slab: Buffer, lengths: Uint32Array, maxPacket: number, onRead: (n: number) => void, onWritable: () => void): PollHandle;
  pollSet(h: PollHandle, readable: boolean, writable: boolean): void;
  pollRef(h: PollHandle, ref: boolean): void;
  pollSetSlab(h: PollHandle, slab: Buffer): void;
  pollClose(h: PollHandle): void;
}
declare const pollHandle: unique symbol;
export type PollHandle = { readonly [pollHandle]: true };

export type TunErrorCode =
  | 'E_TUN_ADDON' //        no prebuilt addon for this platform, or it does not load
  | 'E_TUN_UNSUPPORTED' //  not Linux
  | 'E_TUN_NO_DEVICE' //    no /dev/net/tun (module not loaded, container without the device)
  | 'E_TUN_PERMISSION' //   no CAP_NET_ADMIN / no access to /dev/net/tun
  | 'E_TUN_NAME_IN_USE' //  another process holds the TUN, or a non-TUN link has the name
  | 'E_TUN_CONFIG' //       MTU or link state could not be set
  | 'E_TUN_IO'; //          the fd failed while running

export class TunError extends TpError {
  declare readonly code: TunErrorCode;
  constructor(
    code: TunErrorCode,
    message: string,
    readonly opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, opts);
    this.name = 'TunError';
  }
}

export interface TunOptions {
  /** Link MTU, 576..65535. Large is fast: the kernel hands the stack 64 KiB segments. */
  mtu?: number;
  /** Packets the kernel queues for us before it drops (default 4096; Linux's default of 500
   * drops the SYNs of a burst of new connections, which then wait 1 s for their retry). */
  txQueueLen?: number;
  /** Bring the link up after opening (default true). */
  up?: boolean;
  /** Most packets read per wake-up (default 256). */
  burst?: number;
  /** Packets held while the kernel refuses writes (EAGAIN); beyond, dropped (default 4096). */
  writeQueue?: number;
  /** IFF_VNET_HDR with checksum and segmentation offloads (default true; see the file head). */
  offload?: boolean;
}

export interface TunStats {
  packetsRead: number;
  bytesRead: number;
  /** Wake-ups that read at least one packet: packetsRead / readBursts is the batch size. */
  readBursts: number;
  /** Payloads handed on as views of a read slab instead of copies (lend()). */
  viewsLent: number;
  /** Largest packet read and written, virtio_net_hdr included: beyond the MTU only as
   * segmentation-offload super-packets (TSO/USO). */
  largestRead: number;
  largestWritten: number;
  packetsWritten: number;
  bytesWritten: number;
  /** Packets the kernel rejected (bad header, link down); lastWriteErrno says why. */
  writeErrors: number;
  lastWriteErrno: number;
  /** Times a write met EAGAIN and the rest of its batch was queued. */
  writeStalls: number;
  /** Packets dropped because the write queue was full. */
  writeDropped: number;
  writeQueued: number;
}

/** Largest IPv4/IPv6 packet a TUN hands us (an IPv6 payload length counts no header), behind the
 * virtio_net_hdr when there is one: the read size. */
const MAX_PACKET = 40 + 65535;
const SLAB_BYTES = 1 << 20;
/** Slabs lent at once (each pinned until every view lent from it was released). */
const MAX_LENT_SLABS = 16;
/** Free slabs kept for reuse; more go to the GC. */
const MAX_FREE_SLABS = 4;

/** Pins the slab a view lies in until the returned function is called; undefined: copy it. */
export type Lender = (view: Buffer) => (() => void) | undefined;

interface Slab {
  buf: Buffer;
  /** Views lent and not yet released. */
  lent: number;
}

let addon: TunAddon | undefined;

/** The addon, found the way node-gyp-build finds prebuilt ones (tun-addon.ts). */
function loadAddon(): TunAddon {
  if (addon) return addon;
  const found = loadTunAddon();
  if (!found.ok) throw new TunError('E_TUN_ADDON', found.reason, { hint: found.hint, cause: found.cause });
  addon = found.module as TunAddon;
  return addon;
}

const errnoName = (n: number): string => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

/** Test seam: replaces the native module (undefined: load the real one again). Lets tests reach
 * paths a real TUN never takes, such as a write meeting EAGAIN. */
export function setTunAddonForTests(a: TunAddon | undefined): void {
  addon = a;
}

interface SysError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

/** errno of open/TUNSETIFF/ioctl → what the user can do about it. */
function openError(name: string, err: SysError): TunError {
  const o = { cause: err };
  switch (err.code) {
    case 'ENOSYS':
      return new TunError('E_TUN_UNSUPPORTED', `TUN devices are supported only on Linux (${process.platform})`, {
        ...o,
        hint: 'use `tp connect --socks` on this machine',
      });
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new TunError('E_TUN_NO_DEVICE', `cannot create TUN device ${name}: /dev/net/tun is missing (${err.code})`, {
        ...o,
        hint: 'load the kernel module with `modprobe tun`; in a container, pass the device (`--device /dev/net/tun`)',
      });
    case 'EPERM':
    case 'EACCES':
      return new TunError('E_TUN_PERMISSION', `cannot create TUN device ${name}: ${err.code} — it needs root (CAP_NET_ADMIN)`, {
        ...o,
        hint: 'run the root daemon as root (`tp connect` starts it with sudo), or use `tp connect --socks`',
      });
    case 'EBUSY':
      return new TunError('E_TUN_NAME_IN_USE', `cannot create TUN device ${name}: another process has it open`, {
        ...o,
        hint: 'quit the other tp (`tp quit -s`) or choose another device name',
      });
    case 'EINVAL':
    case 'EEXIST':
      if (err.syscall === 'ioctl')
        return new TunError('E_TUN_NAME_IN_USE', `cannot create TUN device ${name}: a network interface of another kind has that name`, {
          ...o,
          hint: 'choose another device name (`ip link show` lists the existing ones)',
        });
  }
  return new TunError('E_TUN_IO', `cannot create TUN device ${name}: ${err.message}`, o);
}

export class Tun {
  readonly name: string;
  readonly fd: number;
  readonly mtu: number;
  /** Packets read and written start with a virtio_net_hdr (TunOptions.offload). */
  readonly vnetHdr: boolean;
  /** TUN_F_* offloads the kernel took (0 without offload). */
  readonly offloads: number;
  readonly #addon: TunAddon;
  #slab: Slab;
  readonly #freeSlabs: Slab[] = [];
  #slabsLent = 0;
  readonly #readSize: number;
  readonly #lend: Lender = (view) => this.#lendView(view);
  readonly #lengths: Uint32Array;
  readonly #views: Buffer[] = [];
  readonly #counters = new Float64Array(2); // [write errors, last errno], updated by the addon
  readonly #queue: OutPacket[] = [];
  readonly #queueMax: number;
  readonly #poll: PollHandle;
  #onPackets: (packets: Buffer[], lend: Lender) => void = () => {};
  #onError: (err: TunError) => void = (err) => {
    throw err;
  };
  #reading = true;
  #closed = false;
  #s = {
    packetsRead: 0,
    bytesRead: 0,
    readBursts: 0,
    viewsLent: 0,
    largestRead: 0,
    packetsWritten: 0,
    bytesWritten: 0,
    largestWritten: 0,
    writeStalls: 0,
    writeDropped: 0,
  };

  /** Creates (or attaches to a persistent) TUN device `name`, sets its MTU and brings it up.
   * Throws TunError. The device lives as long as this object (until close()). */
  static open(name: string, opts: TunOptions = {}): Tun {
    const a = loadAddon();
    const mtu = opts.mtu ?? 65535;
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new RangeError(`TUN MTU ${mtu} is outside 576..65535`);
    let dev: { fd: number; name: string; offloads: number };
    try {
      dev = a.open(name, opts.offload ?? true);
    } catch (err) {
      if (err instanceof TypeError) throw err;
      throw openError(name, err as SysError);
    }
    try {
      a.setMtu(dev.name, mtu);
      a.setTxQueueLen(dev.name, opts.txQueueLen ?? 4096);
      if (opts.up ?? true) a.setUp(dev.name, true);
    } catch (err) {
      a.close(dev.fd);
      const e = err as SysError;
      if (e.code === 'EPERM' || e.code === 'EACCES') throw openError(dev.name, e);
      throw new TunError('E_TUN_CONFIG', `cannot configure TUN device ${dev.name} (MTU ${mtu}): ${e.message}`, { cause: err });
    }
    return new Tun(a, dev, mtu, opts);
  }

  private constructor(a: TunAddon, dev: { fd: number; name: string; offloads: number }, mtu: number, opts: TunOptions) {
    this.#addon = a;
    this.fd = dev.fd;
    this.name = dev.name;
    this.mtu = mtu;
    this.vnetHdr = opts.offload ?? true;
    this.offloads = dev.offloads;
    const fd = dev.fd;
    this.#queueMax = opts.writeQueue ?? 4096;
    const burst = Math.max(1, opts.burst ?? 256);
    this.#lengths = new Uint32Array(burst);
    // Each read asks for a whole IP packet of the largest size, whatever the MTU is now: `ip link
    // set mtu` may raise it under us, and a short read would truncate silently. The slab holds a
    // burst of those; small packets pack densely, so a burst of ACKs is still `burst` long.
    const readSize = MAX_PACKET + (this.vnetHdr ? VNET_HDR_LEN : 0);
    this.#readSize = readSize;
    this.#slab = this.#newSlab();
    this.#poll = a.poll(
      fd,
      this.#slab.buf,
      this.#lengths,
      readSize,
      (n) => this.#read(n),
      () => this.#writable(),
    );
  }

  /** Receives every burst of packets read from the device (each behind its virtio_net_hdr when
   * vnetHdr). The Buffers are views into a slab that is reused after the callback returns: copy
   * what you keep, or lend() it (see the file head). */
  onPackets(cb: (packets: Buffer[], lend: Lender) => void): void {
    this.#onPackets = cb;
  }

  /** Receives a fatal I/O error of the device (reading has stopped). Without a handler, it
   * is thrown from the event loop. */
  onError(cb: (err: TunError) => void): void {
    this.#onError = cb;
  }

  /** Writes a batch synchronously; never throws for a single packet (see TunStats). Each packet
   * starts with a virtio_net_hdr when vnetHdr. The Buffers may be reused as soon as this returns. */
  write(packets: readonly OutPacket[]): void {
    if (this.#closed || packets.length === 0) return;
    if (this.#queue.length > 0) {
      this.#enqueue(packets, 0);
      return;
    }
    const done = this.#writeFrom(packets, 0);
    if (done < packets.length) {
      this.#s.writeStalls++;
      this.#enqueue(packets, done);
      this.#addon.pollSet(this.#poll, this.#reading, true);
    }
  }

  /** Stops reading (the kernel queues, then drops, packets for the device) until resume(). */
  pause(): void {
    this.#setReading(false);
  }

  resume(): void {
    this.#setReading(true);
  }

  /** Whether the open device keeps the process alive (it does by default, like a server). */
  ref(): void {
    if (!this.#closed) this.#addon.pollRef(this.#poll, true);
  }

  unref(): void {
    if (!this.#closed) this.#addon.pollRef(this.#poll, false);
  }

  stats(): TunStats {
    return { ...this.#s, writeErrors: this.#counters[0]!, lastWriteErrno: this.#counters[1]!, writeQueued: this.#queue.length };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops reading and closes the fd; a non-persistent device disappears with its routes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.pollClose(this.#poll); // before close(fd): the fd number may be reused at once
    this.#addon.close(this.fd);
    this.#queue.length = 0;
  }

  #read(n: number): void {
    if (n < 0) {
      const errno = -n;
      this.#reading = false;
      if (!this.#closed)
        this.#onError(
          new TunError('E_TUN_IO', `reading TUN device ${this.name} failed: ${errnoName(errno)}`, {
            hint: 'the device was deleted under the daemon (`ip link del`?); reconnect',
          }),
        );
      return;
    }
    const views = this.#views;
    views.length = n;
    let off = 0;
    let bytes = 0;
    let largest = this.#s.largestRead;
    const slab = this.#slab;
    for (let i = 0; i < n; i++) {
      const len = this.#lengths[i]!;
      views[i] = slab.buf.subarray(off, off + len);
      off += len;
      bytes += len;
      if (len > largest) largest = len;
    }
    this.#s.largestRead = largest;
    this.#s.readBursts++;
    this.#s.packetsRead += n;
    this.#s.bytesRead += bytes;
    this.#onPackets(views, this.#lend);
    // Views of this burst were lent: the next one goes into another slab.
    if (slab.lent > 0 && !this.#closed && this.#slab === slab) {
      this.#slabsLent++;
      this.#slab = this.#freeSlabs.pop() ?? this.#newSlab();
      this.#addon.pollSetSlab(this.#poll, this.#slab.buf);
    }
  }

  #newSlab(): Slab {
    return { buf: Buffer.allocUnsafeSlow(SLAB_BYTES + this.#readSize), lent: 0 };
  }

  #lendView(view: Buffer): (() => void) | undefined {
    const slab = this.#slab;
    if (view.buffer !== slab.buf.buffer || this.#slabsLent >= MAX_LENT_SLABS) return undefined;
    slab.lent++;
    this.#s.viewsLent++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--slab.lent > 0 || slab === this.#slab) return;
      this.#slabsLent--;
      if (this.#freeSlabs.length < MAX_FREE_SLABS) this.#freeSlabs.push(slab);
    };
  }

  #writeFrom(packets: readonly OutPacket[], start: number): number {
    let done: number;
    const errorsBefore = this.#counters[0]!;
    try {
      done = this.#addon.write(this.fd, packets, start, this.#counters);
    } catch (err) {
      this.#fail(err as SysError);
      return packets.length;
    }
    const ok = done - start - (this.#counters[0]! - errorsBefore);
    this.#s.packetsWritten += ok;
    for (let i = start; i < done; i++) {
      const len = packetLength(packets[i]!);
      this.#s.bytesWritten += len;
      if (len > this.#s.largestWritten) this.#s.largestWritten = len;
    }
    return done;
  }

  #enqueue(packets: readonly OutPacket[], from: number): void {
    for (let i = from; i < packets.length; i++) {
      if (this.#queue.length >= this.#queueMax) {
        this.#s.writeDropped += packets.length - i;
        return;
      }
      this.#queue.push(copyPacket(packets[i]!)); // the caller's buffers are pooled
    }
  }

  #writable(): void {
    if (this.#closed || this.#queue.length === 0) return;
    const done = this.#writeFrom(this.#queue, 0);
    this.#queue.splice(0, done);
    if (this.#queue.length > 0 && !this.#closed) {
      this.#s.writeStalls++;
      this.#addon.pollSet(this.#poll, this.#reading, true);
    }
  }

  #setReading(on: boolean): void {
    if (this.#closed || this.#reading === on) return;
    this.#reading = on;
    this.#addon.pollSet(this.#poll, on, this.#queue.length > 0);
  }

  #fail(err: SysError): void {
    const e = new TunError('E_TUN_IO', `writing TUN device ${this.name} failed: ${err.message}`, {
      cause: err,
      hint: 'the device was removed; reconnect',
    });
    this.close();
    // Not from inside write(): its caller (the netstack's output) would swallow it.
    queueMicrotask(() => this.#onError(e));
  }
}

function packetLength(p: OutPacket): number {
  if (Buffer.isBuffer(p)) return p.length;
  let n = 0;
  for (const b of p) n += b.length;
  return n;
}
