// Shapes shared by the proxy's modules: the log hook, the counters, the credentials.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Structured log hook: a fixed message and fields, never assembled text (STYLE.md §7). */
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
export const noLog: LogFn = () => {};

export interface Credentials {
  username: string;
  password: string;
}

/** Counters, read by `tp status` and tests. Per-connection facts are counted, not logged. */
export interface ProxyStats {
  /** Accepted TCP connections, open now / ever. */
  connectionsActive: number;
  connectionsTotal: number;
  /** Connections by protocol, as sniffed from the first byte. */
  socks5Connections: number;
  socks4Rejected: number;
  httpConnections: number;
  /** Absolute-URI HTTP requests forwarded (a keep-alive connection carries several). */
  httpRequests: number;
  /** Dialed TCP flows (SOCKS CONNECT, HTTP CONNECT, HTTP requests), open now / ever. */
  flowsActive: number;
  flowsTotal: number;
  dialFailures: number;
  authFailures: number;
  /** Malformed or unsupported requests and handshake timeouts. */
  protocolErrors: number;
  /** Connections closed at accept because too many were still in their handshake (#12). */
  handshakesRefused: number;
  /** HTTP connections closed because a request head did not arrive in time (#12). */
  headTimeouts: number;
  udpAssociationsActive: number;
  udpAssociationsTotal: number;
  udpFlowsActive: number;
  udpDatagramsToCluster: number;
  udpDatagramsFromCluster: number;
  /** Datagrams dropped: fragments, strangers, bad headers, congestion, too many flows. */
  udpDatagramsDropped: number;
}

export function newStats(): ProxyStats {
  return {
    connectionsActive: 0,
    connectionsTotal: 0,
    socks5Connections: 0,
    socks4Rejected: 0,
    httpConnections: 0,
    httpRequests: 0,
    flowsActive: 0,
    flowsTotal: 0,
    dialFailures: 0,
    authFailures: 0,
    protocolErrors: 0,
    handshakesRefused: 0,
    headTimeouts: 0,
    udpAssociationsActive: 0,
    udpAssociationsTotal: 0,
    udpFlowsActive: 0,
    udpDatagramsToCluster: 0,
    udpDatagramsFromCluster: 0,
    udpDatagramsDropped: 0,
  };
}
