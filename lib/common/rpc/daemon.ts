// The seam between the `tp` CLI and the user daemon: JSON over HTTP/1.1 on a unix socket in the
// user's runtime directory. Both sides import this module; the daemon validates every request.
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ClusterInfo, Workload } from './manager.js';
import type { EngagementInfo, EngagementKind, HttpFilterSpec } from './engagement.js';
import type { VifStatus } from './root.js';
import { TpError, type ErrorCode, type WireError } from '../errors.js';

/** Where the daemon's socket lives. TP_RUNTIME_DIR lets tests run several daemons side by side. */
export function runtimeDir(): string {
  if (process.env.TP_RUNTIME_DIR) return process.env.TP_RUNTIME_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, 'tp');
  return join('/tmp', `tp-${userInfo().uid}`);
}

export function daemonSocketPath(): string {
  return join(runtimeDir(), 'user-daemon.sock');
}

/** Where daemons write their logs (one file each). */
export function logDir(): string {
  if (process.env.TP_LOG_DIR) return process.env.TP_LOG_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tp', 'logs');
}

export interface ConnectRequest {
  /** --kubeconfig, absolute. */
  kubeconfig?: string;
  /** The CLI's KUBECONFIG with its paths made absolute ('' when unset): the daemon merges these
   * files as kubectl does, whatever its own environment says (lib/user/kube.ts). */
  kubeconfigEnv?: string;
  context?: string;
  namespace?: string;
  managerNamespace?: string;
  /** SOCKS5/HTTP proxy address "host:port". */
  socks?: string;
  /** Optional proxy credentials (SOCKS5 username/password, HTTP Basic). */
  socksUser?: string;
  socksPassword?: string;
  /** `--manager-address HOST:PORT`: the manager's direct route (TLS), tried before a port-forward. */
  managerAddress?: string;
  /** VIF mode (no --socks): extra subnets to route, subnets never to route, and whether a
   * cluster subnet may shadow one of the machine's routes. */
  alsoProxy?: string[];
  neverProxy?: string[];
  allowConflictingSubnets?: boolean;
  /** VIF mode: subnets reached through a virtual subnet even without an overlap (--vnat CIDR|all). */
  vnat?: string[];
  /** VIF mode: DNS suffixes also resolved in the cluster, and suffixes never resolved there. */
  dnsIncludeSuffixes?: string[];
  dnsExcludeSuffixes?: string[];
  /** --mapped-namespaces (or `mappedNamespaces:` in the config): names resolve, workloads are
   * listed and engaged only in these namespaces (issue #16). Absent or empty: every namespace
   * the user may see. */
  mappedNamespaces?: string[];
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface DaemonStatus {
  state: ConnectionState;
  daemonVersion: string;
  daemonPid: number;
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  namespace?: string;
  managerNamespace?: string;
  managerVersion?: string;
  managerPod?: string;
  /** How the connection reaches the manager: "port-forward to <pod>" or "direct HOST:PORT (TLS, CA pinned)". */
  managerRoute?: string;
  /** The Session object's name (not secret; `kubectl -n <manager ns> get session <name>`). */
  session?: string;
  /** Who the cluster says you are. */
  user?: string;
  /** The proxy's address when connected with --socks. */
  socks?: string;
  /** --mapped-namespaces of this connection; absent: every namespace the user may see. */
  mappedNamespaces?: string[];
  /** Namespaces whose names resolve in the cluster (pseudo-TLDs `NAME.NAMESPACE`), as the manager
   * says the user may see them: within the mapped ones when there are some. */
  dnsNamespaces?: string[];
  clusterInfo?: ClusterInfo;
  /** VIF mode: the root daemon's view (interface, routes, DNS, flows). */
  vif?: VifStatus;
  /** Why the last (re)connection attempt failed, when it did. */
  lastError?: string;
  reconnects: number;
  flows: { active: number; total: number; failed: number };
}

export interface ListRequest {
  namespace?: string;
}

export interface VersionInfo {
  client?: string;
  daemon: string;
  manager?: string;
  protocol?: number;
  /** The root daemon's version, when one runs (VIF mode). */
  rootDaemon?: string;
  /** The image the traffic manager injects as the agent (its TP_AGENT_IMAGE), when it can be read. */
  agentImage?: string;
  /** The traffic manager's own image. */
  managerImage?: string;
}

/** `tp intercept|replace|ingest|wiretap WORKLOAD`, as the CLI hands it to the daemon. */
export interface EngageCliRequest {
  kind: EngagementKind;
  workload: string;
  namespace?: string;
  name?: string;
  container?: string;
  /** `--port LOCAL[:REMOTE]`, repeatable. REMOTE is a port number or name. */
  ports: Array<{ local?: number; remote?: string }>;
  /** `--address`: where the local handler listens (default 127.0.0.1). */
  address?: string;
  filter?: HttpFilterSpec;
  /** `--mount`: an absolute directory, '' for a fresh one under the runtime dir, or false. */
  mount: string | false;
  timeoutMs?: number;
}

export interface LocalEngagement {
  engagement: EngagementInfo;
  /** Where each engaged port's connections go on this machine. */
  forwards: Array<{ remote: number; name?: string; address: string; local: number }>;
  mountPoint?: string;
  agentPod: string;
}

/** An engagement of this workstation that someone or something else ended (`tp list` says so). */
export interface EndedEngagement {
  name: string;
  namespace: string;
  kind: EngagementKind;
  workload: string;
  reason: string;
  /** Who deleted it, when the manager knows (an admin's kubectl delete). */
  by?: string;
  at: string;
}

export interface EngageCliResponse extends LocalEngagement {
  /** The app container's environment (for --env-file, --env-json and `-- CMD`). */
  env: Record<string, string>;
  /** What did not work but left the engagement in place (a failed mount), one sentence each with
   * its fix; the CLI prints them. */
  warnings?: string[];
}

export interface DaemonCalls {
  engage: { request: EngageCliRequest; response: EngageCliResponse };
  /** Progress lines of an engagement being set up (the CLI shows them while `engage` waits). */
  engageProgress: { request: { name: string }; response: { messages: string[] } };
  leave: { request: { name: string; namespace?: string }; response: { engagement: EngagementInfo } };
  engagements: { request: Record<string, never>; response: { engagements: LocalEngagement[]; ended: EndedEngagement[] } };
  uninstall: { request: { namespace?: string; workload?: string }; response: { workloads: string[] } };
  connect: { request: ConnectRequest; response: DaemonStatus };
  status: { request: Record<string, never>; response: DaemonStatus };
  /** Disconnect from the cluster and stop the daemon. */
  quit: { request: { stopRoot?: boolean }; response: Record<string, never> };
  version: { request: Record<string, never>; response: VersionInfo };
  list: { request: ListRequest; response: { namespace: string; user?: string; workloads: Workload[]; ended: EndedEngagement[] } };
  loglevel: { request: { level: string }; response: { level: string } };
}
export type DaemonMethod = keyof DaemonCalls;

/** An error answer: the one wire error of tp (lib/common/errors.ts). */
export type DaemonError = WireError;

/** An error a daemon answers with, or the CLI's call ran into. Kept as a class for `instanceof`
 * and for its positional constructor; it is a TpError like every other. */
export class DaemonCallError extends TpError {
  constructor(code: ErrorCode, message: string, hint?: string, opts: { cause?: unknown } = {}) {
    super(code, message, { hint, cause: opts.cause });
    this.name = 'DaemonCallError';
  }

  /** The DaemonCallError a daemon's error answer describes (`what`: the sentence for an answer
   * that is not a WireError). */
  static fromAnswer(body: unknown, what: string): DaemonCallError {
    const t = TpError.fromWire(body, { code: 'E_DAEMON', message: what });
    const err = new DaemonCallError(t.code, t.message, t.hint);
    if (t.detail !== undefined) err.detail = t.detail;
    return err;
  }
}

/** What the kernel says when nothing listens on a unix socket: no file (ENOENT), or a file with no
 * listener behind it (ECONNREFUSED: a daemon that died without removing it, or not a socket). */
const NOBODY_LISTENS = new Set(['ENOENT', 'ECONNREFUSED']);

/** The error for a failed connect() to a daemon's socket: E_NOT_RUNNING naming the socket when
 * nothing listens there, else undefined (the caller keeps the system's error). The one place
 * where an errno becomes "not running"; the socket's callers (the CLI's daemonCall, unixCall)
 * use it where they dial, and everything after them reads the code. */
export function daemonDownError(err: unknown, socketPath: string, who: string): DaemonCallError | undefined {
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall !== 'connect' || !NOBODY_LISTENS.has(e.code ?? '')) return undefined;
  return new DaemonCallError('E_NOT_RUNNING', `the ${who} is not running (nothing listens on ${socketPath})`, 'run `tp connect`', {
    cause: err,
  });
}
