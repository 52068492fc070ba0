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
import { VifSession } from './vif-session.js';
import type { StateFile } from './state.js';

function strings(o: Record<string, unknown>, k: string, max = 256): string[] {
  const v = o[k] ?? [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string') || v.length > max) throw new DaemonCallError('E_BAD_REQUEST', `"${k}" must be a list of at most ${max} strings`);
  return v as string[];
}

/** Namespace names (RFC 1123 labels): DNS routing domains are made of them. */
function namespaces(o: Record<string, unknown>, k: string, max: number): string[] {
  const v = strings(o, k, max);
  for (const n of v) if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)) throw new DaemonCallError('E_BAD_REQUEST', `"${n.slice(0, 80)}" in "${k}" is not a namespace name`);
  return v;
}

function cidrs(o: Record<string, unknown>, k: string, flag: string): string[] {
  return strings(o, k).map((c) => {
    try {
      return formatCidr(parseCidr(c));
    } catch {
      throw new DaemonCallError('E_FLAG', `${flag} "${c}" is not a subnet`, `write it as ADDRESS/BITS, e.g. ${flag} 10.0.0.0/8`);
    }
  });
}

/** --vnat: CIDRs, or 'all'. */
function vnatOf(o: Record<string, unknown>): string[] {
  if (o.vnat === undefined) return [];
  const all = strings(o, 'vnat');
  return [...(all.includes('all') ? ['all'] : []), ...cidrs({ vnat: all.filter((c) => c !== 'all') }, 'vnat', '--vnat')];
}

function sessionOf(o: Record<string, unknown>): { session: string; secret: string } {
  const s = o.session as Record<string, unknown> | undefined;
  if (typeof s !== 'object' || s === null || typeof s.session !== 'string' || !/^[a-z0-9.-]{1,253}$/.test(s.session) || typeof s.secret !== 'string' || s.secret.length < 16 || s.secret.length > 128) {
    throw new DaemonCallError('E_BAD_REQUEST', '"session" must be {session, secret}');
  }
  return { session: s.session, secret: s.secret };
}

export function validateVifConnect(o: Record<string, unknown>): VifConnectRequest {
  const str = (k: string, required = true): string | undefined => {
    const v = o[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw new DaemonCallError('E_BAD_REQUEST', `"${k}" must be a non-empty string`);
    return v;
  };
  const dnsIP = str('clusterDnsIP', false);
  if (dnsIP !== undefined && !isIP(dnsIP)) throw new DaemonCallError('E_BAD_REQUEST', '"clusterDnsIP" must be an IP address');
  return {
    relaySocket: str('relaySocket')!,
    session: sessionOf(o),
    namespace: str('namespace')!,
    subnets: cidrs(o, 'subnets', '--also-proxy'),
    neverProxy: cidrs(o, 'neverProxy', '--never-proxy'),
    allowConflicting: o.allowConflicting === true,
    vnat: vnatOf(o),
    clusterDomain: str('clusterDomain')!,
    ...(dnsIP ? { clusterDnsIP: dnsIP } : {}),
    dnsIncludeSuffixes: strings(o, 'dnsIncludeSuffixes'),
    dnsExcludeSuffixes: strings(o, 'dnsExcludeSuffixes'),
    // A cluster may have thousands of namespaces the user can see (issue #16).
    namespaces: namespaces(o, 'namespaces', 10_000),
    ...(o.mappedNamespaces !== undefined ? { mappedNamespaces: namespaces(o, 'mappedNamespaces', 256) } : {}),
  };
}

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
    this.#server = await unixServe(this.socketPath, (m, b) => this.#dispatch(m, b), (url, e) => this.log.warn('call failed', { url, code: e.code, err: e.message }), mode);
  }

  async close(): Promise<void> {
    await this.#disconnect();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }

  #idle(): VifStatus {
    return { connected: false, routes: [], neverProxy: [], flows: { tcpActive: 0, tcpTotal: 0, udpActive: 0, dialFailures: 0 }, pid: process.pid, ...this.#guardian(), version: TP_VERSION };
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
        await this.#vif.setSubnets(cidrs(body, 'subnets', '--also-proxy'));
        return this.#status(this.#vif);
      }
      case 'setSession': {
        if (!this.#vif) throw new DaemonCallError('E_NOT_CONNECTED', 'the root daemon has no VIF', 'run `tp connect`');
        this.#vif.credentials = sessionOf({ session: body });
        return {};
      }
      case 'disconnect':
        await this.#disconnect();
        return this.#idle();
      case 'status':
        return this.#vif ? this.#status(this.#vif) : this.#idle();
      case 'quit':
        await this.#disconnect();
        setImmediate(this.onQuit);
        return {};
      default:
        throw new DaemonCallError('E_UNKNOWN_CALL', `the root daemon has no call ${method}`, 'the user daemon and the root daemon may be of different versions: run `tp quit -s`');
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
