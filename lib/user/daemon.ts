// The user daemon's API server: DaemonCalls (lib/common/rpc/daemon.ts) as JSON over HTTP/1.1 on
// a unix socket. Every request is validated; every failure is answered with one sentence and
// the daemon stays up.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DaemonCallError, type ConnectRequest, type DaemonCalls, type DaemonMethod, type DaemonStatus } from '../common/rpc/daemon.js';
import { isLevel, type Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { TUNNEL_PROTOCOL_VERSION } from '../proxy/tunnel/protocol.js';
import { Connection } from './connection.js';

type Handler<M extends DaemonMethod> = (req: DaemonCalls[M]['request']) => Promise<DaemonCalls[M]['response']>;

const MAX_BODY = 64 * 1024;

function strField(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 4096) throw new DaemonCallError('E_BAD_REQUEST', `"${k}" must be a string`);
  return v;
}

function validateConnect(body: Record<string, unknown>): ConnectRequest {
  const out: ConnectRequest = {};
  for (const k of ['kubeconfig', 'context', 'namespace', 'managerNamespace', 'socks', 'socksUser', 'socksPassword'] as const) {
    const v = strField(body, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

export class UserDaemon {
  #conn: Connection | undefined;
  #connecting: Promise<Connection> | undefined;
  #server: Server | undefined;
  readonly #handlers: { [M in DaemonMethod]: Handler<M> };

  constructor(
    private readonly socketPath: string,
    private readonly log: Logger,
    private readonly onQuit: () => void,
  ) {
    this.#handlers = {
      connect: (req) => this.#connect(req),
      status: async () => this.#status(),
      quit: async () => {
        await this.#disconnect();
        setImmediate(this.onQuit);
        return {};
      },
      version: async () => {
        const c = this.#conn?.session;
        return { daemon: TP_VERSION, ...(c?.managerVersion ? { manager: c.managerVersion } : {}), protocol: TUNNEL_PROTOCOL_VERSION };
      },
      list: async (req) => {
        const conn = this.#requireConnected();
        const namespace = req.namespace || conn.namespace;
        const client = await conn.session.current(5_000).catch(() => {
          throw new DaemonCallError('E_NOT_CONNECTED', 'the traffic manager is unreachable right now', 'see `tp status`');
        });
        const res = await client.call('listWorkloads', { namespace });
        return { namespace, workloads: res.workloads };
      },
      loglevel: async (req) => {
        if (!isLevel(req.level)) throw new DaemonCallError('E_FLAG', `"${req.level}" is not a log level`, 'use one of trace, debug, info, warn, error');
        this.log.level = req.level;
        return { level: req.level };
      },
    };
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    rmSync(this.socketPath, { force: true });
    this.#server = createServer((req, res) => void this.#serve(req, res));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    await this.#disconnect();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }

  #requireConnected(): Connection {
    if (!this.#conn) throw new DaemonCallError('E_NOT_CONNECTED', 'tp is not connected to a cluster', 'run `tp connect` first');
    return this.#conn;
  }

  #status(): DaemonStatus {
    if (this.#conn) return this.#conn.status();
    return { state: this.#connecting ? 'connecting' : 'disconnected', daemonVersion: TP_VERSION, daemonPid: process.pid, reconnects: 0, flows: { active: 0, total: 0, failed: 0 } };
  }

  async #connect(req: ConnectRequest): Promise<DaemonStatus> {
    if (this.#connecting) await this.#connecting.catch(() => {});
    if (this.#conn) {
      if (this.#conn.sameAs(req)) return this.#conn.status();
      const s = this.#conn.status();
      throw new DaemonCallError('E_ALREADY_CONNECTED', `tp is already connected to context "${s.context}" (namespace ${s.namespace}${s.socks ? `, SOCKS on ${s.socks}` : ''})`, 'run `tp quit` first to connect differently');
    }
    this.#connecting = Connection.open(req, this.log);
    try {
      this.#conn = await this.#connecting;
      this.log.info('connected', { context: this.#conn.target.context, namespace: this.#conn.namespace, socks: this.#conn.socksAddress });
      return this.#conn.status();
    } finally {
      this.#connecting = undefined;
    }
  }

  async #disconnect(): Promise<void> {
    const c = this.#conn;
    this.#conn = undefined;
    if (c) {
      await c.close();
      this.log.info('disconnected');
    }
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const method = (req.url ?? '').replace(/^\/v1\//, '') as DaemonMethod;
      if (req.method !== 'POST' || !Object.hasOwn(this.#handlers, method)) {
        throw new DaemonCallError('E_UNKNOWN_CALL', `the user daemon has no call ${req.method} ${req.url}`, 'the CLI and the daemon may be of different versions: run `tp quit` and retry');
      }
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) throw new DaemonCallError('E_BAD_REQUEST', 'the request is too large');
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
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DaemonCallError('E_BAD_REQUEST', 'the request must be a JSON object');
      const o = body as Record<string, unknown>;
      const request =
        method === 'connect' ? validateConnect(o)
        : method === 'list' ? { ...(strField(o, 'namespace') ? { namespace: strField(o, 'namespace')! } : {}) }
        : method === 'loglevel' ? { level: strField(o, 'level') ?? '' }
        : {};
      const handler = this.#handlers[method] as Handler<DaemonMethod>;
      reply(200, await handler(request as never));
    } catch (err) {
      const e = err instanceof DaemonCallError ? err : toDaemonError(err);
      this.log.warn('call failed', { url: req.url, code: e.code, err: e.message });
      reply(e.code === 'E_BAD_REQUEST' || e.code === 'E_UNKNOWN_CALL' || e.code === 'E_FLAG' ? 400 : 500, e.toWire());
    }
  }
}

/** Errors from below (tunnel, kube client) as one sentence with a hint. */
function toDaemonError(err: unknown): DaemonCallError {
  const e = err as { code?: unknown; message?: string; hint?: string };
  if (typeof e.code === 'string' && e.code.startsWith('E_')) return new DaemonCallError(e.code, e.message ?? String(err), e.hint);
  return new DaemonCallError('E_INTERNAL', e.message ?? String(err));
}
