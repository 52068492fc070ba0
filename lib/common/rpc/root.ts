// The seam between the user daemon and the root daemon (VIF mode): JSON over HTTP/1.1 on a unix
// socket that only root and the user who started it can open. The root daemon never reads the
// user's kubeconfig: it reaches the traffic manager through `relaySocket`, a unix socket the user
// daemon serves by opening a fresh port-forward for each connection.
import { constants } from 'node:os';
import { join } from 'node:path';

/** The root daemon's socket. TP_ROOT_RUNTIME_DIR lets tests run one per network namespace. */
export function rootRuntimeDir(): string {
  return process.env.TP_ROOT_RUNTIME_DIR || '/run/tp';
}
export function rootSocketPath(): string {
  return join(rootRuntimeDir(), 'root-daemon.sock');
}
/** What the root daemon changed on the system, kept so that a crash is undone on the next start. */
export function rootStatePath(): string {
  return join(rootRuntimeDir(), 'root-state.json');
}
/** The held connection of a user daemon (RootWatchEvent lines): the root daemon follows it, and
 * the user daemon learns at once when the root daemon is gone (lib/root/main.ts says how). */
export function rootWatchSocketPath(): string {
  return join(rootRuntimeDir(), 'root-watch.sock');
}
/** How the last root daemon ended (RootExit), written by its guardian. */
export function rootExitPath(): string {
  return join(rootRuntimeDir(), 'root-exit.json');
}

/** One NDJSON line on the watch socket, root daemon → user daemon. */
export type RootWatchEvent =
  /** First line of every watch: whose it is. */
  | { type: 'hello'; pid: number; guardianPid: number; version: string }
  /** The root daemon is leaving on its own (quit, SIGTERM, its user daemon gone): why. */
  | { type: 'exiting'; reason: string };

/** How a root daemon ended, as its guardian saw it (waitpid) plus the reason it stated, if any. */
export interface RootExit {
  pid: number;
  guardianPid: number;
  /** ISO time of the exit. */
  at: string;
  /** The signal that killed it (e.g. 'SIGKILL'), or its exit code. */
  signal?: string;
  code?: number;
  /** Why it left, when it left on its own ("tp quit -s", "its user daemon was gone for 10 s"). */
  stated?: string;
  /** What the guardian undid after the exit (empty when the daemon had cleaned up itself). */
  reverted: string[];
}

/** "killed by signal 9", "exited with code 1", or the reason it stated. */
export function describeRootExit(e: Pick<RootExit, 'signal' | 'code' | 'stated'>): string {
  if (e.stated) return e.stated;
  if (e.signal) {
    const n = (constants.signals as Record<string, number | undefined>)[e.signal];
    return n === undefined ? `killed by ${e.signal}` : `killed by signal ${n}`;
  }
  if (e.code !== undefined) return `exited with code ${e.code}`;
  return 'exited';
}

/** The one sentence `tp status` shows while the VIF is down, with what to do; `why` once known. */
export function vifDownSentence(why?: string): string {
  return `the VIF is down: the root daemon exited${why ? ` (${why})` : ''}; run tp connect`;
}

export interface VifConnectRequest {
  /** The user daemon's relay to the traffic manager (one port-forward per connection). */
  relaySocket: string;
  /** The user daemon's Session and its secret: the root daemon's tunnel authenticates as the same
   * session (it travels only over the root daemon's socket, which only root and the user open). */
  session: { session: string; secret: string };
  /** The client's namespace: single-label names resolve in it. */
  namespace: string;
  /** Subnets to route into the TUN: service and pod CIDRs plus --also-proxy. */
  subnets: string[];
  /** Subnets never to route, even inside the above (--never-proxy). */
  neverProxy: string[];
  /** Route the real subnet even when it overlaps an existing route (--allow-conflicting-subnets),
   * instead of reaching it through a virtual subnet (VNAT). */
  allowConflicting: boolean;
  /** --vnat: subnets reached through a virtual subnet even without an overlap (CIDRs overlapping
   * a routed subnet, or 'all'). */
  vnat?: string[];
  clusterDomain: string;
  /** The cluster DNS Service's IP: queries to it are answered through the manager too. */
  clusterDnsIP?: string;
  /** Extra DNS suffixes resolved in the cluster (--dns-include-suffix), and suffixes never. */
  dnsIncludeSuffixes: string[];
  dnsExcludeSuffixes: string[];
  /** Namespaces whose names resolve in the cluster (pseudo-TLDs: `svc.ns`): those the user may
   * see, as the manager says, or the mapped namespaces. */
  namespaces: string[];
  /** `tp connect --mapped-namespaces` (issue #16): the root daemon's own hello names them too, so
   * the manager limits the session's DNS whichever of its connections says hello first. */
  mappedNamespaces?: string[];
}

export interface VifStatus {
  connected: boolean;
  interface?: string;
  mtu?: number;
  address?: string;
  routes: string[];
  neverProxy: string[];
  /** Subnets reached at virtual addresses (VNAT): `real` is the cluster's, `virtual` is what is
   * routed into the TUN and what DNS answers carry; `reason` is the overlapped route or --vnat. */
  vnat?: Array<{ real: string; virtual: string; reason: string }>;
  dns?: {
    listen: string;
    mode: 'iptables' | 'systemd-resolved' | 'none';
    upstreams: string[];
    clusterDomain: string;
    queries: number;
    clusterAnswers: number;
    forwarded: number;
  };
  flows: { tcpActive: number; tcpTotal: number; udpActive: number; dialFailures: number };
  pid: number;
  /** The root daemon's guardian, which undoes its changes if it dies (lib/root/main.ts). */
  guardianPid?: number;
  version: string;
  /** Set by the user daemon when the VIF is gone: one sentence with the fix (vifDownSentence). */
  down?: string;
}

export interface RootCalls {
  connect: { request: VifConnectRequest; response: VifStatus };
  disconnect: { request: Record<string, never>; response: VifStatus };
  /** The cluster's subnets changed while connected (plus --also-proxy, as at connect). */
  setSubnets: { request: { subnets: string[] }; response: VifStatus };
  /** The user daemon made a new Session (the old one expired): authenticate as this one now. */
  setSession: { request: { session: string; secret: string }; response: Record<string, never> };
  status: { request: Record<string, never>; response: VifStatus };
  quit: { request: Record<string, never>; response: Record<string, never> };
}
export type RootMethod = keyof RootCalls;
