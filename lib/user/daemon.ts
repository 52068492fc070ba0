// The user daemon's API server: DaemonCalls (lib/common/rpc/daemon.ts) as JSON over HTTP/1.1 on
// a unix socket. Every request is validated; every failure is answered with one sentence and
// the daemon stays up.
import type { Server } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { rmSync } from 'node:fs';
import { unixServe } from '../common/rpc/unix-http.js';
import { DaemonCallError, type EngageCliRequest, type ConnectRequest, type DaemonCalls, type DaemonMethod, type DaemonStatus } from '../common/rpc/daemon.js';
import { isLevel, type Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { TUNNEL_PROTOCOL_VERSION } from '../proxy/tunnel/protocol.js';
import { Connection } from './connection.js';
import { callRoot, rootRunning } from './root-link.js';
import { kubeFailure } from './kube.js';

type Handler<M extends DaemonMethod> = (req: DaemonCalls[M]['request']) => Promise<DaemonCalls[M]['response']>;

function strField(o: Record<string, unknown>, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 4096) throw new DaemonCallError('E_BAD_REQUEST', `"${k}" must be a string`);
  return v;
}

function validateConnect(body: Record<string, unknown>): ConnectRequest {
  const out: ConnectRequest = {};
  for (const k of ['kubeconfig', 'kubeconfigEnv', 'context', 'namespace', 'managerNamespace', 'socks', 'socksUser', 'socksPassword', 'managerAddress'] as const) {
    const v = strField(body, k);
    if (v !== undefined) out[k] = v;
  }
  for (const k of ['alsoProxy', 'neverProxy', 'vnat', 'dnsIncludeSuffixes', 'dnsExcludeSuffixes'] as const) {
    const v = body[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new DaemonCallError('E_BAD_REQUEST', `"${k}" must be a list of strings`);
    out[k] = v as string[];
  }
  if (body.allowConflictingSubnets === true) out.allowConflictingSubnets = true;
  const mapped = body.mappedNamespaces;
  if (mapped !== undefined) {
    if (!Array.isArray(mapped) || mapped.length > 256) throw new DaemonCallError('E_BAD_REQUEST', '"mappedNamespaces" must be a list of at most 256 namespaces');
    for (const n of mapped) {
      if (typeof n !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)) throw new DaemonCallError('E_FLAG', `--mapped-namespaces: "${String(n).slice(0, 80)}" is not a namespace name`, 'list namespaces separated by commas: --mapped-namespaces team-a,team-b');
    }
    if (mapped.length > 0) out.mappedNamespaces = [...new Set(mapped as string[])];
  }
  return out;
}

const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function validateEngage(body: Record<string, unknown>): EngageCliRequest {
  const kind = strField(body, 'kind');
  if (kind !== 'intercept' && kind !== 'replace' && kind !== 'ingest' && kind !== 'wiretap') throw new DaemonCallError('E_BAD_REQUEST', '"kind" must be intercept, replace, ingest or wiretap');
  const workload = strField(body, 'workload');
  if (!workload || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(workload)) throw new DaemonCallError('E_FLAG', `"${workload ?? ''}" is not a workload name`, 'see `tp list`');
  const out: EngageCliRequest = { kind, workload, ports: [], mount: false };
  for (const k of ['namespace', 'name', 'container', 'address'] as const) {
    const v = strField(body, k);
    if (v !== undefined) out[k] = v;
  }
  if (out.name !== undefined && !NAME_RE.test(out.name)) throw new DaemonCallError('E_FLAG', `--name "${out.name}" must be letters, digits, '-', '_' or '.'`);
  const ports = body.ports ?? [];
  if (!Array.isArray(ports) || ports.length > 32) throw new DaemonCallError('E_BAD_REQUEST', '"ports" must be a list');
  for (const p of ports as Array<Record<string, unknown>>) {
    const local = p?.local;
    const remote = p?.remote;
    if (local !== undefined && (typeof local !== 'number' || !Number.isInteger(local) || local < 1 || local > 65535)) throw new DaemonCallError('E_FLAG', `local port ${String(local)} is out of range 1-65535`);
    if (remote !== undefined && (typeof remote !== 'string' || !/^[a-z0-9-]{1,15}$/.test(remote))) throw new DaemonCallError('E_FLAG', `remote port "${String(remote)}" must be a port number or name`);
    out.ports.push({ ...(local !== undefined ? { local: local as number } : {}), ...(remote !== undefined ? { remote: remote as string } : {}) });
  }
  const mount = body.mount;
  if (mount !== false && typeof mount !== 'string') throw new DaemonCallError('E_BAD_REQUEST', '"mount" must be a directory, "" or false');
  if (typeof mount === 'string' && mount !== '' && !mount.startsWith('/')) throw new DaemonCallError('E_FLAG', `--mount ${mount} must be an absolute path`);
  out.mount = mount as string | false;
  if (body.filter !== undefined) {
    const f = body.filter as Record<string, unknown>;
    const headers: Record<string, string> = {};
    if (f && typeof f.headers === 'object' && f.headers !== null) for (const [k, v] of Object.entries(f.headers)) if (typeof v === 'string') headers[k] = v;
    out.filter = { headers, ...(typeof f?.pathPrefix === 'string' ? { pathPrefix: f.pathPrefix } : {}) };
  }
  if (typeof body.timeoutMs === 'number') out.timeoutMs = body.timeoutMs;
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
      status: async () => {
        const s = this.#status();
        const vif = await this.#conn?.vifStatus();
        return vif ? { ...s, vif } : s;
      },
      quit: async (req) => {
        await this.#disconnect();
        if (req.stopRoot && (await rootRunning())) await callRoot('quit', {}).catch(() => {});
        setImmediate(this.onQuit);
        return {};
      },
      version: async () => {
        const c = this.#conn?.session;
        const root = (await rootRunning()) ? await callRoot('status', {}, 3_000).catch(() => undefined) : undefined;
        const images = await this.#managerImages();
        return {
          daemon: TP_VERSION, ...(c?.managerVersion ? { manager: c.managerVersion } : {}), protocol: TUNNEL_PROTOCOL_VERSION,
          ...(root ? { rootDaemon: root.version } : {}), ...images,
        };
      },
      list: async (req) => {
        const conn = this.#requireConnected();
        const namespace = req.namespace || conn.namespace;
        const client = await conn.session.current(5_000).catch(() => {
          throw new DaemonCallError('E_NOT_CONNECTED', 'the traffic manager is unreachable right now', 'see `tp status`');
        });
        const res = await client.call('listWorkloads', { namespace });
        const user = conn.session.owner;
        // One's own engagements first (issue #15): they are what one acts on.
        for (const w of res.workloads) w.engagements?.sort((a, b) => Number(b.owner === user) - Number(a.owner === user));
        res.workloads.sort((a, b) => Number(!!b.engagements?.some((e) => e.owner === user)) - Number(!!a.engagements?.some((e) => e.owner === user)));
        return { namespace, ...(user ? { user } : {}), workloads: res.workloads, ended: (conn.engagements?.ended() ?? []).filter((e) => e.namespace === namespace) };
      },
      engage: (req) => {
        const conn = this.#requireConnected();
        conn.requireMapped(req.namespace || conn.namespace);
        return this.#engagements().engage(req);
      },
      engageProgress: async (req) => ({ messages: this.#conn?.engagements?.progress(req.name) ?? [] }),
      leave: async (req) => ({ engagement: await this.#engagements().leave(req.name, req.namespace) }),
      engagements: async () => ({ engagements: this.#conn?.engagements?.list() ?? [], ended: this.#conn?.engagements?.ended() ?? [] }),
      uninstall: async (req) => {
        const conn = this.#requireConnected();
        const client = await conn.session.current(5_000);
        return client.call('uninstallAgents', { namespace: req.namespace || conn.namespace, ...(req.workload ? { workload: req.workload } : {}) });
      },
      loglevel: async (req) => {
        if (!isLevel(req.level)) throw new DaemonCallError('E_FLAG', `"${req.level}" is not a log level`, 'use one of trace, debug, info, warn, error');
        this.log.level = req.level;
        return { level: req.level };
      },
    };
  }

  async listen(): Promise<void> {
    this.#server = await unixServe(this.socketPath, (method, body) => this.#dispatch(method, body), (url, e) => this.log.warn('call failed', { url, code: e.code, err: e.message }));
  }

  #dispatch(method: string, o: Record<string, unknown>): Promise<unknown> {
    if (!Object.hasOwn(this.#handlers, method)) {
      throw new DaemonCallError('E_UNKNOWN_CALL', `the user daemon has no call ${method}`, 'the CLI and the daemon may be of different versions: run `tp quit` and retry');
    }
    const request =
      method === 'connect' ? validateConnect(o)
      : method === 'list' ? { ...(strField(o, 'namespace') ? { namespace: strField(o, 'namespace')! } : {}) }
      : method === 'loglevel' ? { level: strField(o, 'level') ?? '' }
      : method === 'quit' ? { stopRoot: o.stopRoot === true }
      : method === 'engage' ? validateEngage(o)
      : method === 'leave' ? { name: strField(o, 'name') ?? '', ...(strField(o, 'namespace') ? { namespace: strField(o, 'namespace')! } : {}) }
      : method === 'engageProgress' ? { name: strField(o, 'name') ?? '' }
      : method === 'uninstall' ? { ...(strField(o, 'namespace') ? { namespace: strField(o, 'namespace')! } : {}), ...(strField(o, 'workload') ? { workload: strField(o, 'workload')! } : {}) }
      : {};
    const handler = this.#handlers[method as DaemonMethod] as Handler<DaemonMethod>;
    return handler(request as never).catch((err: unknown) => {
      throw this.#explain(method, err);
    });
  }

  /** An API failure gets its sentence (lib/user/kube.ts); anything else without a code is a bug,
   * logged with its stack here and answered as E_INTERNAL with the stack as the --debug detail. */
  #explain(method: string, err: unknown): unknown {
    const t = this.#conn?.target;
    const e = t ? kubeFailure(err, t) : err;
    const code = (e as { code?: unknown }).code;
    if (!(typeof code === 'string' && code.startsWith('E_'))) this.log.error('call failed unexpectedly', { call: method, err: e, stack: (e as Error)?.stack });
    return e;
  }

  async close(): Promise<void> {
    await this.#disconnect();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }

  /** The manager pod's image and the agent image it injects (its TP_AGENT_IMAGE), read with the
   * user's rights (tp-client may get pods); nothing when not connected or not allowed. */
  async #managerImages(): Promise<{ managerImage?: string; agentImage?: string }> {
    const conn = this.#conn;
    const pod = conn?.session.pod?.name;
    if (!conn || !pod) return {};
    try {
      const p = await conn.target.kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ name: pod, namespace: conn.managerNamespace });
      const c = p.spec?.containers.find((x) => x.name === 'manager') ?? p.spec?.containers[0];
      const agent = c?.env?.find((e) => e.name === 'TP_AGENT_IMAGE')?.value;
      return { ...(c?.image ? { managerImage: c.image } : {}), ...(agent ? { agentImage: agent } : {}) };
    } catch (err) {
      this.log.debug('reading the manager pod for its images failed', { err });
      return {};
    }
  }

  #engagements() {
    const e = this.#requireConnected().engagements;
    if (!e) throw new DaemonCallError('E_NOT_CONNECTED', 'tp is still connecting', 'retry in a moment');
    return e;
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
    if (this.#conn?.vifDown || (this.#conn?.vif && this.#conn.sameAs(req) && !(await this.#conn.vifAlive()))) {
      // The root daemon died (or lost its TUN): set the VIF up again rather than report a corpse.
      this.log.warn('the root daemon is gone; setting the VIF up again', { why: this.#conn.vifDown });
      await this.#disconnect();
    }
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
}
