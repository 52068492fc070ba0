// The TUN owner of bench/vif, run inside the bench's namespace (Netns.node(url, [JSON config])):
// opens tp0, gives it an address and a route, and runs the NetStack on it with a TunnelClient to
// the loopback manager (a separate process in the same namespace) as its dialer — the root
// daemon's real data path: kernel TCP → tp0 → NetStack → HTTP/2 CONNECT → TunnelServer +
// DirectDialer → target. Destinations starting with `mapPrefix` are asked of the manager as
// 127.0.0.1 (the namespace's loopback is the bench's "cluster").
// IPC: → { ready, pid } once routed; ← { cmd: 'stats' } → { stats }; ← { cmd: 'heap', path } →
// { heap: path } (a V8 heap snapshot); ← { cmd: 'exit' } exits
// normally (so --cpu-prof writes its profile). Exits when the parent leaves.

import { execFileSync } from 'node:child_process';
import { writeHeapSnapshot } from 'node:v8';
import type { Duplex } from 'node:stream';
import type { Dialer, UdpFlow } from '../../lib/proxy/dialer.js';
import { TunnelClient } from '../../lib/proxy/tunnel/client.js';
import { attachStack } from '../../lib/root/vif.js';
import { Tun } from '../../lib/root/tun.js';

export interface VifOwnerConfig {
  name: string;
  mtu: number;
  address: string;
  route: string;
  mapPrefix: string;
  managerPort: number;
}

class MappedDialer implements Dialer {
  constructor(
    private readonly client: TunnelClient,
    private readonly prefix: string,
  ) {}
  #host(host: string): string {
    return host.startsWith(this.prefix) ? '127.0.0.1' : host;
  }
  dialTcp(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    return this.client.dialTcp(this.#host(host), port, signal);
  }
  dialUdp(host: string, port: number, signal?: AbortSignal): Promise<UdpFlow> {
    return this.client.dialUdp(this.#host(host), port, signal);
  }
}

const cfg = JSON.parse(process.argv[2]!) as VifOwnerConfig;
const client = await TunnelClient.connect({ host: '127.0.0.1', port: cfg.managerPort, peer: 'client' });
const tun = Tun.open(cfg.name, { mtu: cfg.mtu });
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
ip('addr', 'add', cfg.address, 'dev', tun.name);
ip('route', 'add', cfg.route, 'dev', tun.name);
const stack = attachStack(tun, { dialer: new MappedDialer(client, cfg.mapPrefix) });
tun.onError((err) => {
  process.send?.({ error: err.message });
  process.exit(1);
});
client.once('close', (err?: Error) => {
  process.send?.({ error: `tunnel closed: ${err?.message ?? 'no reason'}` });
  process.exit(1);
});

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'stats') process.send!({ stats: { stack: stack.stats(), tun: tun.stats(), memory: process.memoryUsage() } });
  // A heap snapshot of this process (what idle flows cost, by object kind), written to `path`.
  if (m.cmd === 'heap') process.send!({ heap: writeHeapSnapshot((m as { path: string }).path) });
  if (m.cmd === 'exit') {
    stack.close();
    tun.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true, pid: process.pid });
