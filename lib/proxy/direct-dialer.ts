// A Dialer that dials from this process with the kernel's sockets: the traffic manager's (and the
// agent's) way out to cluster addresses, and the far end in loopback tests.
// It reports failures the way the Dialer contract asks, so a refused port in the cluster shows up
// as ECONNREFUSED / SOCKS 0x05 on the workstation.

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { DialError, type DialFailure, type Dialer, type UdpFlow } from './dialer.js';
import { IdleTimer } from './tunnel/idle.js';
import { UDP_IDLE_MS } from './tunnel/settings.js';

export interface DirectDialerOptions {
  /** How long a TCP connect may take before it is a 'timeout'. */
  connectTimeoutMs?: number;
  /** UDP flows with no datagram either way for this long close. */
  udpIdleMs?: number;
  /** Bytes a UDP socket may have queued in the kernel path before send() drops. */
  udpMaxQueued?: number;
}

/** errno → what a real network would show the client. */
export function dialFailureOf(err: unknown): DialFailure {
  const e = err as { code?: string; errors?: { code?: string }[] };
  // With autoSelectFamily (happy eyeballs) Node reports an AggregateError of per-address errors.
  const code = e?.code ?? e?.errors?.[0]?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return 'unreachable';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
    case 'EAI_FAIL':
      return 'nxdomain';
    case 'EACCES':
    case 'EPERM':
      return 'forbidden';
    default:
      return 'other';
  }
}

const abortFailure = (signal: AbortSignal): DialFailure =>
  (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError' ? 'timeout' : 'other';

export class DirectDialer implements Dialer {
  readonly #connectTimeoutMs: number;
  readonly #udpIdleMs: number;
  readonly #udpMaxQueued: number;

  constructor(opts: DirectDialerOptions = {}) {
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.#udpIdleMs = opts.udpIdleMs ?? UDP_IDLE_MS;
    this.#udpMaxQueued = opts.udpMaxQueued ?? 1 << 20;
  }

  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    const where = `${host}:${port}`;
    if (signal?.aborted) return Promise.reject(new DialError(abortFailure(signal), `dial ${where} aborted`));
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a FIN from the target must end only that direction (END_STREAM), not the
      // socket — the client may still be sending. noDelay: DESIGN.md §9.
      const sock = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
      let settled = false;
      const fail = (failure: DialFailure, message: string) => {
        if (settled) return;
        settled = true;
        cleanup();
        sock.destroy();
        reject(new DialError(failure, message));
      };
      const onError = (err: Error) => fail(dialFailureOf(err), `dial ${where}: ${err.message}`);
      const onAbort = () => fail(abortFailure(signal!), `dial ${where} aborted`);
      const timer = setTimeout(
        () => fail('timeout', `dial ${where}: no answer within ${this.#connectTimeoutMs} ms`),
        this.#connectTimeoutMs,
      );
      const cleanup = () => {
        clearTimeout(timer);
        sock.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      sock.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(sock);
      });
    });
  }

  async dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    const where = `${host}:${port}`;
    let address = host;
    let family = net.isIP(host);
    if (family === 0) {
      try {
        ({ address, family } = await lookup(host));
      } catch (err) {
        throw new DialError(dialFailureOf(err), `resolve ${host}: ${(err as Error).message}`);
      }
    }
    if (signal?.aborted) throw new DialError(abortFailure(signal), `dial udp ${where} aborted`);
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        sock.close();
        reject(new DialError(dialFailureOf(err), `dial udp ${where}: ${err.message}`));
      };
      sock.once('error', onError);
      // connect() fixes the peer: the kernel then filters datagrams from anyone else, as a
      // cluster pod's connected UDP socket would.
      sock.connect(port, address, () => {
        sock.off('error', onError);
        resolve();
      });
    });
    return new DgramFlow(sock, this.#udpIdleMs, this.#udpMaxQueued);
  }
}

class DgramFlow implements UdpFlow {
  readonly closed: Promise<void>;
  #listener: ((p: Buffer) => void) | undefined;
  #done = false;
  #idle: IdleTimer;

  constructor(
    private readonly sock: dgram.Socket,
    idleMs: number,
    private readonly maxQueued: number,
  ) {
    this.#idle = new IdleTimer(idleMs, () => this.close());
    sock.on('message', (msg) => {
      this.#idle.touch();
      this.#listener?.(msg);
    });
    // ICMP port-unreachable surfaces as ECONNREFUSED on a connected socket; UDP loses datagrams,
    // so it is not a reason to end the flow.
    sock.on('error', () => {});
    this.closed = new Promise((resolve) => sock.once('close', () => resolve()));
  }

  send(payload: Uint8Array): boolean {
    if (this.#done || this.sock.getSendQueueSize() > this.maxQueued) return false;
    this.#idle.touch();
    this.sock.send(payload);
    return true;
  }

  onDatagram(listener: (payload: Buffer) => void): void {
    this.#listener = listener;
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#idle.stop();
    this.sock.close();
  }
}
