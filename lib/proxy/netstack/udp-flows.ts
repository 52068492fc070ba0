// UDP at the edge: one Dialer flow per 4-tuple, datagrams both ways, closed after an idle
// period. UDP may lose: every queue here is bounded and overflow is a counted drop.
//
// How a UDP flow ends: idle expiry, the tunnel side closing it (`closed` resolves), a failed
// dial ('refused' answers the first datagram with ICMP port unreachable, others are silent),
// or NetStack.close().

import { DialError, type Dialer, type UdpFlow } from '../dialer.js';
import { keep, publishClose, publishOpen, type Endpoints, type FlowEvent } from './flows.js';
import type { NetStackStats } from './stats.js';
import { IPV4_HEADER_LEN, IPV6_HEADER_LEN } from './wire/ip.js';
import { buildPortUnreachable, buildUdpPacket, type ParsedPacket } from './wire/packet.js';
import { UDP_HEADER_LEN } from './wire/udp.js';

/** What the UDP table needs from the stack around it. */
export interface UdpHost {
  readonly mtu: number;
  readonly stats: NetStackStats;
  now(): number;
  /** Builds one packet into a pooled buffer for the next output batch (and schedules it). */
  send(build: (buf: Buffer) => number): void;
  /** Asks for an expire() call no later than `at`. */
  wakeAt(at: number): void;
  /** The address to dial for a flow's destination (VNAT maps a virtual one to the cluster's). */
  dialHost(local: Buffer): string;
}

export interface UdpOptions {
  idleTimeout: number;
  maxFlows: number;
  /** Datagrams held per flow while its dial is pending. */
  pendingQueue: number;
}

interface UdpEntry extends Endpoints {
  flow: UdpFlow | null;
  queue: Buffer[];
  /** The first datagram as received, for an ICMP port unreachable if the dial is refused: the
   * quote must be what the kernel sent (under VNAT, its virtual destination), or the kernel
   * finds no socket to report the error to (RFC 1122 §4.1.3.3). */
  first: Buffer;
  lastActive: number;
  abort: AbortController;
  closed: boolean;
}

/** The most of an offending packet an ICMP error quotes (RFC 4443 §2.4(c): 1280 - 48). */
const ICMP_QUOTE_MAX = 1232;

export class UdpFlows {
  readonly #flows = new Map<string, UdpEntry>();

  constructor(
    private readonly host: UdpHost,
    private readonly dialer: Dialer,
    private readonly opts: UdpOptions,
  ) {}

  get size(): number {
    return this.#flows.size;
  }

  /** One validated datagram from the workstation; `key` is its 4-tuple. */
  input(p: ParsedPacket, key: string): void {
    const d = p.udp;
    const stats = this.host.stats;
    const now = this.host.now();
    stats.bytesFromWorkstation += d.payload.length;
    const e = this.#flows.get(key);
    if (e) {
      e.lastActive = now;
      if (e.flow) {
        if (!e.flow.send(d.payload)) stats.udpDatagramsDropped++;
      } else if (e.queue.length < this.opts.pendingQueue) {
        e.queue.push(Buffer.from(d.payload));
      } else {
        stats.udpDatagramsDropped++;
      }
      return;
    }
    if (this.#flows.size >= this.opts.maxFlows) {
      stats.udpDatagramsDropped++;
      return;
    }
    const entry: UdpEntry = {
      key,
      local: keep(p.dst),
      localPort: d.dstPort,
      remote: keep(p.src),
      remotePort: d.srcPort,
      flow: null,
      queue: [Buffer.from(d.payload)],
      first: keep(p.ip.subarray(0, Math.min(p.ip.length, ICMP_QUOTE_MAX))),
      lastActive: now,
      abort: new AbortController(),
      closed: false,
    };
    this.#flows.set(key, entry);
    stats.udpFlowsTotal++;
    publishOpen('udp', entry);
    this.host.wakeAt(now + this.opts.idleTimeout);
    this.dialer.dialUdp(this.host.dialHost(entry.local), entry.localPort, entry.abort.signal).then(
      (flow) => this.#dialed(entry, flow),
      (err: unknown) => this.#dialFailed(entry, err),
    );
  }

  /** Closes flows idle since `now - idleTimeout`; returns the next expiry (Infinity if none). */
  expire(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.#flows.values()) {
      const expires = e.lastActive + this.opts.idleTimeout;
      if (expires <= now) this.#remove(e, 'idle');
      else next = Math.min(next, expires);
    }
    return next;
  }

  closeAll(): void {
    for (const e of this.#flows.values()) this.#remove(e, 'stack-closed');
  }

  #dialed(entry: UdpEntry, flow: UdpFlow): void {
    if (entry.closed) {
      flow.close();
      return;
    }
    entry.flow = flow;
    flow.onDatagram((payload) => this.#toWorkstation(entry, payload));
    for (const q of entry.queue) if (!flow.send(q)) this.host.stats.udpDatagramsDropped++;
    entry.queue = [];
    void flow.closed.then(() => this.#remove(entry, 'closed'));
  }

  #dialFailed(entry: UdpEntry, err: unknown): void {
    if (entry.closed) return;
    const failure = err instanceof DialError ? err.failure : 'other';
    if (failure === 'refused') {
      // What a real host answers for a closed UDP port; the socket sees ECONNREFUSED.
      this.host.stats.icmpUnreachableSent++;
      this.host.send((buf) => buildPortUnreachable(buf, entry.first));
    } else {
      this.host.stats.dialsFailed++;
    }
    this.#remove(entry, 'closed');
  }

  #toWorkstation(entry: UdpEntry, payload: Buffer): void {
    if (entry.closed) return;
    const room = this.host.mtu - (entry.local.length === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) - UDP_HEADER_LEN;
    if (payload.length > room) {
      // We never fragment; a datagram above the TUN MTU could not be delivered anyway.
      this.host.stats.udpDatagramsDropped++;
      return;
    }
    entry.lastActive = this.host.now();
    this.host.stats.bytesToWorkstation += payload.length;
    this.host.send((buf) => buildUdpPacket(buf, entry.local, entry.remote, entry.localPort, entry.remotePort, payload));
  }

  #remove(entry: UdpEntry, reason: FlowEvent['reason']): void {
    if (entry.closed) return;
    entry.closed = true;
    entry.abort.abort();
    entry.flow?.close();
    if (this.#flows.get(entry.key) === entry) this.#flows.delete(entry.key);
    publishClose('udp', entry, reason);
  }
}
