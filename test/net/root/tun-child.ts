// The TUN owner of a net test, run inside the test's namespace (Netns.node(url, [JSON config])):
// opens the device, gives it an address and a route, and runs the NetStack on it with a dialer
// that maps the "cluster" subnet to loopback of the same namespace — a stand-in for the root
// daemon's data path without the tunnel.
// IPC: → { ready, name, pid } once routed; ← { cmd: 'stats' } → { stats }; ← { cmd: 'close' }
// → { closed } (the stack resets its flows, the device goes away). Exits when the parent leaves.

import { execFileSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { DialError, type Dialer, type UdpFlow } from '../../../lib/proxy/dialer.js';
import { DirectDialer } from '../../../lib/proxy/direct-dialer.js';
import { NetStack, type OutPacket } from '../../../lib/proxy/netstack/index.js';
import { attachStack } from '../../../lib/root/vif.js';
import { FaultInjector } from './fault-injector.js';
import { Tun } from '../../../lib/root/tun.js';

export interface Impairment {
  inLoss?: number;
  inReorder?: number;
  inDelayMs?: number;
  outLoss?: number;
  outReorder?: number;
  outDelayMs?: number;
}

export interface TunChildConfig {
  name: string;
  mtu: number;
  /** Address of the device, e.g. 10.99.0.1/32. */
  address: string;
  /** Routed into the device, e.g. 10.100.0.0/24; destinations whose address starts with
   * `mapPrefix` are dialed on 127.0.0.1 at the same port. */
  route: string;
  mapPrefix: string;
  /** Ports the dialer refuses itself, as a cluster would for a closed port. */
  refusePorts: number[];
  /** Runs the data path through a fault injector on each side, set with { cmd: 'impair' }:
   * for what the test machine's kernel cannot do (no sch_netem) and for the stack → kernel
   * direction, which `tc netem` on tp0 (egress: kernel → stack) never sees. */
  impairable?: boolean;
  /** Tun.open's offload (IFF_VNET_HDR with checksum and segmentation offloads); default on. */
  offload?: boolean;
}

/** The "cluster" of these tests: the namespace's own loopback. */
class LoopbackDialer implements Dialer {
  readonly #direct = new DirectDialer({ connectTimeoutMs: 5000, udpIdleMs: 10_000 });
  constructor(private readonly cfg: TunChildConfig) {}

  #target(host: string, port: number): string {
    if (this.cfg.refusePorts.includes(port)) throw new DialError('refused', `port ${port} is closed in this test's cluster`);
    if (!host.startsWith(this.cfg.mapPrefix)) throw new DialError('unreachable', `${host} is outside the test's cluster`);
    return '127.0.0.1';
  }

  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    try {
      return this.#direct.dialTcp(this.#target(host, port), port, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    try {
      return this.#direct.dialUdp(this.#target(host, port), port, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

const cfg = JSON.parse(process.argv[2]!) as TunChildConfig;
const tun = Tun.open(cfg.name, { mtu: cfg.mtu, offload: cfg.offload ?? true });
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
ip('addr', 'add', cfg.address, 'dev', tun.name);
ip('route', 'add', cfg.route, 'dev', tun.name);
const dialer = new LoopbackDialer(cfg);
const injectors = cfg.impairable
  ? { in: new FaultInjector(0x1b873593, (p) => stack.inputBatch(p)), out: new FaultInjector<OutPacket>(0x2545f491, (p) => tun.write(p)) }
  : null;
const stack = injectors ? impaired(injectors) : attachStack(tun, { dialer });
tun.onError((err) => {
  process.send?.({ error: err.message });
  process.exit(1);
});

/** The data path of attachStack() with a fault injector on each side. */
function impaired(inj: { in: FaultInjector; out: FaultInjector<OutPacket> }): NetStack {
  const st = new NetStack({ dialer, mtu: tun.mtu, vnetHdr: tun.vnetHdr, output: (p) => inj.out.push(p) });
  tun.onPackets((p) => inj.in.push(p));
  return st;
}

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'stats') process.send!({ stats: { stack: stack.stats(), tun: tun.stats(), pool: stack.poolBuffersTaken } });
  if (m.cmd === 'impair' && injectors) {
    const imp = (m as { impair: Impairment }).impair;
    Object.assign(injectors.in, { loss: imp.inLoss ?? 0, reorder: imp.inReorder ?? 0, delayMs: imp.inDelayMs ?? 0 });
    Object.assign(injectors.out, { loss: imp.outLoss ?? 0, reorder: imp.outReorder ?? 0, delayMs: imp.outDelayMs ?? 0 });
    process.send!({ impaired: true });
  }
  if (m.cmd === 'close') {
    stack.close();
    tun.close();
    process.send!({ closed: true });
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true, name: tun.name, pid: process.pid });
