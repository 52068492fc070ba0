// Capsules (RFC 9297 §3.2) carry connect-udp datagrams inside the HTTP/2 stream:
//   Capsule { Type (i), Length (i), Value (..) }
// A DATAGRAM capsule (type 0x00) holds { Context ID (i), Payload }; RFC 9298 §4 gives context 0
// to UDP payloads. Unknown capsule types are skipped (RFC 9297 §3.2: "silently drop"), datagrams
// with another context id are dropped (RFC 9298 §4), anything malformed is a TunnelParseError and
// the caller resets the stream (RFC 9297 §3.3: treat it as a malformed message).

import { TunnelParseError } from './errors.js';
import { readVarint, varintLen, writeVarint } from './varint.js';

export const CAPSULE_DATAGRAM = 0x00;
/** A UDP payload is at most 65527 bytes (IPv4) / 65535 (IPv6 jumbograms aside); the context id
 * adds at most 8. Anything longer cannot be a datagram we would forward. */
export const MAX_DATAGRAM_CAPSULE = 65535 + 8;

/** Encodes one DATAGRAM capsule with context id 0 around payload: one allocation, one copy. */
export function encodeDatagramCapsule(payload: Uint8Array): Buffer {
  const valueLen = 1 + payload.length; // context id 0 is one byte
  const out = Buffer.allocUnsafe(1 + varintLen(valueLen) + valueLen);
  let off = writeVarint(out, 0, CAPSULE_DATAGRAM);
  off = writeVarint(out, off, valueLen);
  out[off++] = 0; // context id
  out.set(payload, off);
  return out;
}

export interface CapsuleStats {
  datagrams: number;
  /** DATAGRAM capsules with a context id we never registered. */
  droppedContext: number;
  /** Capsules of types we do not know, skipped whole. */
  skippedUnknown: number;
}

/** Incremental decoder: feed stream chunks in any split; datagram payloads come out whole. */
export class CapsuleDecoder {
  readonly stats: CapsuleStats = { datagrams: 0, droppedContext: 0, skippedUnknown: 0 };
  #rest: Buffer | undefined; // an incomplete capsule from the previous chunk
  #skip = 0; // bytes of an unknown capsule still to discard; never buffered

  constructor(private readonly onDatagram: (payload: Buffer) => void) {}

  /** Throws TunnelParseError on malformed input; the decoder is then unusable. */
  push(chunk: Buffer): void {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length);
      this.#skip -= n;
      chunk = chunk.subarray(n);
    }
    const data = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    this.#rest = undefined;
    let off = 0;
    while (off < data.length) {
      const type = readVarint(data, off);
      if (type === undefined) break;
      const len = readVarint(data, type.next);
      if (len === undefined) break;
      const start = len.next;
      if (type.value !== CAPSULE_DATAGRAM) {
        const avail = data.length - start;
        this.stats.skippedUnknown++;
        if (avail >= len.value) {
          off = start + len.value;
          continue;
        }
        this.#skip = len.value - avail;
        off = data.length;
        break;
      }
      if (len.value > MAX_DATAGRAM_CAPSULE) {
        throw new TunnelParseError(`DATAGRAM capsule of ${len.value} bytes exceeds ${MAX_DATAGRAM_CAPSULE}`);
      }
      if (start + len.value > data.length) break;
      const value = data.subarray(start, start + len.value);
      off = start + len.value;
      const ctx = readVarint(value, 0);
      if (ctx === undefined) throw new TunnelParseError('DATAGRAM capsule without a complete context id');
      if (ctx.value !== 0) {
        this.stats.droppedContext++;
        continue;
      }
      this.stats.datagrams++;
      this.onDatagram(value.subarray(ctx.next));
    }
    // Copy the tail so the (possibly large) chunk it came from can be collected.
    if (off < data.length) this.#rest = Buffer.from(data.subarray(off));
  }

  /** True when the stream may end here: no capsule is cut in the middle (RFC 9297 §3.3). */
  get atBoundary(): boolean {
    return this.#rest === undefined && this.#skip === 0;
  }
}
