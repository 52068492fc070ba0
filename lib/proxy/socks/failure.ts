// What a failed dial looks like to each kind of client: the SOCKS5 reply code and the HTTP
// status a real network's failure would produce, so curl and browsers print the usual errors.

import { DialError, type DialFailure } from '../dialer.js';
import { Rep, type RepCode } from './socks5.js';

/** The failure category of anything a dialer threw; a non-DialError is our bug or the tunnel's,
 * and looks to the client like a general failure. */
export function failureOf(err: unknown): DialFailure {
  return err instanceof DialError ? err.failure : 'other';
}

export function socksReplyFor(failure: DialFailure): RepCode {
  switch (failure) {
    case 'refused':
      return Rep.CONNECTION_REFUSED;
    // The tunnel cannot tell host from network unreachability (the manager only sees its own
    // dial fail), and "host unreachable" is what clients print most helpfully.
    case 'unreachable':
    case 'timeout':
    case 'nxdomain':
      return Rep.HOST_UNREACHABLE;
    case 'forbidden':
      return Rep.NOT_ALLOWED;
    case 'other':
      return Rep.GENERAL_FAILURE;
  }
}

export interface HttpFailure {
  status: number;
  reason: string;
}

/** RFC 9110 §15.6.3/§15.6.5: a gateway that could not reach the origin says 502, one that gave
 * up waiting says 504. A policy refusal is ours to make, so 403. */
export function httpStatusFor(failure: DialFailure): HttpFailure {
  switch (failure) {
    case 'timeout':
      return { status: 504, reason: 'Gateway Timeout' };
    case 'forbidden':
      return { status: 403, reason: 'Forbidden' };
    case 'refused':
    case 'unreachable':
    case 'nxdomain':
    case 'other':
      return { status: 502, reason: 'Bad Gateway' };
  }
}

/** One line for the client and the log: what failed, in words a user can act on. */
export function describeFailure(failure: DialFailure, host: string, port: number): string {
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (failure) {
    case 'refused':
      return `tp proxy: ${target} refused the connection`;
    case 'unreachable':
      return `tp proxy: ${target} is unreachable from the cluster`;
    case 'timeout':
      return `tp proxy: ${target} did not answer in time`;
    case 'nxdomain':
      return `tp proxy: ${host} does not resolve in the cluster`;
    case 'forbidden':
      return `tp proxy: connections to ${target} are not allowed`;
    case 'other':
      return `tp proxy: connecting to ${target} failed`;
  }
}
