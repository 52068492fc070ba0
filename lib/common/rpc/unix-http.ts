// JSON calls over HTTP/1.1 on a unix socket: the transport of the CLI↔user-daemon and
// user-daemon↔root-daemon seams. `POST /v1/<method>` with a JSON object; 200 with the result, or
// an error status with {error, message, hint}. Bodies are bounded; a bad request never throws out.
//
// Budgets (#12, lib/common/limits.ts): the request (head and body) must arrive within
// DAEMON_REQUEST_MS, idle kept-alive connections close after DAEMON_KEEPALIVE_MS, and at most
// DAEMON_MAX_CONNECTIONS are open at once. The answer may take as long as the call does. Only the
// socket's owner can connect (mode 0600), so these guard against the user's own runaway programs
// and keep a stuck client from holding the daemon's descriptors, not against other users.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DAEMON_KEEPALIVE_MS,
  DAEMON_MAX_BODY_BYTES,
  DAEMON_MAX_CONNECTIONS,
  DAEMON_MAX_HEADER_BYTES,
  DAEMON_REQUEST_MS,
  HTTP_BUDGET_CHECK_MS,
  HTTP_HEAD_TIMEOUT_MS,
} from '../limits.js';
import { codeOf } from '../errors.js';
import { DaemonCallError, daemonDownError } from './daemon.js';

export interface UnixServeBudgets {
  /** The request head must arrive within this (Node's headersTimeout). */
  headMs: number;
  /** The whole request, body included (Node's requestTimeout); at least headMs. */
  requestMs: number;
  keepAliveMs: number;
  maxConnections: number;
  /** How often Node checks headMs and requestMs. */
  checkMs: number;
}

export const DEFAULT_UNIX_BUDGETS: UnixServeBudgets = {
  headMs: HTTP_HEAD_TIMEOUT_MS,
  requestMs: DAEMON_REQUEST_MS,
  keepAliveMs: DAEMON_KEEPALIVE_MS,
  maxConnections: DAEMON_MAX_CONNECTIONS,
  checkMs: HTTP_BUDGET_CHECK_MS,
};

export async function unixCall<R>(socketPath: string, method: string, body: unknown, timeoutMs: number, who: string): Promise<R> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: `/v1/${method}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return reject(
              new DaemonCallError(
                'E_DAEMON',
                `the ${who} sent an unreadable answer (HTTP ${res.statusCode})`,
                'run `tp quit -s` and retry',
              ),
            );
          }
          if (res.statusCode === 200) return resolve(parsed as R);
          reject(DaemonCallError.fromAnswer(parsed, `HTTP ${res.statusCode}`));
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new DaemonCallError('E_TIMEOUT', `the ${who} did not answer ${method} within ${timeoutMs / 1000} s`)),
    );
    req.on('error', (err) => reject(daemonDownError(err, socketPath, who) ?? err));
    req.end(payload);
  });
}

export type Dispatch = (method: string, body: Record<string, unknown>) => Promise<unknown>;

/** Serves `dispatch` on a unix socket (mode 0600 unless given). Unknown methods are the
 * dispatcher's to reject with a DaemonCallError. */
export async function unixServe(
  socketPath: string,
  dispatch: Dispatch,
  onError: (url: string, e: DaemonCallError) => void,
  mode = 0o600,
  budgets: Partial<UnixServeBudgets> = {},
): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  rmSync(socketPath, { force: true });
  const b = { ...DEFAULT_UNIX_BUDGETS, ...budgets };
  const server = createServer(
    {
      headersTimeout: b.headMs,
      requestTimeout: Math.max(b.requestMs, b.headMs),
      keepAliveTimeout: b.keepAliveMs,
      connectionsCheckingInterval: b.checkMs,
      maxHeaderSize: DAEMON_MAX_HEADER_BYTES,
    },
    (req, res) => void serve(req, res, dispatch, onError),
  );
  server.maxConnections = b.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, mode);
  return server;
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  dispatch: Dispatch,
  onError: (url: string, e: DaemonCallError) => void,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  try {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/'))
      throw new DaemonCallError('E_UNKNOWN_CALL', `no call ${req.method} ${req.url}`);
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > DAEMON_MAX_BODY_BYTES) throw new DaemonCallError('E_BAD_REQUEST', 'the request is too large');
      chunks.push(c as Buffer);
    }
    let body: unknown = {};
    if (size > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw new DaemonCallError('E_BAD_REQUEST', 'the request is not JSON');
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new DaemonCallError('E_BAD_REQUEST', 'the request must be a JSON object');
    reply(200, await dispatch(req.url.slice(4), body as Record<string, unknown>));
  } catch (err) {
    const e = err instanceof DaemonCallError ? err : toCallError(err);
    onError(req.url ?? '', e);
    reply(e.code === 'E_BAD_REQUEST' || e.code === 'E_UNKNOWN_CALL' || e.code === 'E_FLAG' ? 400 : 500, e.toWire());
  }
}

/** Errors from below (tunnel, kube client, system calls) as one sentence with a hint. */
export function toCallError(err: unknown): DaemonCallError {
  const e = err as { message?: string; hint?: string };
  const code = codeOf(err);
  if (code) return new DaemonCallError(code, e.message ?? String(err), e.hint);
  const out = new DaemonCallError('E_INTERNAL', e.message ?? String(err));
  if (err instanceof Error && err.stack) out.detail = err.stack;
  return out;
}
