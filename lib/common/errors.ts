// tp's errors: one base class, one list of codes, one wire shape (issue #17; STYLE §5).
//
// - Every error a user, a script or another process may see is a TpError (or a subclass kept for
//   `instanceof`, like DaemonCallError or DialError): a stable code from TP_ERROR_CODES below, one
//   sentence saying what failed and why, a hint saying what to do, and the standard ES2022 `cause`
//   holding the error it came from (for logs and --debug, never for the terminal).
// - Codes, not classes, cross process boundaries. Every boundary — CLI↔user daemon, user↔root
//   daemon (lib/common/rpc/unix-http.ts), the tunnel's control calls and watches
//   (lib/proxy/tunnel) — sends the same body, WireError: `{error, message, hint?, detail?}`.
//   `toWire()` builds it, `fromWire()` rebuilds a TpError on the receiving side.
// - The CLI decides by code (lib/cli/output.ts: exit code, sentence, hint); nothing guesses from an
//   errno. Socket errors are turned into codes where the socket is dialled (daemonDownError in
//   lib/common/rpc/daemon.ts).
//
// Not here: parse errors of outside bytes (DNS, HTTP, tunnel framing) and control-flow signals
// that never leave their module; they are caught next to where they are thrown.

/** Every code tp sends or prints. Add a code here before throwing it; scripts branch on these. */
export const TP_ERROR_CODES = [
  // generic, any process
  'E_INTERNAL', //          an error without a sentence of its own: a bug
  'E_TIMEOUT',
  'E_ABORTED',
  'E_BAD_REQUEST', //       a request body the receiver refuses
  'E_UNKNOWN_CALL',
  'E_FLAG', //              a bad command-line flag (exit code 2)
  'E_CONFIG', //            the config file
  // the daemons and their sockets
  'E_NOT_RUNNING', //       nothing answers on the user daemon's socket
  'E_DAEMON', //            something answered, but not as the daemon does
  'E_DAEMON_START',
  'E_ROOT_NOT_RUNNING',
  'E_ROOT_DAEMON_START',
  'E_ROOT_WATCH',
  'E_NEED_ROOT',
  // connection to the cluster
  'E_NOT_CONNECTED',
  'E_ALREADY_CONNECTED',
  'E_NO_KUBECONFIG',
  'E_KUBECONFIG',
  'E_CONTEXT',
  'E_CLUSTER',
  'E_CLUSTER_TOO_OLD',
  'E_NO_CLUSTER_INFO',
  'E_NO_MANAGER',
  'E_MANAGER_NOT_READY',
  'E_NO_SUBNETS',
  'E_SUBNET_CONFLICT',
  'E_NOT_MAPPED',
  'E_SESSION_REFUSED',
  'E_SESSION_UNKNOWN',
  'E_NOT_YOUR_SESSION',
  'E_UNAUTHENTICATED',
  'E_UNAUTHORIZED',
  'E_FORBIDDEN',
  'E_RATE_LIMITED',
  'E_POLICY_MISSING',
  'E_PROXY_ADDRESS_IN_USE',
  'E_PROXY_LISTEN',
  // the Kubernetes API (lib/common/kube-errors.ts)
  'E_KUBERNETES',
  'E_KUBE_BUSY',
  'E_KUBE_CONFLICT',
  'E_KUBE_CREDENTIALS',
  'E_KUBE_FORBIDDEN',
  'E_KUBE_INVALID',
  'E_KUBE_NOT_FOUND',
  'E_KUBE_NO_API',
  'E_KUBE_NO_NAMESPACE',
  'E_KUBE_SERVER',
  'E_KUBE_TLS',
  'E_KUBE_UNAUTHORIZED',
  'E_KUBE_UNREACHABLE',
  'E_CONFLICT', //          a write lost to another writer (HTTP 409)
  // engagements
  'E_ENGAGE',
  'E_ENGAGE_INVALID',
  'E_ENGAGEMENT_CONFLICT',
  'E_ENGAGEMENT_ENDED',
  'E_ENGAGEMENT_EXISTS',
  'E_NO_ENGAGEMENT',
  'E_NOT_YOURS',
  'E_WORKLOAD_NOT_FOUND',
  'E_WORKLOAD_OWNED',
  'E_SCALED_TO_ZERO',
  'E_AGENT_TIMEOUT',
  'E_AGENT_UNAUTHENTICATED',
  'E_HEADER_PATTERN', //    an --http-header pattern tp refuses
  'E_PORT_FORWARD', //      the API server refused or broke a port-forward
  'E_ENV_SYNTAX',
  'E_ENV_UNREPRESENTABLE',
  'E_MOUNT_DIR',
  'E_MOUNT_FAILED',
  'E_SSHFS_MISSING',
  // tp-agent-init (lib/agent/init)
  'E_AGENT_INIT_CHECK',
  'E_AGENT_INIT_CONFIG',
  'E_AGENT_INIT_IPTABLES',
  'E_AGENT_INIT_NET_ADMIN',
  'E_AGENT_INIT_NO_IPTABLES',
  'E_AGENT_INIT_USAGE',
  // the root daemon's TUN and resolver (lib/root)
  'E_TUN_ADDON',
  'E_TUN_CONFIG',
  'E_TUN_IO',
  'E_TUN_NAME_IN_USE',
  'E_TUN_NO_DEVICE',
  'E_TUN_PERMISSION',
  'E_TUN_UNSUPPORTED',
  'E_RESOLVED_BUSCTL',
  'E_RESOLVED_CALL',
  // the tunnel (lib/proxy/tunnel) and its dials (lib/proxy/dialer.ts: one per DialFailure)
  'E_TUNNEL_BAD_REQUEST',
  'E_TUNNEL_CLOSED',
  'E_TUNNEL_INTERNAL',
  'E_TUNNEL_NO_HANDSHAKE',
  'E_TUNNEL_SLOW_CONSUMER',
  'E_TUNNEL_TOO_LARGE',
  'E_TUNNEL_UNKNOWN_METHOD',
  'E_TUNNEL_VERSION',
  'E_DIAL_REFUSED',
  'E_DIAL_UNREACHABLE',
  'E_DIAL_TIMEOUT',
  'E_DIAL_NXDOMAIN',
  'E_DIAL_FORBIDDEN',
  'E_DIAL_OTHER',
  // the chart engine (lib/helm)
  'E_HELM_CHART',
  'E_HELM_CLUSTER',
  'E_HELM_IMAGE_PULL',
  'E_HELM_MANAGER_CRASH',
  'E_HELM_MANIFEST',
  'E_HELM_NO_RELEASE',
  'E_HELM_RELEASE_EXISTS',
  'E_HELM_RELEASE_RECORD',
  'E_HELM_TEMPLATE_EXEC',
  'E_HELM_TEMPLATE_PARSE',
  'E_HELM_TIMEOUT',
  'E_HELM_UNSCHEDULABLE',
  'E_HELM_VALUES',
] as const;

export type ErrorCode = (typeof TP_ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(TP_ERROR_CODES);
export const isErrorCode = (s: unknown): s is ErrorCode => typeof s === 'string' && KNOWN.has(s);

/** The one error body on every wire of tp: a stable code for scripts, one sentence for the user,
 * what to do, and internals (a stack, a library's message) for --debug and the logs only. A peer
 * of another version may send a code this build does not list; it is kept as sent. */
export interface WireError {
  error: ErrorCode;
  message: string;
  hint?: string;
  detail?: string;
}

/** How much of a stack or library message travels as `detail`. */
const MAX_DETAIL = 8192;

export interface TpErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
  /** Internals for --debug (WireError.detail); the cause's stack when absent. */
  detail?: string | undefined;
}

export class TpError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Internals for --debug and the logs (WireError.detail). */
  detail?: string;

  constructor(code: ErrorCode, message: string, opts: TpErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TpError';
    this.code = code;
    if (opts.hint) this.hint = opts.hint;
    if (opts.detail !== undefined) this.detail = opts.detail;
  }

  toWire(): WireError {
    const detail = this.detail ?? detailOf(this.cause);
    return {
      error: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(detail ? { detail: detail.slice(0, MAX_DETAIL) } : {}),
    };
  }

  /** The TpError a WireError describes; `fallback` (code and sentence) stands in for a body that
   * is not one (a proxy's error page, an empty answer). */
  static fromWire(body: unknown, fallback: { code: ErrorCode; message: string }): TpError {
    const w = (typeof body === 'object' && body !== null ? body : {}) as Partial<Record<keyof WireError, unknown>>;
    const code = codeOf({ code: w.error }) ?? fallback.code;
    const message = typeof w.message === 'string' ? w.message : fallback.message;
    return new TpError(code, message, {
      hint: typeof w.hint === 'string' ? w.hint : undefined,
      detail: typeof w.detail === 'string' ? w.detail : undefined,
    });
  }
}

function detailOf(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) return cause.stack ?? cause.message;
  return String(cause);
}

export const isTpError = (e: unknown): e is TpError => e instanceof TpError;

/** The tp code an error carries (a TpError's, or one rebuilt from a wire by an older path), or
 * undefined for an error without one: an errno like ENOENT is not a tp code. As in fromWire, an
 * `E_` code this build does not list is kept as it came. */
export function codeOf(err: unknown): ErrorCode | undefined {
  const c = (err as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' && c.startsWith('E_') ? (c as ErrorCode) : undefined;
}
