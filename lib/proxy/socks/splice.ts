// Join two byte streams both ways, as a TCP relay must:
// - backpressure: `pipe` stops reading a side while the other's write buffer is full, so the
//   proxy holds at most a highWaterMark per direction and the kernel's receive window closes;
// - half-close: EOF from one side becomes end() (FIN) on the other, and the reverse direction
//   keeps flowing (the sockets must be created with allowHalfOpen);
// - abort: an error or an abrupt close on one side destroys the other, so a reset is not turned
//   into a clean EOF and no socket is left open with nobody to talk to.

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Ends a side abortively: a TCP socket gets an RST (not a FIN, which would read as a complete
 * response), any other stream is destroyed (RST_STREAM for an HTTP/2 stream). */
function abort(d: Duplex): void {
  const reset = (d as Partial<Socket>).resetAndDestroy;
  if (typeof reset === 'function' && !d.destroyed && (d as Socket).readyState !== 'opening') reset.call(d);
  else d.destroy();
}

/** Calls `done` once, after both sides have closed, with the first error seen (if any). */
export function splice(a: Duplex, b: Duplex, done: (err?: Error) => void = () => {}): void {
  let firstError: Error | undefined;
  let closed = 0;
  const onClose = () => {
    if (++closed === 2) done(firstError);
  };
  const wire = (self: Duplex, other: Duplex) => {
    self.on('error', (err: Error) => {
      firstError ??= err;
      abort(other);
    });
    self.on('close', () => {
      // `other` can still have bytes for `self` unless it already sent EOF: nobody would
      // read them, so tear it down rather than leave it waiting.
      if (!other.readableEnded || !self.readableEnded) abort(other);
      onClose();
    });
    self.pipe(other);
  };
  // A side destroyed before we got it (the client hung up during the dial) may already have
  // emitted 'close'; it will not again.
  const aGone = a.destroyed && a.closed;
  const bGone = b.destroyed && b.closed;
  wire(a, b);
  wire(b, a);
  if (a.destroyed) b.destroy();
  if (b.destroyed) a.destroy();
  if (aGone) onClose();
  if (bGone) onClose();
}
