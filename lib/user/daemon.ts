// The user daemon's API server: DaemonCalls (lib/common/rpc/daemon.ts) as JSON over HTTP/1.1 on
// a unix socket. Every request is validated; every failure is answered with one sentence and
// the daemon stays up.
import type { Server } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import { rmSync } from 'node:fs';
import { unixServe } from '../common/rpc/unix-http.js';
import * as s from '../common/rpc/schema.js';
import { ENGAGEMENT_KINDS } from '../common/rpc/engagement.js';
import {
  DaemonCallError,
  type EngageCliRequest,
  type ConnectRequest,
  type DaemonCalls,
  type DaemonMethod,
  type DaemonStatus,
} from '../common/rpc/daemon.js';
import { isLevel, type Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { TUNNEL_PROTOCOL_VERSION } from '../proxy/tunnel/protocol.js';
import { Connection } from './connection.js';
import { callRoot, rootRunning } from './root-link.js';
import { kubeFailure } from './kube.js';

type Handler<M extends DaemonMethod> = (req: DaemonCalls[M]['request']) => Promise<DaemonCalls[M]['response']>;

// ---- Request schemas --------------------------------------------------------------------------
//
// The CLI and this daemon come from one install, but a daemon may outlive an upgrade: a field it
// does not know is refused, with the way out. The refusals the user reads as a flag's fault carry
// E_FLAG and the flag's name.

const VERSIONS = { unknownHint: 'the CLI and the daemon may be of different versions: run `tp quit` and retry' } as const;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const text = s.string({ maxLength: 4096 });
/** An optional string where '' means absent (the handlers fall back to the connection's). */
const optText = s.optional(s.map(text, (v) => v || undefined));
const strings = s.optional(s.array(s.string({ maxLength: 1024 }), { maxItems: 256, expected: 'a list of at most 256 strings' }));

const connectSchema = s.object(
  {
    kubeconfig: s.optional(text),
    kubeconfigEnv: s.optional(text),
    context: s.optional(text),
    namespace: s.optional(text),
    managerNamespace: s.optional(text),
    socks: s.optional(text),
    socksUser: s.optional(text),
    socksPassword: s.optional(text),
    managerAddress: s.optional(text),
    alsoProxy: strings,
    neverProxy: strings,
    // Only `true` is kept: Connection.sameAs compares requests, and false is the default.
    allowConflictingSubnets: s.optional(s.map(s.boolean(), (v) => (v ? true : undefined))),
    vnat: strings,
    dnsIncludeSuffixes: strings,
    dnsExcludeSuffixes: strings,
    mappedNamespaces: s.optional(
      s.map(
        s.array(
          s.string({
            maxLength: 63,
            pattern: NAMESPACE_RE,
            code: 'E_FLAG',
            message: (n) => `--mapped-namespaces: ${s.show(n)} is not a namespace name`,
            hint: 'list namespaces separated by commas: --mapped-namespaces team-a,team-b',
          }),
          { maxItems: 256, unique: 'drop', expected: 'a list of at most 256 namespaces' },
        ),
        (v) => (v.length > 0 ? v : undefined),
      ),
    ),
  },
  VERSIONS,
);
true satisfies s.Agrees<ConnectRequest, typeof connectSchema>;

const engageSchema = s.object(
  {
    kind: s.oneOf(ENGAGEMENT_KINDS),
    workload: s.string({
      maxLength: 253,
      pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
      code: 'E_FLAG',
      message: (w) => `${typeof w === 'string' ? s.show(w) : '""'} is not a workload name`,
      hint: 'see `tp list`',
    }),
    namespace: s.optional(text),
    name: s.optional(
      s.string({
        maxLength: 63,
        pattern: NAME_RE,
        code: 'E_FLAG',
        message: (n) => `--name ${s.show(n)} must be letters, digits, '-', '_' or '.'`,
      }),
    ),
    container: s.optional(text),
    address: s.optional(text),
    ports: s.withDefault(
      s.array(
        s.object(
          {
            local: s.optional(
              s.integer({ min: 1, max: 65535, code: 'E_FLAG', message: (p) => `local port ${s.show(p)} is out of range 1-65535` }),
            ),
            remote: s.optional(
              s.string({
                maxLength: 15,
                pattern: /^[a-z0-9-]{1,15}$/,
                code: 'E_FLAG',
                message: (p) => `remote port ${s.show(p)} must be a port number or name`,
              }),
            ),
          },
          VERSIONS,
        ),
        { maxItems: 32, expected: 'a list of at most 32 ports' },
      ),
      [],
    ),
    mount: s.map(s.union([s.string({ maxLength: 4096 }), s.literal(false)], { expected: 'a directory, "" or false' }), (m) => {
      if (typeof m === 'string' && m !== '' && !m.startsWith('/'))
        throw new DaemonCallError('E_FLAG', `--mount ${m} must be an absolute path`);
      return m;
    }),
    filter: s.optional(
      s.object(
        {
          headers: s.withDefault(
            s.record(s.string({ maxLength: 4096 }), {
              maxEntries: 64,
              key: s.string({ maxLength: 256, pattern: HEADER_NAME_RE, what: 'an HTTP header name' }),
            }),
            {},
          ),
          pathPrefix: s.optional(s.string({ maxLength: 4096 })),
        },
        VERSIONS,
      ),
    ),
    timeoutMs: s.optional(s.integer({ min: 1000, max: 3_600_000 })),
  },
  VERSIONS,
);
true satisfies s.Agrees<EngageCliRequest, typeof engageSchema>;

const noArguments = s.empty(VERSIONS);

/** Every call's request, checked before its handler sees it. */
const requestSchemas: { [M in DaemonMethod]: s.Schema<DaemonCalls[M]['request']> } = {
  connect: connectSchema,
  status: noArguments,
  quit: s.object({ stopRoot: s.withDefault(s.boolean(), false) }, VERSIONS),
  version: noArguments,
  list: s.object({ namespace: optText }, VERSIONS),
  loglevel: s.object({ level: s.withDefault(s.string({ maxLength: 64 }), '') }, VERSIONS),
  engage: engageSchema,
  leave: s.object({ name: s.withDefault(text, ''), namespace: optText }, VERSIONS),
  engageProgress: s.object({ name: s.withDefault(text, '') }, VERSIONS),
  engagements: noArguments,
  uninstall: s.object({ namespace: optText, workload: optText }, VERSIONS),
};

/** A call's request as its handler sees it, or one DaemonCallError naming the bad field. */
export function checkDaemonRequest<M extends DaemonMethod>(method: M, body: unknown): DaemonCalls[M]['request'] {
  return s.check(requestSchemas[method] as s.Schema<DaemonCalls[M]['request']>, body);
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
          daemon: TP_VERSION,
          ...(c?.managerVersion ? { manager: c.managerVersion } : {}),
          protocol: TUNNEL_PROTOCOL_VERSION,
          ...(root ? { rootDaemon: root.version } : {}),
          ...images,
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
        res.workloads.sort(
          (a, b) => Number(!!b.engagements?.some((e) => e.owner === user)) - Number(!!a.engagements?.some((e) => e.owner === user)),
        );
        return {
          namespace,
          ...(user ? { user } : {}),
          workloads: res.workloads,
          ended: (conn.engagements?.ended() ?? []).filter((e) => e.namespace === namespace),
        };
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
        return client.call('uninstallAgents', {
          namespace: req.namespace || conn.namespace,
          ...(req.workload ? { workload: req.workload } : {}),
        });
      },
      loglevel: async (req) => {
        if (!isLevel(req.level))
          throw new DaemonCallError('E_FLAG', `"${req.level}" is not a log level`, 'use one of trace, debug, info, warn, error');
        this.log.level = req.level;
        return { level: req.level };
      },
    };
  }

  async listen(): Promise<void> {
    this.#server = await unixServe(
      this.socketPath,
      (method, body) => this.#dispatch(method, body),
      (url, e) => this.log.warn('call failed', { url, code: e.code, err: e.message }),
    );
  }

  #dispatch(method: string, o: Record<string, unknown>): Promise<unknown> {
    if (!Object.hasOwn(this.#handlers, method)) {
      throw new DaemonCallError(
        'E_UNKNOWN_CALL',
        `the user daemon has no call ${method}`,
        'the CLI and the daemon may be of different versions: run `tp quit` and retry',
      );
    }
    const request = checkDaemonRequest(method as DaemonMethod, o);
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
    if (!(typeof code === 'string' && code.startsWith('E_')))
      this.log.error('call failed unexpectedly', { call: method, err: e, stack: (e as Error)?.stack });
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
    return {
      state: this.#connecting ? 'connecting' : 'disconnected',
      daemonVersion: TP_VERSION,
      daemonPid: process.pid,
      reconnects: 0,
      flows: { active: 0, total: 0, failed: 0 },
    };
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
      throw new DaemonCallError(
        'E_ALREADY_CONNECTED',
        `tp is already connected to context "${s.context}" (namespace ${s.namespace}${s.socks ? `, SOCKS on ${s.socks}` : ''})`,
        'run `tp quit` first to connect differently',
      );
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
