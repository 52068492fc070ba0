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
//   CONNECT :protocol <kind>  → a byte stream of an API-defined kind (an engaged connection, a
//                              pairing answer, SFTP): 200 once the server has the other end,
//                              then the same DATA / END_STREAM / RST_STREAM rules as a TCP flow.

import type { DialFailure } from '../dialer.js';
import type { ErrorCode } from '../../common/errors.js';
import * as s from '../../common/rpc/schema.js';

/** Bumped when a change would make an older peer misbehave (2: sessions authenticate with a secret
 * and engagement streams are kinds of their own, issue #11). Additive changes (a new control call,
 * a new optional field) are announced through capabilities instead. */
export const TUNNEL_PROTOCOL_VERSION = 2;
/** The oldest version this build still speaks. */
export const TUNNEL_PROTOCOL_MIN_VERSION = 2;

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
/** Unknown fields are dropped: a newer peer may say more in its handshake (additive changes are
 * announced through capabilities, never forced on the receiver). */
export const handshakeSchema = s.object(
  {
    version: s.integer({ min: 0 }),
    minVersion: s.integer({ min: 0 }),
    peer: s.string({ maxLength: 64 }),
    capabilities: s.array(s.string({ maxLength: 64 }), { maxItems: 64 }),
  },
  { unknown: 'strip' },
);
true satisfies s.Agrees<HandshakeRequest, typeof handshakeSchema>;

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
  /** On a failed CONNECT: the DialFailure, so the client can answer as a real network would. */
  dialError: 'tp-dial-error',
  /** On a failed CONNECT: one human sentence, URI-encoded (header values must be visible ASCII). */
  dialMessage: 'tp-dial-message',
  /** RFC 9297 §3.4. */
  capsuleProtocol: 'capsule-protocol',
  /** On a request refused unread (before authentication): the WireError code and its sentence
   * (URI-encoded), in the headers of a response that has no body — the stream is then reset so
   * that nothing more of the request is sent. */
  errorCode: 'tp-error',
  errorMessage: 'tp-error-message',
} as const;

/** The body of every non-2xx control-call or watch response: tp's one wire error
 * (lib/common/errors.ts), the same the daemons answer with. Callers branch on its code. */
export type { WireError } from '../../common/errors.js';

export const ERROR_CODES = {
  badRequest: 'E_TUNNEL_BAD_REQUEST',
  unknownMethod: 'E_TUNNEL_UNKNOWN_METHOD',
  version: 'E_TUNNEL_VERSION',
  noHandshake: 'E_TUNNEL_NO_HANDSHAKE',
  internal: 'E_TUNNEL_INTERNAL',
  tooLarge: 'E_TUNNEL_TOO_LARGE',
  closed: 'E_TUNNEL_CLOSED',
  slowConsumer: 'E_TUNNEL_SLOW_CONSUMER',
  /** A stream other than the API's hello on a connection that has not authenticated. */
  unauthenticated: 'E_UNAUTHENTICATED',
} as const satisfies Record<string, ErrorCode>;

// ---- APIs carried by the tunnel ------------------------------------------------------------
//
// The tunnel knows no particular call. An API is a type (its calls and watches) plus a definition
// value (a validator per call and watch, and which calls a peer may make before it has
// authenticated), both written once in the seam module of the boundary it serves
// (lib/common/rpc/manager.ts for clients, lib/common/rpc/agent.ts for agents) and imported by the
// server that handles it and the client that calls it.
//
//   A control call is `POST /v1/<method>` with a JSON request, answered by a JSON response.
//   A watch is `POST /v1/watch/<topic>` with a JSON request; the response is NDJSON, one event per
//   line, until either side ends the stream.
//   A stream kind is an extended CONNECT (RFC 8441) whose `:protocol` names what the stream is
//   for (an engaged connection, a pairing answer, SFTP); the server authorizes each kind itself.

export type {
  ApiDefinition,
  ApiSpec,
  CallName,
  CallRequest,
  CallResponse,
  CallSpec,
  NoApi,
  TopicName,
  Validator,
  WatchEvent,
  WatchRequest,
  WatchSpec,
} from '../../common/rpc/api.js';
export { NO_API } from '../../common/rpc/api.js';

/** Method and topic names appear in paths: keep them to a plain identifier alphabet. */
export const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Stream kinds (`:protocol` of an extended CONNECT) use the token alphabet of RFC 9110 §5.6.2. */
export const STREAM_KIND_RE = /^[a-z][a-z0-9-]{0,31}$/;

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
