// Errors the tunnel raises locally. Codes, not classes, cross the wire (WireError in protocol.ts);
// these classes rebuild them on the receiving side.

import type { WireError } from './protocol.js';

/** Bytes from the peer that break the framing: a bad varint, an oversized capsule or line. The
 * caller resets the one stream it came from; nothing else is affected. */
export class TunnelParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TunnelParseError';
  }
}

/** A control call or watch that the far side answered with an error, or that could not complete. */
export class TunnelCallError extends Error {
  constructor(
    readonly code: WireError['error'],
    message: string,
    readonly status: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'TunnelCallError';
  }
  toWire(): WireError {
    return this.hint === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, hint: this.hint };
  }
}

/** The handshake failed: the peers share no protocol version. The message names both. */
export class TunnelVersionError extends TunnelCallError {
  constructor(message: string) {
    super('E_TUNNEL_VERSION', message, 426, 'install the same tp version on the workstation and in the cluster');
    this.name = 'TunnelVersionError';
  }
}
