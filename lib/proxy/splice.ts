// Joins two byte streams both ways, as a TCP relay must. Every relay of tp uses this one: the SOCKS
// and HTTP proxy, the tunnel server's CONNECT flows and pairings, the agent's opaque connections
// and probe ports, the workstation's answer to an intercepted connection, the root daemon's relay.
//
// - Backpressure: pipe() stops reading a side while the other's write buffer is over its
//   highWaterMark, so at most about one highWaterMark per direction sits in the process; a socket
//   not read lets the kernel's receive window close, a paused Http2Stream stops returning window.
//   Chunks pass by reference, never copied.
// - Half-close: EOF on one side becomes end() on the other — a FIN on a socket, END_STREAM on an
//   HTTP/2 stream (RFC 9113 §8.5) — and the other direction keeps flowing until it ends too.
//   Sockets must be made with allowHalfOpen, or Node ends them at the first EOF.
// - Reset: an error, an abort or a close before the end on one side resets the other, so the far
//   peer learns that the stream was cut short instead of reading a clean EOF: a TCP socket gets
//   an RST (resetAndDestroy), an HTTP/2 stream RST_STREAM(CONNECT_ERROR) (RFC 9113 §8.5), any
//   other stream is destroyed.
//
// Ways a splice ends (SpliceResult.reason):
//   ended  both directions ended with EOF; the streams close themselves.
//   error  one side emitted 'error' (a socket's ECONNRESET included); the other was reset.
//   reset  one side was aborted (a peer's RST_STREAM) or closed before its end; the other was reset.
//   idle   nothing moved either way for `idleMs`; both were destroyed (closed, not reset).

import { constants } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export type SpliceSide = 'a' | 'b';

export interface SpliceResult {
  reason: 'ended' | 'error' | 'reset' | 'idle';
  /** The side whose failure ended the splice (error, reset). */
  by?: SpliceSide;
  /** The first error either side emitted, if any. */
  error?: Error;
  /** Bytes read from a and handed to b, and the reverse. */
  aToB: number;
  bToA: number;
}

export interface SpliceOptions {
  /** Destroy both sides once this long passes without a byte either way; 0 or Infinity: never. */
  idleMs?: number;
  /** Runs when the idle budget runs out, before both sides are destroyed (the agent counts it). */
  onIdle?: () => void;
  /** Sees each chunk going from a to b (the agent's wiretap copies); it must not keep a reference
   * it will mutate, nor block. */
  tapAToB?: (chunk: Buffer) => void;
}

interface H2StreamLike extends Duplex {
  readonly rstCode: number;
  readonly closed: boolean;
  close(code?: number): void;
}

function isH2Stream(d: Duplex): d is H2StreamLike {
  const s = d as Partial<H2StreamLike>;
  return typeof s.rstCode === 'number' && typeof s.close === 'function';
}

/** Ends a stream abortively, so its peer sees a reset and not the end of a complete exchange. */
export function resetDuplex(d: Duplex): void {
  if (d.destroyed) return;
  if (isH2Stream(d)) {
    // Node reports a peer's RST_STREAM(NO_ERROR) — what a plain destroy() sends — only as
    // 'aborted'; CONNECT_ERROR is what RFC 9113 §8.5 asks of a proxy whose TCP side failed.
    if (!d.closed) d.close(constants.NGHTTP2_CONNECT_ERROR);
    return;
  }
  const s = d as Partial<Socket>;
  if (typeof s.resetAndDestroy === 'function' && s.connecting === false) {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle (a unix socket, TLS): there is no RST to send; closing is all there is.
    }
  }
  d.destroy();
}

/** Whether 'close' was already emitted: a side that went away before we got it (a client that
 * hung up during the dial) will not emit it again. */
function closeEmitted(d: Duplex): boolean {
  const r = (d as unknown as { _readableState?: { closeEmitted?: boolean } })._readableState;
  const w = (d as unknown as { _writableState?: { closeEmitted?: boolean } })._writableState;
  return r?.closeEmitted === true || w?.closeEmitted === true;
}

/** Splices a ↔ b; resolves once both sides have closed. Never rejects. */
export function splice(a: Duplex, b: Duplex, opts: SpliceOptions = {}): Promise<SpliceResult> {
  return new Promise((resolve) => {
    const bytes = { a: 0, b: 0 };
    let cause: Pick<SpliceResult, 'reason' | 'by'> | undefined;
    let firstError: Error | undefined;
    let closed = 0;
    let idle: NodeJS.Timeout | undefined;
    const idleMs = opts.idleMs ?? 0;
    const timed = idleMs > 0 && Number.isFinite(idleMs);
    let lastByte = Date.now();

    const settle = () => {
      if (idle) clearTimeout(idle);
      resolve({ ...(cause ?? { reason: 'ended' }), ...(firstError ? { error: firstError } : {}), aToB: bytes.a, bToA: bytes.b });
    };
    const onClosed = () => {
      if (++closed === 2) settle();
    };
    const fail = (side: SpliceSide, reason: 'error' | 'reset') => {
      cause ??= { reason, by: side };
      resetDuplex(side === 'a' ? b : a);
    };
    const gone = (self: Duplex, other: Duplex, side: SpliceSide) => {
      // Closed before its own end, reset by its peer, or while the other side still had bytes
      // for it that nobody will now read: tear the other side down rather than leave it waiting.
      if (!self.readableEnded || !other.readableEnded || (isH2Stream(self) && self.rstCode !== constants.NGHTTP2_NO_ERROR)) {
        fail(side, 'reset');
      }
      onClosed();
    };

    const wire = (self: Duplex, other: Duplex, side: SpliceSide) => {
      const alreadyClosed = closeEmitted(self);
      self.on('error', (err: Error) => {
        firstError ??= err;
        fail(side, 'error');
      });
      // An Http2Stream reset by its peer emits 'aborted' and then ends its readable side as if
      // END_STREAM had come: the reset must reach the other side before pipe() turns that end
      // into a FIN.
      self.once('aborted', () => fail(side, 'reset'));
      self.on('data', (chunk: Buffer) => {
        bytes[side] += chunk.length;
        if (timed) lastByte = Date.now(); // only an idle budget reads it
        if (side === 'a') opts.tapAToB?.(chunk);
      });
      if (alreadyClosed) gone(self, other, side);
      else self.once('close', () => gone(self, other, side));
      self.pipe(other);
    };
    wire(a, b, 'a');
    wire(b, a, 'b');

    if (timed) {
      // One timer per idle period, not one per chunk: traffic records the time, and the timer
      // re-arms for what is left when it fires early.
      const arm = (ms: number) => {
        idle = setTimeout(() => {
          const quiet = Date.now() - lastByte;
          if (quiet < idleMs) return arm(idleMs - quiet);
          cause ??= { reason: 'idle' };
          opts.onIdle?.();
          a.destroy();
          b.destroy();
        }, ms);
        idle.unref();
      };
      if (closed < 2) arm(idleMs);
    }
  });
}
