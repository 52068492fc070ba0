// The UDP side of a SOCKS5 UDP ASSOCIATE (RFC 1928 §7): one datagram socket on the proxy's
// host; datagrams from the client carry a header naming their destination, each destination gets
// one UdpFlow from the dialer, and replies go back to the client wrapped in a header naming
// their source. UDP may lose datagrams, so every queue here is small and drops when full.

import { createSocket, type RemoteInfo, type Socket as DgramSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { SOCKS_UDP_PENDING_PER_FLOW } from '../../common/limits.js';
import type { UdpFlow } from '../dialer.js';
import type { ProxyContext } from './context.js';
import { failureOf } from './failure.js';
import { unmapIpv4 } from '../../common/ip.js';
import { buildUdpHeader, parseUdpHeader } from './socks5.js';

/** Datagrams held per destination while its flow is being dialed; later ones are dropped. */
const MAX_PENDING_PER_FLOW = SOCKS_UDP_PENDING_PER_FLOW;

interface FlowEntry {
  flow: UdpFlow | undefined;
  pending: Buffer[];
  /** Reply header, built once: the source as the client named it. */
  header: Buffer;
  abort: AbortController;
}

export interface UdpRelayOptions {
  /** Address to bind: the proxy's side of the control connection (RFC 1928 §7 "BND.ADDR"). */
  bindHost: string;
  /** Only datagrams from the control connection's peer are relayed; anyone else on the host
   * could otherwise use the association. */
  clientHost: string;
  /** The port the client said it will send from, or 0 if it did not know. */
  clientPort: number;
  fields: Record<string, unknown>;
}

export class UdpRelay {
  readonly #ctx: ProxyContext;
  readonly #sock: DgramSocket;
  readonly #opts: UdpRelayOptions;
  readonly #flows = new Map<string, FlowEntry>();
  #clientPort: number;
  #closed = false;

  private constructor(ctx: ProxyContext, sock: DgramSocket, opts: UdpRelayOptions) {
    this.#ctx = ctx;
    this.#sock = sock;
    this.#opts = opts;
    this.#clientPort = opts.clientPort;
    ctx.stats.udpAssociationsActive++;
    ctx.stats.udpAssociationsTotal++;
    sock.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo));
    // A send to a client that went away reports ICMP port unreachable as an error on the next
    // call; that is loss, not a reason to end the association.
    sock.on('error', (err) => ctx.log('debug', 'socks5 udp socket error', { ...opts.fields, error: err.message }));
  }

  static open(ctx: ProxyContext, opts: UdpRelayOptions): Promise<UdpRelay> {
    const sock = createSocket({ type: isIPv6(opts.bindHost) ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, opts.bindHost, () => {
        sock.off('error', reject);
        resolve(new UdpRelay(ctx, sock, opts));
      });
    });
  }

  address(): { host: string; port: number } {
    const a = this.#sock.address();
    return { host: a.address, port: a.port };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.stats.udpAssociationsActive--;
    for (const e of this.#flows.values()) {
      e.abort.abort();
      e.flow?.close();
    }
    this.#flows.clear();
    this.#sock.close();
  }

  #drop(why: string): void {
    this.#ctx.stats.udpDatagramsDropped++;
    this.#ctx.log('debug', 'socks5 udp datagram dropped', { ...this.#opts.fields, why });
  }

  #fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    if (unmapIpv4(rinfo.address) !== this.#opts.clientHost) return this.#drop('not from the client');
    if (this.#clientPort === 0)
      this.#clientPort = rinfo.port; // the first datagram tells
    else if (rinfo.port !== this.#clientPort) return this.#drop('not from the client port');
    const h = parseUdpHeader(msg);
    if (h.status !== 'ok') return this.#drop(h.status === 'bad' ? h.reason : 'truncated');
    // No reassembly: RFC 1928 §7 lets a server that does not implement fragmentation drop
    // any datagram whose FRAG is not 0.
    if (h.value.frag !== 0) return this.#drop('fragment');
    const { host, port } = h.value;
    if (port === 0) return this.#drop('port 0');
    const payload = msg.subarray(h.value.dataOffset);
    const key = `${host}|${port}`;
    let e = this.#flows.get(key);
    if (!e) {
      if (this.#flows.size >= this.#ctx.maxUdpFlows) return this.#drop('too many destinations');
      e = this.#openFlow(key, host, port);
    }
    if (e.flow) {
      if (e.flow.send(payload)) this.#ctx.stats.udpDatagramsToCluster++;
      else this.#drop('congested');
    } else if (e.pending.length < MAX_PENDING_PER_FLOW) e.pending.push(payload);
    else this.#drop('flow still dialing');
  }

  #openFlow(key: string, host: string, port: number): FlowEntry {
    const e: FlowEntry = { flow: undefined, pending: [], header: buildUdpHeader(host, port), abort: new AbortController() };
    this.#flows.set(key, e);
    const fields = { ...this.#opts.fields, host, port };
    this.#ctx.dialer.dialUdp(host, port, e.abort.signal).then(
      (flow) => {
        if (this.#closed || this.#flows.get(key) !== e) return flow.close();
        e.flow = flow;
        this.#ctx.stats.udpFlowsActive++;
        this.#ctx.log('debug', 'udp flow open', fields);
        flow.onDatagram((p) => this.#toClient(e, p));
        void flow.closed.then(() => {
          this.#ctx.stats.udpFlowsActive--;
          if (this.#flows.get(key) === e) this.#flows.delete(key);
          this.#ctx.log('debug', 'udp flow close', fields);
        });
        for (const p of e.pending) {
          if (flow.send(p)) this.#ctx.stats.udpDatagramsToCluster++;
          else this.#drop('congested');
        }
        e.pending = [];
      },
      (err: unknown) => {
        // Nothing to tell the client over UDP: its datagrams are lost, as on a real network.
        if (this.#flows.get(key) === e) this.#flows.delete(key);
        this.#ctx.stats.udpDatagramsDropped += e.pending.length;
        this.#ctx.log('info', 'udp dial failed', { ...fields, failure: failureOf(err) });
      },
    );
    return e;
  }

  #toClient(e: FlowEntry, payload: Buffer): void {
    if (this.#closed || this.#clientPort === 0) return;
    this.#ctx.stats.udpDatagramsFromCluster++;
    this.#sock.send([e.header, payload], this.#clientPort, this.#opts.clientHost, (err) => {
      if (err) this.#drop(`send to client: ${err.message}`);
    });
  }
}
