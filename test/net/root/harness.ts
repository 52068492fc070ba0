// The VIF fixture of the root-daemon net tests, one fresh namespace per test:
//
//   namespace tpt-XXXX
//   ┌───────────────────────────────────────────────────────────────────────────────┐
//   │ curl / iperf3 -c / client-child ──▶ 10.100.0.5:P ─ route ─▶ tp0 (10.99.0.1)   │
//   │                                                              │ TUN            │
//   │                       tun-child: Tun + NetStack + LoopbackDialer              │
//   │                                                              │ dial           │
//   │ servers-child (http 8080, sink, source, echo, udp) / iperf3 -s ◀─ 127.0.0.1:P │
//   └───────────────────────────────────────────────────────────────────────────────┘
//
// The kernel's TCP is the client, the userspace stack the server side of every flow.

import type { ChildProcess } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import type { Job } from '../helpers/client-child.js';
import { netns, nextMessage, type Netns } from '../helpers/netns.js';
import { PORTS } from '../helpers/ports.js';
import type { Impairment, TunChildConfig } from './tun-child.js';

export { PORTS };
export const TARGET = '10.100.0.5';
export const TUN = 'tp0';

const TUN_CHILD = new URL('./tun-child.js', import.meta.url);
const SERVERS_CHILD = new URL('../helpers/servers-child.js', import.meta.url);
const CLIENT_CHILD = new URL('../helpers/client-child.js', import.meta.url);

export interface Vif {
  ns: Netns;
  /** The TUN-owning process (its pid is the one to measure). */
  owner: ChildProcess;
  ownerPid: number;
  /** Runs a client-child job inside the namespace and returns its result. `onStarted` sees
   * the job's progress messages (e.g. { holding: true }). */
  client<T>(job: Job, timeoutMs?: number, onProgress?: (m: unknown) => void): Promise<T>;
  /** Counters of the stack and the device, from the owner. */
  stats(): Promise<OwnerStats>;
  /** Sets the owner's fault injectors (vif(t, { impairable: true }) only). */
  impair(imp: Impairment): Promise<void>;
  /** Starts `iperf3 -s` on 127.0.0.1 (killed at teardown). */
  iperfServer(): Promise<void>;
}

export interface OwnerStats {
  stack: import('../../../lib/proxy/netstack/index.js').NetStackStats;
  tun: import('../../../lib/root/tun.js').TunStats;
  pool: number;
}

export async function vif(
  t: ExecutionContext,
  opts: { mtu?: number; servers?: boolean; impairable?: boolean; offload?: boolean; ownerExecArgv?: string[] } = {},
): Promise<Vif> {
  const ns = await netns(t);
  const cfg: TunChildConfig = {
    name: TUN,
    mtu: opts.mtu ?? 65535,
    address: '10.99.0.1/32',
    route: '10.100.0.0/24',
    mapPrefix: '10.100.0.',
    refusePorts: [9],
    ...(opts.impairable ? { impairable: true } : {}),
    ...(opts.offload === false ? { offload: false } : {}),
  };
  const owner = ns.node(TUN_CHILD, [JSON.stringify(cfg)], { execArgv: opts.ownerExecArgv ?? [] });
  const ready = await nextMessage(owner, (m) => ((m as { ready?: boolean }).ready ? (m as { pid: number }) : undefined), 15_000);
  if (opts.servers ?? true) {
    const servers = ns.node(SERVERS_CHILD);
    await nextMessage(servers, (m) => ((m as { ready?: boolean }).ready ? true : undefined), 15_000);
  }
  return {
    ns,
    owner,
    ownerPid: ready.pid,
    async client<T>(job: Job, timeoutMs = 120_000, onProgress?: (m: unknown) => void): Promise<T> {
      const c = ns.node(CLIENT_CHILD, [JSON.stringify(job)]);
      const final = (x: unknown) => {
        const r = x as { result?: T; error?: string };
        if ('result' in r || 'error' in r) return r;
        onProgress?.(x);
        return undefined;
      };
      const m = await nextMessage(c, final, timeoutMs).finally(() => c.kill('SIGKILL'));
      if (m.error !== undefined) throw new Error(`client ${job.kind}: ${m.error}`);
      return m.result as T;
    },
    async stats() {
      owner.send({ cmd: 'stats' });
      return nextMessage(owner, (m) => (m as { stats?: OwnerStats }).stats, 5000);
    },
    async impair(imp) {
      owner.send({ cmd: 'impair', impair: imp });
      await nextMessage(owner, (m) => ((m as { impaired?: boolean }).impaired ? true : undefined), 5000);
    },
    async iperfServer() {
      ns.spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(PORTS.iperf)], { stdio: 'ignore' });
      // iperf3 buffers its "Server listening" when stdout is a pipe: ask the kernel instead.
      for (let i = 0; i < 50; i++) {
        const { stdout } = await ns.run('ss', ['-Hltn', `sport = :${PORTS.iperf}`]);
        if (stdout.trim() !== '') return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('iperf3 -s did not start listening within 5 s');
    },
  };
}

/** iperf3 -c in the namespace; Gbit/s received by the far end. */
export async function iperf(ns: Netns, host: string, opts: { seconds: number; reverse?: boolean }): Promise<number> {
  const args = ['-c', host, '-p', String(PORTS.iperf), '-t', String(opts.seconds), '-J', ...(opts.reverse ? ['-R'] : [])];
  const { stdout } = await ns.run('iperf3', args, { timeoutMs: (opts.seconds + 20) * 1000 });
  const r = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } }; error?: string };
  if (r.error) throw new Error(`iperf3 ${args.join(' ')}: ${r.error}`);
  return r.end.sum_received.bits_per_second / 1e9;
}

export const fmt = (x: number, digits = 2) => x.toFixed(digits);
