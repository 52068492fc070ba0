// One TCP port, two protocols: the agents' HTTP/2 (prior knowledge, h2c) and the kubelet's
// HTTP/1.1 probes. Node serves h2c and HTTP/1.1 only on separate servers (allowHTTP1 needs TLS),
// so the first bytes decide: the HTTP/2 connection preface starts with "PRI " (RFC 9113 §3.4),
// which no HTTP/1 method is.
//
// Budgets (#12, lib/common/limits.ts). The port is reachable from every pod. The first bytes must
// come within PORT_MUX_SNIFF_MS. The HTTP/1 side only answers health probes — one request per
// connection — so a health connection lives at most HEALTH_CONNECTION_TOTAL_MS, head included: the
// health server is handed sockets without listening, and Node enforces its own headersTimeout only
// on servers that listen, so the bound is kept here, on the socket. The HTTP/2 side's budgets are
// the agent API's (lib/manager/agent-api.ts).
import { createServer, type Server, type Socket } from 'node:net';
import { HEALTH_CONNECTION_TOTAL_MS, PORT_MUX_SNIFF_MS } from '../common/limits.js';

const PREFACE = Buffer.from('PRI ');

export interface PortMuxBudgets {
  /** The first bytes (enough to tell HTTP/2 from HTTP/1) must arrive within this. */
  sniffMs: number;
  /** An HTTP/1 (health) connection is closed this long after it was accepted. */
  healthTotalMs: number;
}

export const DEFAULT_PORT_MUX_BUDGETS: PortMuxBudgets = { sniffMs: PORT_MUX_SNIFF_MS, healthTotalMs: HEALTH_CONNECTION_TOTAL_MS };

export function createPortMux(onH2: (s: Socket) => void, onHttp1: (s: Socket) => void, budgets: Partial<PortMuxBudgets> = {}): Server {
  const b = { ...DEFAULT_PORT_MUX_BUDGETS, ...budgets };
  return createServer((sock) => {
    sock.on('error', () => {});
    let seen = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(), b.sniffMs);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (seen.length < PREFACE.length && PREFACE.subarray(0, seen.length).equals(seen)) return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      sock.unshift(seen);
      // node:http2 reads what is already buffered on the socket when it takes it over; node:http
      // only listens for 'data', so the paused socket must flow again once it is attached.
      if (seen.subarray(0, PREFACE.length).equals(PREFACE)) onH2(sock);
      else {
        const total = setTimeout(() => sock.destroy(), Math.max(0, b.healthTotalMs));
        sock.once('close', () => clearTimeout(total));
        onHttp1(sock);
        sock.resume();
      }
    };
    sock.on('data', onData);
    sock.once('close', () => clearTimeout(timer));
  });
}
