// The tunnel seam: the one module both ends of the HTTP/2 session import (user daemon and agent as
// clients, traffic manager as server). Paths, headers, message shapes, versions and the mapping
// between dial failures and HTTP statuses live here and nowhere else.
//
// Reading list: RFC 9113 §8.5 (CONNECT), RFC 8441 (extended CONNECT), RFC 9298 (connect-udp),
// RFC 9297 (capsules), RFC 9000 §16 (varints). See DESIGN.md §3.
//
// What each stream does to the receiver (the TCP state a flow ends up in):
//   CONNECT ip:port          → the server dials; 200 = the far side is ESTABLISHED,
//                              error status + reason header = the dial failed (client sends RST,
//                              or stays silent for 'timeout').
//   DATA                     → bytes in order on the flow.
//   END_STREAM               → FIN: that direction is half-closed; the other keeps flowing.
//   RST_STREAM               → RST: the flow is gone in both directions, unsent bytes are lost.
//   CONNECT :protocol connect-udp → a UDP "connection"; DATAGRAM capsules carry the datagrams.

import type { DialFailure } from '../dialer.js';

/** Bumped when a change would make an older peer misbehave. Additive changes (a new control call,
 * a new optional field) are announced through capabilities instead. */
export const TUNNEL_PROTOCOL_VERSION = 1;
/** The oldest version this build still speaks. */
export const TUNNEL_PROTOCOL_MIN_VERSION = 1;

/** Capabilities a peer may announce; unknown ones are ignored by the receiver. */
export type Capability = 'tcp' | 'connect-udp' | 'watch' | (string & {});
export const DEFAULT_CAPABILITIES: readonly Capability[] = ['tcp', 'connect-udp', 'watch'];

/** First request on every session: POST PATHS.handshake. */
export interface HandshakeRequest {
  version: number;
  minVersion: number;
  /** 'client' (user daemon), 'agent', or anything else the manager learns to tell apart. */
  peer: string;
  capabilities: Capability[];
}
export interface HandshakeResponse {
  /** The version both ends will speak: the highest one both support. */
  version: number;
  capabilities: Capability[];
}

/** Picks the version both ends speak, or explains in one sentence, naming both versions, why
 * there is none. `ours` is the traffic manager's side. */
export function negotiateVersion(
  ours: { version: number; minVersion: number },
  theirs: { version: number; minVersion: number },
): { ok: true; version: number } | { ok: false; message: string } {
  const version = Math.min(ours.version, theirs.version);
  if (version >= ours.minVersion && version >= theirs.minVersion) return { ok: true, version };
  const range = (v: { version: number; minVersion: number }) =>
    v.minVersion === v.version ? `${v.version}` : `${v.minVersion}..${v.version}`;
  const older = theirs.version < ours.minVersion ? 'peer' : 'traffic manager';
  return {
    ok: false,
    message:
      `tunnel protocol version mismatch: the peer speaks version ${range(theirs)}, ` +
      `the traffic manager speaks version ${range(ours)}; upgrade the ${older} so both match`,
  };
}

export const PATHS = {
  handshake: '/v1/handshake',
  callPrefix: '/v1/',
  watchPrefix: '/v1/watch/',
  /** RFC 9298 §2 default template, served by the tunnel itself. */
  udpPrefix: '/.well-known/masque/udp/',
} as const;
export const callPath = (method: string) => `${PATHS.callPrefix}${method}`;
export const watchPath = (topic: string) => `${PATHS.watchPrefix}${topic}`;

/** Header names; HTTP/2 requires lower case. */
export const HEADERS = {
  /** On every request after the handshake: the version negotiated for this session. */
  version: 'tp-tunnel-version',
  /** The manager's session id, sent once hello has returned one (lets the manager tell which
   * session a stream belongs to even when several sessions share one connection). */
  session: 'tp-session',
  /** On a failed CONNECT: the DialFailure, so the client can answer as a real network would. */
  dialError: 'tp-dial-error',
  /** On a failed CONNECT: one human sentence, URI-encoded (header values must be visible ASCII). */
  dialMessage: 'tp-dial-message',
  /** RFC 9297 §3.4. */
  capsuleProtocol: 'capsule-protocol',
  /** On an agent's CONNECT: the engagement an accepted in-cluster connection belongs to. The
   * manager pairs the stream with one the owning client opens (DESIGN.md §3, intercept flow). */
  engagement: 'tp-engagement',
  /** On an agent's CONNECT: the in-cluster peer, ip:port, for the client's logs. */
  peer: 'tp-peer',
  /** On a CONNECT that answers a 'dial' or 'sftp' event: the token the event carried. */
  rendezvous: 'tp-rendezvous',
  /** On a client's CONNECT: open the SFTP stream of this engagement's agent (volumes). */
  sftp: 'tp-sftp',
} as const;

/** The body of every non-2xx control-call or watch response. */
export interface WireError {
  /** Stable code, `E_` prefixed; callers branch on it, never on the message. */
  error: `E_${string}`;
  message: string;
  hint?: string;
}

export const ERROR_CODES = {
  badRequest: 'E_TUNNEL_BAD_REQUEST',
  unknownMethod: 'E_TUNNEL_UNKNOWN_METHOD',
  version: 'E_TUNNEL_VERSION',
  noHandshake: 'E_TUNNEL_NO_HANDSHAKE',
  internal: 'E_TUNNEL_INTERNAL',
  tooLarge: 'E_TUNNEL_TOO_LARGE',
  closed: 'E_TUNNEL_CLOSED',
  slowConsumer: 'E_TUNNEL_SLOW_CONSUMER',
} as const;

// ---- Control calls -------------------------------------------------------------------------
//
// A control call is `POST /v1/<method>` with a JSON request, answered by a JSON response.
// To add one, extend this interface where the call is owned (lib/common/rpc/manager.ts):
//
//   declare module '../../proxy/tunnel/protocol.js' {
//     interface ControlCalls { dns: { request: DnsRequest; response: DnsResponse } }
//   }
//
// and register its handler on the server with `server.handle('dns', validate, handler)`.
// TunnelClient.call('dns', ...) is then typed by the same entry.

export interface HelloRequest {
  /** Who is arriving: user@host for clients, pod name for agents. */
  name: string;
  /** Free-form facts for `tp status` and the manager's logs (os, tp version, namespace). */
  info?: Record<string, string>;
}
export interface HelloResponse {
  /** Sent back by the client in HEADERS.session on every later stream. */
  sessionId: string;
  /** How often the manager expects a heartbeat before it expires the session. */
  heartbeatIntervalMs: number;
}
export interface HeartbeatRequest {
  sessionId: string;
}
export type HeartbeatResponse = Record<string, never>;

export interface ControlCalls {
  hello: { request: HelloRequest; response: HelloResponse };
  heartbeat: { request: HeartbeatRequest; response: HeartbeatResponse };
}
export type Method = keyof ControlCalls & string;
export type CallRequest<M extends Method> = ControlCalls[M]['request'];
export type CallResponse<M extends Method> = ControlCalls[M]['response'];

/** Watches: `POST /v1/watch/<topic>` with a JSON request; the response is NDJSON, one event per
 * line, until either side ends the stream. Extend like ControlCalls. */
export interface Watches {}
export type Topic = keyof Watches & string;
// Helpers that resolve to `never` until someone declares a topic.
export type WatchRequest<T extends Topic> = Watches[T] extends { request: infer R } ? R : never;
export type WatchEvent<T extends Topic> = Watches[T] extends { event: infer E } ? E : never;

/** Method and topic names appear in paths: keep them to a plain identifier alphabet. */
export const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

// ---- Dial failures on the wire ---------------------------------------------------------------

const FAILURES: readonly DialFailure[] = ['refused', 'unreachable', 'timeout', 'nxdomain', 'forbidden', 'other'];

/** The status a server answers a failed CONNECT with. 504 for silence, 403 for policy, 502 for
 * everything the target (or its resolver) told us. 400 is reserved for a malformed request. */
export function dialFailureStatus(f: DialFailure): number {
  switch (f) {
    case 'timeout':
      return 504;
    case 'forbidden':
      return 403;
    default:
      return 502;
  }
}

/** The client's reading of a non-200 CONNECT answer. The reason header wins; without it
 * (a proxy in between, an older server) the status alone decides. */
export function dialFailureFrom(status: number, reason: string | undefined): DialFailure {
  if (reason !== undefined && (FAILURES as readonly string[]).includes(reason)) return reason as DialFailure;
  if (status === 504 || status === 408) return 'timeout';
  if (status === 403) return 'forbidden';
  return 'other';
}

/** Header values must be visible ASCII; keep the sentence readable but safe. */
export const encodeHeaderText = (s: string) => encodeURIComponent(s.slice(0, 512));
export function decodeHeaderText(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
