// When a test's peer socket closes. Not events.once(s, 'close'): that rejects when the socket
// emits 'error' first, and the EPIPE or ECONNRESET of a write after the server closed it is what
// a budget test provokes on purpose.
import type { Socket } from 'node:net';

/** True once `s` closes, false if it is still open `ms` later. */
export function closedWithin(s: Socket, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    new Promise<boolean>((r) => s.once('close', () => r(true))),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** True once `s` closes (never rejects). */
export const closed = (s: Socket): Promise<boolean> => new Promise((r) => s.once('close', () => r(true)));
