// HTTP/2 tuning shared by both ends (DESIGN.md §3, §9). Node's defaults (64 KiB windows, 16 KiB
// frames) cap a single flow at a few hundred Mbit/s even on loopback, because every 64 KiB the
// sender waits one event-loop round trip for a WINDOW_UPDATE.

import type { Settings } from 'node:http2';

/** Per-stream receive window: how much one flow may have in flight. 2 MiB covers ~3 Gbit/s at a
 * 5 ms round trip through a kube port-forward; on loopback 1–8 MiB measured the same (~5 Gbit/s
 * one way, in one process). It is also what one stalled flow can park in the receiver's memory —
 * and, because Node returns session-level window as soon as DATA reaches JS (not when the stream
 * is read), SESSION_WINDOW does not cap the sum: N stalled flows hold up to N × STREAM_WINDOW.
 * That is why this is not larger. */
export const STREAM_WINDOW = 2 << 20;
/** Per-session receive window, shared by all flows: lets many busy flows run at once. */
export const SESSION_WINDOW = 32 << 20;
/** Largest DATA frame we accept; fewer frames means fewer JS callbacks per byte. Must be within
 * [2^14, 2^24-1] (RFC 9113 §6.5.2). */
export const MAX_FRAME_SIZE = 256 << 10;
/** One session carries every flow of a workstation: thousands of concurrent streams are normal. */
export const MAX_CONCURRENT_STREAMS = 16_384;
/** Node refuses new streams (ENHANCE_YOUR_CALM) when a session's buffered memory passes this many
 * MiB; it has to cover both windows with room to spare. */
export const MAX_SESSION_MEMORY_MB = 256;

export const baseSettings: Settings = {
  initialWindowSize: STREAM_WINDOW,
  maxFrameSize: MAX_FRAME_SIZE,
  maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
  enablePush: false,
};

/** The server also lets clients use extended CONNECT (RFC 8441 §3), which connect-udp needs. */
export const serverSettings: Settings = { ...baseSettings, enableConnectProtocol: true };

/** Control-call bodies are small JSON; a bigger one is a bug or an attack. */
export const MAX_CALL_BODY = 4 << 20;
/** Before a connection has authenticated, a hello is all it may send: a few KB of JSON (a
 * projected ServiceAccount token is about 1 KB). */
export const MAX_UNAUTHENTICATED_BODY = 16 << 10;
/** A watch whose reader fell this far behind is cut off; the client re-subscribes. */
export const MAX_WATCH_BUFFERED = 4 << 20;
/** UDP flows with no datagram either way for this long are closed (both ends use it). */
export const UDP_IDLE_MS = 60_000;
