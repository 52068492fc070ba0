// A connect-udp stream seen as a UdpFlow (dialer.ts), used by both ends: the client hands it to the
// proxy/netstack, the server relays it to the flow its Dialer opened.
// Ways it ends: close() here (RST_STREAM NO_ERROR to the peer), the peer's END_STREAM or
// RST_STREAM, a malformed capsule (RST_STREAM PROTOCOL_ERROR, RFC 9297 §3.3), the session dying.

import { constants, type Http2Stream } from 'node:http2';
import type { UdpFlow } from '../dialer.js';
import { CapsuleDecoder, encodeDatagramCapsule } from './capsule.js';

/** The largest UDP payload (IPv4: 65535 - 8 UDP - 20 IP). */
export const MAX_UDP_PAYLOAD = 65507;

export interface UdpFlowStats {
  sent: number;
  received: number;
  /** Datagrams dropped because the stream was not writable: UDP may lose, it must not queue. */
  dropped: number;
}

export class StreamUdpFlow implements UdpFlow {
  readonly stats: UdpFlowStats = { sent: 0, received: 0, dropped: 0 };
  readonly closed: Promise<void>;
  #listener: ((payload: Buffer) => void) | undefined;
  #decoder: CapsuleDecoder;
  #done = false;

  constructor(private readonly stream: Http2Stream) {
    this.#decoder = new CapsuleDecoder((p) => {
      this.stats.received++;
      this.#listener?.(p);
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        this.#decoder.push(chunk);
      } catch {
        this.#reset(constants.NGHTTP2_PROTOCOL_ERROR);
      }
    });
    // The peer is done sending: a UDP flow has no half-close, so the whole flow ends.
    stream.on('end', () => this.close());
    stream.on('error', () => {});
    this.closed = new Promise((resolve) =>
      stream.once('close', () => {
        this.#done = true;
        resolve();
      }),
    );
  }

  send(payload: Uint8Array): boolean {
    // writableNeedDrain: a previous write already went over the high-water mark; queueing more
    // would turn the tunnel into a datagram buffer.
    if (this.#done || !this.stream.writable || this.stream.writableNeedDrain || payload.length > MAX_UDP_PAYLOAD) {
      this.stats.dropped++;
      return false;
    }
    this.stats.sent++;
    this.stream.write(encodeDatagramCapsule(payload));
    return true;
  }

  onDatagram(listener: (payload: Buffer) => void): void {
    this.#listener = listener;
  }

  close(): void {
    this.#reset(constants.NGHTTP2_NO_ERROR);
  }

  #reset(code: number): void {
    this.#done = true;
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(code);
  }
}
