// Errors the tunnel raises locally. Codes, not classes, cross the wire (WireError, the one wire
// error of lib/common/errors.ts); TunnelCallError rebuilds them on the receiving side.

import { TpError, type ErrorCode } from '../../common/errors.js';

/** Bytes from the peer that break the framing: a bad varint, an oversized capsule or line. The
 * caller resets the one stream it came from; nothing else is affected, so it never reaches a user
 * and stays a plain Error. */
export class TunnelParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TunnelParseError';
  }
}

/** A control call or watch that the far side answered with an error, or that could not complete.
 * `status` is the HTTP status it came with (0: no answer). */
export class TunnelCallError extends TpError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    hint?: string,
  ) {
    super(code, message, { hint });
    this.name = 'TunnelCallError';
  }
}

/** The handshake failed: the peers share no protocol version. The message names both. */
export class TunnelVersionError extends TunnelCallError {
  constructor(message: string) {
    super('E_TUNNEL_VERSION', message, 426, 'install the same tp version on the workstation and in the cluster');
    this.name = 'TunnelVersionError';
  }
}
