// The root daemon's API (RootCalls of lib/common/rpc/root.ts) on a unix socket. It holds at most
// one VIF session; requests are validated; a failed connect leaves nothing changed behind it.
import type { Server } from 'node:http';
import { rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { unixServe } from '../common/rpc/unix-http.js';
import { DaemonCallError } from '../common/rpc/daemon.js';
import type { VifConnectRequest, VifStatus } from '../common/rpc/root.js';
import type { Logger } from '../common/log.js';
import { TP_VERSION } from '../common/version.js';
import { parseCidr, formatCidr } from '../common/cidr.js';
import * as s from '../common/rpc/schema.js';
import { VifSession } from './vif-session.js';
import type { StateFile } from './state.js';

// The user daemon and the root daemon come from one install, but a root daemon may outlive an
// upgrade: a field it does not know is refused, with the way out.
const VERSIONS = { unknownHint: 'the user daemon and the root daemon may be of different versions: run `tp quit -s`' } as const;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const strings = (max = 256) =>
  s.withDefault(s.array(s.string({ maxLength: 1024 }), { maxItems: max, expected: `a list of at most ${max} strings` }), []);

/** Namespace names (RFC 1123 labels): DNS routing domains are made of them. */
const namespaces = (max: number) =>
  s.array(s.string({ minLength: 1, maxLength: 63, pattern: NAMESPACE_RE, what: 'a namespace name' }), {
    maxItems: max,
    expected: `a list of at most ${max} namespace names`,
  });

/** Subnets as CIDRs with host bits cleared; a bad one is the fault of the flag it came from. */
function cidrOf(c: string, flag: string): string {
  try {
    return formatCidr(parseCidr(c));
  } catch {
    throw new DaemonCallError('E_FLAG', `${flag} "${c}" is not a subnet`, `write it as ADDRESS/BITS, e.g. ${flag} 10.0.0.0/8`);
  }
}
const cidrs = (flag: string) => s.map(strings(), (list) => list.map((c) => cidrOf(c, flag)));

/** --vnat: CIDRs, or 'all' (first). */
const vnat = s.map(strings(), (all) => [
  ...(all.includes('all') ? ['all'] : []),
  ...all.filter((c) => c !== 'all').map((c) => cidrOf(c, '--vnat')),
]);

const sessionSchema = s.object(
  {
    session: s.string({ minLength: 1, maxLength: 253, pattern: /^[a-z0-9.-]{1,253}$/, what: 'a Session object name' }),
    secret: s.string({ minLength: 16, maxLength: 128 }),
  },
  VERSIONS,
);

const text = s.string({ minLength: 1, maxLength: 1024 });

const vifConnectSchema = s.object(
  {
    relaySocket: text,
    session: sessionSchema,
    namespace: text,
    subnets: cidrs('--also-proxy'),
    neverProxy: cidrs('--never-proxy'),
    allowConflicting: s.withDefault(s.boolean(), false),
    vnat,
    clusterDomain: text,
    clusterDnsIP: s.optional(s.map(text, (ip) => (isIP(ip) ? ip : s.refuse(`${s.show(ip)} is not an IP address`)), 'an IP address')),
    dnsIncludeSuffixes: strings(),
    dnsExcludeSuffixes: strings(),
    // A cluster may have thousands of namespaces the user can see (issue #16).
    namespaces: s.withDefault(namespaces(10_000), []),
    mappedNamespaces: s.optional(namespaces(256)),
  },
  VERSIONS,
);
true satisfies s.Agrees<VifConnectRequest, typeof vifConnectSchema>;

export const validateVifConnect = s.validator(vifConnectSchema);
const setSubnetsSchema = s.object({ subnets: cidrs('--also-proxy') }, VERSIONS);
const noArguments = s.empty(VERSIONS);

export class RootDaemon {
  #vif: VifSession | undefined;
  #server: Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly stateFile: StateFile,
    private readonly tunName: string,
    private readonly log: Logger,
    private readonly onQuit: () => void,
    private readonly guardianPid?: number,
  ) {}

  async listen(mode = 0o600): Promise<void> {
    this.#server = await unixServe(
      this.socketPath,
      (m, b) => this.#dispatch(m, b),
      (url, e) => this.log.warn('call failed', { url, code: e.code, err: e.message }),
      mode,
    );
  }

  async close(): Promise<void> {
    await this.#disconnect();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }

  #idle(): VifStatus {
    return {
      connected: false,
      routes: [],
      neverProxy: [],
      flows: { tcpActive: 0, tcpTotal: 0, udpActive: 0, dialFailures: 0 },
      pid: process.pid,
      ...this.#guardian(),
      version: TP_VERSION,
    };
  }

  #guardian(): { guardianPid?: number } {
    return this.guardianPid ? { guardianPid: this.guardianPid } : {};
  }

  #status(vif: VifSession): VifStatus {
    return { ...vif.status(), ...this.#guardian() };
  }

  async #dispatch(method: string, body: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'connect': {
        const req = validateVifConnect(body);
        await this.#disconnect();
        // Held from the first step: a shutdown during the setup must find it to undo it.
        const vif = (this.#vif = new VifSession(req, this.tunName, this.stateFile, this.log));
        try {
          await vif.start();
        } catch (err) {
          this.log.warn('vif setup failed; undoing', { err });
          if (this.#vif === vif) this.#vif = undefined;
          await vif.stop().catch(() => {});
          throw err;
        }
        return this.#status(vif);
      }
      case 'setSubnets': {
        if (!this.#vif) throw new DaemonCallError('E_NOT_CONNECTED', 'the root daemon has no VIF to update', 'run `tp connect`');
        await this.#vif.setSubnets(s.check(setSubnetsSchema, body).subnets);
        return this.#status(this.#vif);
      }
      case 'setSession': {
        if (!this.#vif) throw new DaemonCallError('E_NOT_CONNECTED', 'the root daemon has no VIF', 'run `tp connect`');
        this.#vif.credentials = s.check(sessionSchema, body);
        return {};
      }
      case 'disconnect':
        s.check(noArguments, body);
        await this.#disconnect();
        return this.#idle();
      case 'status':
        s.check(noArguments, body);
        return this.#vif ? this.#status(this.#vif) : this.#idle();
      case 'quit':
        s.check(noArguments, body);
        await this.#disconnect();
        setImmediate(this.onQuit);
        return {};
      default:
        throw new DaemonCallError(
          'E_UNKNOWN_CALL',
          `the root daemon has no call ${method}`,
          'the user daemon and the root daemon may be of different versions: run `tp quit -s`',
        );
    }
  }

  async #disconnect(): Promise<void> {
    const v = this.#vif;
    this.#vif = undefined;
    if (v) {
      await v.stop();
      this.log.info('vif down');
    }
  }
}
