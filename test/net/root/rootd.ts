// The real root daemon (dist/lib/root/main.js: guardian and worker) in a namespace of the test's
// own, for the crash-safety tests of issue 18:
//
//   namespace tpt-XXXX (its own mount namespace for the daemon: /etc/resolv.conf → 10.0.0.53)
//   ┌──────────────────────────────────────────────────────────────────────────────────────┐
//   │ up0 (veth)  10.0.0.2/24, 10.0.0.53; default via 10.0.0.1   ← the workstation's LAN   │
//   │ cluster-child: nameserver 10.0.0.53:53 ("10.7.7.7" for every name), and the manager's │
//   │   client API on DIR/relay.sock (the user daemon's relay), dialing 10.100.0.x on lo   │
//   │ servers-child: 127.0.0.1:8080 http, :7002 source …      ← the "cluster"              │
//   │ guardian → worker: tp0, routes, TP-DNS redirect of 10.0.0.53:53                       │
//   └──────────────────────────────────────────────────────────────────────────────────────┘
//
// The test process itself plays the user daemon: it calls the root daemon's API over its unix
// socket and holds the watch (lib/user/root-link.ts) — sockets are paths, not bound to a netns.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { unixCall } from '../../../lib/common/rpc/unix-http.js';
import type { RootCalls, RootExit, RootMethod, VifConnectRequest, VifStatus } from '../../../lib/common/rpc/root.js';
import { RootWatch } from '../../../lib/user/root-link.js';
import { workstationSnapshot, type WorkstationSnapshot } from '../../helpers/cluster.js';
import { netns, nextMessage, type Netns } from '../helpers/netns.js';
import { PORTS } from '../helpers/ports.js';
import type { ClusterChildConfig } from './cluster-child.js';

export { PORTS };
const ROOT_MAIN = new URL('../../../lib/root/main.js', import.meta.url).pathname;
const CLUSTER_CHILD = new URL('./cluster-child.js', import.meta.url);
const SERVERS_CHILD = new URL('../helpers/servers-child.js', import.meta.url);
export const CLIENT_CHILD = new URL('../helpers/client-child.js', import.meta.url);

export const NAMESERVER = '10.0.0.53';
export const UPSTREAM_ANSWER = '10.7.7.7';
export const TARGET = '10.100.0.5';
export const CLUSTER_NAME = 'echo.default.svc.cluster.local';

/** Routes of every kind the daemon makes: into the TUN (v4, v6), a --never-proxy subnet kept on
 * the LAN's gateway (`via`), and one that nothing routed before (`throw`: no IPv6 default). */
export const CONNECT: Omit<VifConnectRequest, 'relaySocket'> = {
  session: { session: 'test-session', secret: 'test-secret-of-sixteen-plus' },
  namespace: 'default',
  subnets: ['10.100.0.0/24', 'fd00:100::/64'],
  neverProxy: ['10.100.0.128/25', 'fd00:100::/120'],
  allowConflicting: false,
  clusterDomain: 'cluster.local',
  dnsIncludeSuffixes: [],
  dnsExcludeSuffixes: [],
  namespaces: ['default'],
};

export interface Rootd {
  ns: Netns;
  dir: string;
  runtimeDir: string;
  /** The guardian of the last start (what `sudo` would have started). */
  guardian: ChildProcess | undefined;
  /** Starts dist/lib/root/main.js in the namespace and waits until its API answers. */
  start(opts?: { graceMs?: number; env?: NodeJS.ProcessEnv }): Promise<VifStatus>;
  call<M extends RootMethod>(method: M, body: RootCalls[M]['request'], timeoutMs?: number): Promise<RootCalls[M]['response']>;
  /** Opens the watch as the user daemon does. */
  watch(): Promise<RootWatch>;
  /** Connects with CONNECT, `extra` fields replacing its own. */
  connect(extra?: Partial<Omit<VifConnectRequest, 'relaySocket'>>): Promise<VifStatus>;
  /** Routes, links, addresses, iptables, resolv.conf (as workstationSnapshot) and the answer the
   * namespace's resolver gives for a cluster name. */
  snapshot(): Promise<WorkstationSnapshot & { dns: string }>;
  /** Polls snapshot() until it equals `want`; the ms from `since` to the end of the first equal
   * snapshot (an upper bound of the time to restore), or undefined if none started within
   * `withinMs`. */
  restored(want: Record<string, string>, since: number, withinMs: number): Promise<number | undefined>;
  dig(name: string): Promise<string>;
  exitRecord(): RootExit | undefined;
  log(): string;
}

/** Whether `pid` runs: a zombie does not (an orphaned worker is reaped by init, whenever init
 * gets to it). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

export async function rootd(t: ExecutionContext, opts: { resolvConf?: string; refuseUdpPorts?: number[] } = {}): Promise<Rootd> {
  // Teardowns run last-registered first: the directory goes after the namespace and all that ran in it.
  const dir = mkdtempSync(join(tmpdir(), 'tp-rootd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ns = await netns(t);
  const runtimeDir = join(dir, 'run');
  const logDir = join(dir, 'logs');
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, opts.resolvConf ?? `nameserver ${NAMESERVER}\n`);
  for (const cmd of [
    // A veth pair with both ends inside (this kernel has no dummy links): up0 is the LAN link.
    ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0p'],
    ['link', 'set', 'up0p', 'up'],
    ['addr', 'add', '10.0.0.2/24', 'dev', 'up0'],
    ['addr', 'add', `${NAMESERVER}/32`, 'dev', 'up0'],
    ['link', 'set', 'up0', 'up'],
    ['route', 'add', 'default', 'via', '10.0.0.1', 'dev', 'up0'],
  ])
    await ns.run('ip', cmd);
  const cfg: ClusterChildConfig = {
    relaySocket: join(dir, 'relay.sock'),
    mapPrefix: '10.100.0.',
    nameserver: NAMESERVER,
    names: { [CLUSTER_NAME]: TARGET },
    upstreamAnswer: UPSTREAM_ANSWER,
    ...(opts.refuseUdpPorts ? { refuseUdpPorts: opts.refuseUdpPorts } : {}),
  };
  const cluster = ns.node(CLUSTER_CHILD, [JSON.stringify(cfg)]);
  await nextMessage(cluster, (m) => ((m as { ready?: boolean }).ready ? true : undefined), 15_000);
  const servers = ns.node(SERVERS_CHILD);
  await nextMessage(servers, (m) => ((m as { ready?: boolean }).ready ? true : undefined), 15_000);

  // The helpers of lib/user find the root daemon through this (one file's tests run serially).
  process.env.TP_ROOT_RUNTIME_DIR = runtimeDir;
  const socket = join(runtimeDir, 'root-daemon.sock');
  const call = <M extends RootMethod>(method: M, body: RootCalls[M]['request'], timeoutMs = 30_000) =>
    unixCall<RootCalls[M]['response']>(socket, method, body, timeoutMs, 'root daemon');
  const r: Rootd = {
    ns,
    dir,
    runtimeDir,
    guardian: undefined,
    async start(o = {}) {
      const args = [
        ROOT_MAIN,
        '--runtime-dir',
        runtimeDir,
        '--log-dir',
        logDir,
        ...(o.graceMs ? ['--follow-grace-ms', String(o.graceMs)] : []),
      ];
      // A mount namespace of the daemon's own, where /etc/resolv.conf is the LAN's: nothing of the
      // host's /etc changes. `exec` keeps the pid: the child is the guardian.
      const script = `mount --bind ${resolvConf} /etc/resolv.conf && exec ${process.execPath} ${args.join(' ')}`;
      const g = ns.spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
        stdio: ['ignore', 'inherit', 'inherit'],
        ...(o.env ? { env: o.env } : {}),
      });
      r.guardian = g;
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          return await call('status', {}, 2_000);
        } catch (err) {
          if (g.exitCode !== null || Date.now() > deadline)
            throw new Error(`the root daemon did not start: ${(err as Error).message}\n${r.log()}`);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    },
    call,
    watch: () => RootWatch.open(),
    connect: (extra = {}) => call('connect', { ...CONNECT, ...extra, relaySocket: cfg.relaySocket }, 60_000),
    async snapshot() {
      return { ...(await workstationSnapshot(ns.name)), dns: await r.dig(CLUSTER_NAME) };
    },
    async restored(want, since, withinMs) {
      for (;;) {
        const started = performance.now();
        if (started - since > withinMs) return undefined;
        const s = await r.snapshot();
        if (JSON.stringify(s) === JSON.stringify(want)) return Math.round(performance.now() - since);
      }
    },
    async dig(name) {
      const out = await ns
        .run('dig', ['+short', '+time=1', '+tries=1', `@${NAMESERVER}`, name], { timeoutMs: 10_000 })
        .catch((err: { stdout?: string }) => ({ stdout: `failed: ${err.stdout ?? ''}` }));
      return out.stdout.trim();
    },
    exitRecord() {
      try {
        return JSON.parse(readFileSync(join(runtimeDir, 'root-exit.json'), 'utf8')) as RootExit;
      } catch {
        return undefined;
      }
    },
    log() {
      try {
        return readFileSync(join(logDir, 'root-daemon.log'), 'utf8');
      } catch {
        return '(no root-daemon.log)';
      }
    },
  };
  return r;
}
