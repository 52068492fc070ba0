// The seam between the things that accept flows on the workstation (the SOCKS/HTTP proxy, the
// TUN netstack) and the things that carry them to the cluster (the tunnel client, or a direct
// dialer in tests). Both sides import this module; nothing else defines flow shapes.

import type { Duplex } from 'node:stream';
import { TpError, type ErrorCode } from '../common/errors.js';

/** Why a dial failed. Each maps to what a real network would show the client:
 * SOCKS reply codes, HTTP 502/504, a TCP RST or silence. */
export type DialFailure =
  | 'refused' // the target answered with RST: SOCKS 0x05, TCP RST
  | 'unreachable' // no route / host down: SOCKS 0x04 (host) or 0x03 (network)
  | 'timeout' // nothing answered in time: SOCKS 0x04, the netstack stays silent
  | 'nxdomain' // the name does not resolve in the cluster: SOCKS 0x04
  | 'forbidden' // policy (never-proxy, manager refused): SOCKS 0x02
  | 'other'; // anything else: SOCKS 0x01

/** The code of each failure: E_DIAL_REFUSED, …; the failure itself decides what the client sees. */
const DIAL_CODES = {
  refused: 'E_DIAL_REFUSED',
  unreachable: 'E_DIAL_UNREACHABLE',
  timeout: 'E_DIAL_TIMEOUT',
  nxdomain: 'E_DIAL_NXDOMAIN',
  forbidden: 'E_DIAL_FORBIDDEN',
  other: 'E_DIAL_OTHER',
} as const satisfies Record<DialFailure, ErrorCode>;

export class DialError extends TpError {
  constructor(
    readonly failure: DialFailure,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(DIAL_CODES[failure], message, opts);
    this.name = 'DialError';
  }
}

/** One UDP "connection": datagrams to and from one remote host:port. */
export interface UdpFlow {
  /** Queue one datagram. Returns false when it was dropped because the path is congested —
   * UDP may lose datagrams; it must never queue without bound. */
  send(payload: Uint8Array): boolean;
  /** Register the receiver of datagrams from the remote side. */
  onDatagram(listener: (payload: Buffer) => void): void;
  /** Close the flow; idempotent. */
  close(): void;
  /** Resolves when the flow has closed, by either side or by idle expiry. */
  readonly closed: Promise<void>;
}

export interface Dialer {
  /** Open a TCP flow to host:port. `host` is an IP literal or a name resolved in the cluster.
   * Resolves once the far side's connect succeeded (so callers can answer SYN-ACK / SOCKS 0x00
   * only then). Rejects with DialError. */
  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex>;
  /** Open a UDP flow to host:port. Rejects with DialError. */
  dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow>;
}
