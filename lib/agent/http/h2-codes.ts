// What the agent says on one hop when something happened on the other: RST_STREAM error codes
// (RFC 9113 §7), gRPC deadlines (`grpc-timeout`) and the agent's own answers to a stream it could
// not forward. Pure functions.
import { constants } from 'node:http2';

const {
  NGHTTP2_NO_ERROR: NO_ERROR,
  NGHTTP2_PROTOCOL_ERROR: PROTOCOL_ERROR,
  NGHTTP2_INTERNAL_ERROR: INTERNAL_ERROR,
  NGHTTP2_FLOW_CONTROL_ERROR: FLOW_CONTROL_ERROR,
  NGHTTP2_SETTINGS_TIMEOUT: SETTINGS_TIMEOUT,
  NGHTTP2_STREAM_CLOSED: STREAM_CLOSED,
  NGHTTP2_FRAME_SIZE_ERROR: FRAME_SIZE_ERROR,
  NGHTTP2_REFUSED_STREAM: REFUSED_STREAM,
  NGHTTP2_CANCEL: CANCEL,
  NGHTTP2_COMPRESSION_ERROR: COMPRESSION_ERROR,
  NGHTTP2_CONNECT_ERROR: CONNECT_ERROR,
  NGHTTP2_ENHANCE_YOUR_CALM: ENHANCE_YOUR_CALM,
  NGHTTP2_INADEQUATE_SECURITY: INADEQUATE_SECURITY,
  NGHTTP2_HTTP_1_1_REQUIRED: HTTP_1_1_REQUIRED,
} = constants;

export { NO_ERROR, CANCEL, REFUSED_STREAM, INTERNAL_ERROR };

/**
 * The code to reset the other hop's stream with, when one hop's stream was reset with `code`.
 *
 * Codes that speak about the request pass through: CANCEL (the caller gave up; gRPC cancellation
 * and deadlines are this), REFUSED_STREAM (not processed, so the client may retry it, §8.7),
 * ENHANCE_YOUR_CALM, CONNECT_ERROR, HTTP_1_1_REQUIRED, INADEQUATE_SECURITY. Codes that say the
 * peer on that hop broke the protocol (PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR,
 * COMPRESSION_ERROR, STREAM_CLOSED, SETTINGS_TIMEOUT) describe that hop only: the other peer did
 * nothing wrong and gets INTERNAL_ERROR. NO_ERROR (§8.1: "stop sending, the response is complete")
 * passes through too; a stream cut for no code (a connection that died) is CANCEL.
 */
export function mapResetCode(code: number | undefined): number {
  switch (code) {
    case NO_ERROR:
    case CANCEL:
    case REFUSED_STREAM:
    case ENHANCE_YOUR_CALM:
    case CONNECT_ERROR:
    case HTTP_1_1_REQUIRED:
    case INADEQUATE_SECURITY:
    case INTERNAL_ERROR:
      return code;
    case PROTOCOL_ERROR:
    case FLOW_CONTROL_ERROR:
    case FRAME_SIZE_ERROR:
    case COMPRESSION_ERROR:
    case STREAM_CLOSED:
    case SETTINGS_TIMEOUT:
      return INTERNAL_ERROR;
    default:
      return code === undefined ? CANCEL : INTERNAL_ERROR;
  }
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** `grpc-timeout` (gRPC over HTTP/2: 1–8 digits and a unit H M S m u n) in milliseconds, or
 * undefined when absent or malformed (a malformed one is forwarded as it is, and not enforced). */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** A remaining deadline as `grpc-timeout`: whole milliseconds (rounded up, at least 1), in the
 * unit that keeps it within 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  if (n < 1e8) return `${n}m`;
  const s = Math.ceil(n / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 60))}M`;
}

export const isGrpc = (contentType: string | string[] | undefined) =>
  typeof contentType === 'string' && /^application\/grpc(?:[+;]|$)/i.test(contentType);

/** gRPC status codes the agent answers with (grpc/doc/statuscodes.md). */
export const GRPC = { DEADLINE_EXCEEDED: 4, UNAVAILABLE: 14, INTERNAL: 13 } as const;

/** HTTP status the agent answers a non-gRPC stream with, for the same situations. */
export const HTTP_FOR_GRPC: Record<number, number> = { 4: 504, 14: 502, 13: 502 };

/**
 * The agent's own answer to a stream it could not forward (or whose deadline passed): gRPC's
 * trailers-only form (one HEADERS frame with END_STREAM, :status 200 and grpc-status, so that
 * gRPC clients report the status and message rather than a transport error), else a short
 * text/plain response with the matching HTTP status.
 */
export function agentAnswer(
  grpc: boolean,
  grpcStatus: number,
  message: string,
): { headers: Record<string, string | number>; body?: string } {
  // grpc-message is percent-encoded (gRPC over HTTP/2): keep it to printable ASCII.
  const msg = `tp-agent: ${message}`;
  if (grpc) {
    return {
      headers: { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': grpcStatus, 'grpc-message': encodeURIComponent(msg) },
    };
  }
  return {
    headers: { ':status': HTTP_FOR_GRPC[grpcStatus] ?? 502, 'content-type': 'text/plain; charset=utf-8' },
    body: `${msg}\n`,
  };
}
