// The root daemon's side of the systemd-resolved integration, run inside the test's namespace by
// resolved.test.ts: the TUN tp0 with the daemon's address, tp's local DNS server on that address
// with a fake manager lookup, and lib/root/resolved.ts talking to the test's resolved over the
// private bus (DBUS_SYSTEM_BUS_ADDRESS, inherited). Commands over IPC, one answer each:
//   { cmd: 'detect', resolvConf }      → detectDnsMode() against that resolv.conf
//   { cmd: 'dns', ports, occupy53 }    → (re)starts the DNS server on the first free port of
//                                        `ports`; occupy53 first takes 198.18.0.1:53 itself
//   { cmd: 'configure' }               → configureLink() with the session's domains
//   { cmd: 'revert', ifindex }         → revertLink()
//   { cmd: 'restore', statePath }      → StateFile.restore(), as the next daemon start runs it
//   { cmd: 'queries' }                 → how many queries tp's server has seen
// Every call answers { ok: true, … } or { ok: false, error, code, hint }.

import { createSocket, type Socket } from 'node:dgram';
import type { DnsRequest, DnsResponse } from '../../../lib/common/rpc/manager.js';
import { silentLogger } from '../../../lib/common/log.js';
import { addAddress, linkIndex } from '../../../lib/root/address.js';
import { startLocalDns, type LocalDns } from '../../../lib/root/local-dns.js';
import { configureLink, detectDnsMode, linkDomains, revertLink } from '../../../lib/root/resolved.js';
import { StateFile } from '../../../lib/root/state.js';
import { Tun } from '../../../lib/root/tun.js';
import { TUN_ADDRESS } from '../../../lib/root/vif-session.js';

const SESSION = {
  clusterDomain: 'cluster.local',
  namespace: 'default',
  namespaces: ['default', 'kube-system'],
  include: ['example.internal'],
  reverseSubnets: ['10.96.0.0/16'],
};

const CLUSTER: Record<string, string> = {
  'echo.default.svc.cluster.local': '10.96.0.20',
  'echo.default': '10.96.0.20',
  'echo.kube-system': '10.96.0.22',
  'echo.default.svc': '10.96.0.23',
  'db.example.internal': '10.96.0.21',
};

async function lookup(req: DnsRequest): Promise<DnsResponse> {
  // Issue #16: the PTR of a Service IP, as the manager returns it.
  if (req.name === '20.0.96.10.in-addr.arpa' && req.type === 'PTR') {
    return {
      canonical: req.name,
      addresses: [],
      rcode: 'NOERROR',
      ttl: 5,
      records: [{ name: req.name, type: 'PTR', ttl: 5, data: { target: 'echo.default.svc.cluster.local' } }],
    };
  }
  const a = CLUSTER[req.name];
  if (!a) return { addresses: [], rcode: 'NXDOMAIN', ttl: 5 };
  return { canonical: req.name, addresses: req.type === 'A' ? [a] : [], rcode: 'NOERROR', ttl: 30 };
}

const tun = Tun.open('tp0', { mtu: 65535 });
const ifindex = await linkIndex('tp0');
await addAddress(ifindex, TUN_ADDRESS);
let dns: LocalDns | undefined;
let squatter: Socket | undefined;

async function handle(m: { cmd: string; [k: string]: unknown }): Promise<Record<string, unknown>> {
  switch (m.cmd) {
    case 'detect':
      return detectDnsMode(m.resolvConf as string);
    case 'dns': {
      await dns?.stop();
      squatter?.close();
      squatter = undefined;
      if (m.occupy53) {
        const s = createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(53, TUN_ADDRESS, resolve);
        });
        squatter = s;
      }
      dns = await startLocalDns({
        lookup,
        upstreams: [],
        clusterDomain: SESSION.clusterDomain,
        namespaces: SESSION.namespaces,
        include: SESSION.include,
        exclude: [],
        reverse: { subnets: SESSION.reverseSubnets, except: [] },
        listen: { host: TUN_ADDRESS, ports: m.ports as number[] },
        log: silentLogger,
      });
      return { ifindex, address: dns.address };
    }
    case 'configure':
      return configureLink({ ifindex, server: dns!.address, domains: linkDomains(SESSION) });
    case 'revert':
      await revertLink(m.ifindex as number);
      return {};
    case 'restore':
      return { undone: await new StateFile(m.statePath as string).restore() };
    case 'queries':
      return { queries: dns?.counters().queries ?? 0 };
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

process.on('message', (m: { cmd: string }) => {
  handle(m).then(
    (r) => process.send!({ ok: true, ...r }),
    (err: { message?: string; code?: string; hint?: string }) =>
      process.send!({ ok: false, error: err.message ?? String(err), code: err.code, hint: err.hint }),
  );
});
process.on('disconnect', () => {
  void dns?.stop();
  tun.close();
  process.exit(0);
});
process.send!({ ready: true, ifindex });
