// Joins a CONNECT stream and a TCP socket (or any Duplex standing in for one) both ways.
// Ways the pair ends, and what each does to the other side (RFC 9113 §8.5):
//   socket EOF (FIN)            → END_STREAM after the data before it; the other direction goes on.
//   END_STREAM                  → socket.end() (FIN) after the data before it.
//   socket error / RST          → RST_STREAM(CONNECT_ERROR).
//   RST_STREAM (any code)       → the socket is reset (resetAndDestroy), not closed politely.
//                                 Node reports a peer's RST_STREAM(NO_ERROR) — what a plain
//                                 destroy() sends — only as 'aborted', with rstCode 0, and then
//                                 ends the readable side as if END_STREAM had come; so 'aborted'
//                                 must reset the socket before pipe() turns that end into a FIN.
//   both directions ended       → both close normally.
// Backpressure comes from pipe(): a false write() pauses the source; a paused Http2Stream stops
// returning window to its sender, so a target that stops reading stalls the far end instead of
// filling our memory.

import { constants, type Http2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';

type Resettable = Duplex & { resetAndDestroy?: () => unknown };

export function resetDuplex(d: Resettable): void {
  if (d.destroyed) return;
  // net.Socket.resetAndDestroy sends a TCP RST when connected; other Duplexes just go away.
  if (typeof d.resetAndDestroy === 'function' && (d as { connecting?: boolean }).connecting === false) {
    d.resetAndDestroy();
  } else {
    d.destroy();
  }
}

export function resetStream(s: Http2Stream, code: number = constants.NGHTTP2_CONNECT_ERROR): void {
  if (!s.closed && !s.destroyed) s.close(code);
}

/** Splices stream ↔ socket; `done` resolves once both are closed. */
export function splice(stream: Http2Stream, socket: Duplex): Promise<void> {
  let socketReadEnded = false;
  let streamReadEnded = false;
  socket.on('end', () => (socketReadEnded = true));
  stream.on('end', () => (streamReadEnded = true));
  // Errors are reported through 'close'; a listener must exist or Node throws them.
  socket.on('error', () => {});
  stream.on('error', () => {});

  stream.once('aborted', () => resetDuplex(socket));
  // The other side may be a stream too (two halves of a pairing spliced directly): its reset
  // must reach this one as a reset, not as the end Node reports after 'aborted'.
  socket.once('aborted', () => resetStream(stream));
  stream.pipe(socket);
  socket.pipe(stream);

  const socketClosed = new Promise<void>((resolve) =>
    socket.once('close', (hadError?: boolean) => {
      if (hadError || !socketReadEnded) resetStream(stream);
      resolve();
    }),
  );
  const streamClosed = new Promise<void>((resolve) =>
    stream.once('close', () => {
      if (stream.rstCode !== constants.NGHTTP2_NO_ERROR || !streamReadEnded) resetDuplex(socket);
      resolve();
    }),
  );
  return Promise.all([socketClosed, streamClosed]).then(() => undefined);
}
