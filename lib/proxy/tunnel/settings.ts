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

// ---- Budgets of the manager's tunnel ports (issue #12; SECURITY.md "Traffic manager") ---------
// A hostile peer may reach the agent port from any pod, and the client port through any
// port-forward it is allowed to open. Before it has authenticated it gets almost nothing; after,
// it is one session among others and can never take the manager down.

/** Streams a connection may have open before its hello: the handshake and the hello itself,
 * with room for a retry. Everything else is refused unread (server.ts). */
export const MAX_STREAMS_UNAUTHENTICATED = 4;
/** Streams an authenticated connection may have open at once. Every flow of a workstation is a
 * stream of its connection: hundreds of concurrent flows are what a busy browser or IDE makes;
 * more is a leak or an attack, and the kernel-facing side answers them with RST. Chart value
 * limits.maxStreamsPerConnection (TP_MAX_STREAMS). */
export const MAX_STREAMS_PER_CONNECTION = 1024;
/** Stream window before the hello: the protocol's default. What an unauthenticated peer can make
 * the manager hold is this × MAX_STREAMS_UNAUTHENTICATED × MAX_UNAUTHENTICATED_CONNECTIONS (16 MiB),
 * plus the same default session window per connection; the hello raises both (STREAM_WINDOW,
 * SESSION_WINDOW). */
export const UNAUTHENTICATED_STREAM_WINDOW = 65_535;
/** A connection that has not authenticated within this is closed: a hello is one round trip. */
export const AUTH_TIMEOUT_MS = 10_000;
/** Connections that have not authenticated yet, all peers together: above it new connections are
 * closed at once, and authenticated sessions are untouched. */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 64;
/** The same, per peer address (agents come from pod IPs; a port-forward always from loopback, so
 * on the client port the total above is what holds). */
export const MAX_UNAUTHENTICATED_PER_PEER = 16;
/** Connections at all: one per workstation daemon (user, root) and one per agent pod is the
 * normal load. Above it new connections are closed (shed) and logged. TP_MAX_CONNECTIONS. */
export const MAX_CONNECTIONS = 4096;
/** nghttp2's memory per server session (frames in flight, queued writes), MiB. Node refuses new
 * streams of a session above it (ENHANCE_YOUR_CALM) rather than grow: a session that holds this
 * much is not reading. 32 MiB covers the session window (SESSION_WINDOW). */
export const MAX_SERVER_SESSION_MEMORY_MB = 64;
