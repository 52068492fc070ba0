// `tp status`: is the daemon up, is it connected, to what, and how traffic fares.
import type { Command } from 'commander';
import { TP_VERSION } from '../../common/version.js';
import type { DaemonStatus } from '../../common/rpc/daemon.js';
import { callDaemonIfRunning } from '../daemon-client.js';
import { emit, parseOutput } from '../output.js';

export async function status(_opts: unknown, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  // One call: its answer says the daemon runs (no separate "is it running" round trip).
  const s = await callDaemonIfRunning('status', {});
  if (!s) {
    await emit(format, { clientVersion: TP_VERSION, userDaemon: 'not running', state: 'disconnected' }, () => {
      console.log('User daemon: not running');
      console.log('Connection:  disconnected (run `tp connect --socks`)');
    });
    return;
  }
  await emit(format, { clientVersion: TP_VERSION, userDaemon: 'running', ...s }, () => printStatus(s));
}

export function printStatus(s: DaemonStatus): void {
  // A VIF that is down shows nothing of what it had (interface, routes, DNS) as if it were there;
  // the sentence that says why and what to do is the Connection line.
  const vif = s.vif?.down ? undefined : s.vif;
  const rows: Array<[string, string | undefined]> = [
    ['User daemon', `running (pid ${s.daemonPid}, v${s.daemonVersion})`],
    ['Connection', s.state + (s.lastError ? ` — ${s.lastError}` : s.vif?.down ? ` — ${s.vif.down}` : '')],
    ['Context', s.context && `${s.context} (cluster ${s.cluster})`],
    ['Kubeconfig', s.kubeconfig],
    ['Namespace', s.namespace],
    ['Manager', (s.managerPod || s.managerRoute) && `${s.managerPod ?? 'traffic-manager'} in ${s.managerNamespace}, v${s.managerVersion}`],
    ['Route', s.managerRoute],
    ['User', s.user],
    ['Session', s.session],
    ['SOCKS/HTTP proxy', s.socks],
    // Labels stay within 16 characters: the column is as wide as the longest label.
    ['Limited to', s.mappedNamespaces && `namespaces ${s.mappedNamespaces.join(', ')} (--mapped-namespaces)`],
    ['DNS namespaces', s.dnsNamespaces && namespaceList(s.dnsNamespaces)],
    ['Service CIDRs', s.clusterInfo && `${s.clusterInfo.serviceCIDRs.join(', ') || 'unknown'} (${s.clusterInfo.serviceCIDRSource})`],
    ['Pod CIDRs', s.clusterInfo && `${s.clusterInfo.podCIDRs.join(', ') || 'unknown'} (${s.clusterInfo.podCIDRSource})`],
    ['Cluster DNS', s.clusterInfo && `${s.clusterInfo.dnsIP ?? 'unknown'}, domain ${s.clusterInfo.clusterDomain}`],
    ['Interface', s.vif?.down ? 'down' : vif?.interface && `${vif.interface} (${vif.address}, mtu ${vif.mtu})`],
    ['Routed subnets', vif && routed(vif).join(', ') + (vif.neverProxy.length ? `; never: ${vif.neverProxy.join(', ')}` : '')],
    ['Virtual subnets', vif?.vnat?.length ? vif.vnat.map((m) => `${m.real} → ${m.virtual} (${m.reason})`).join('; ') : undefined],
    [
      'DNS',
      vif?.dns &&
        `${vif.dns.listen} via ${vif.dns.mode} for ${vif.dns.upstreams.join(', ') || 'no nameserver'}; ${vif.dns.queries} queries, ${vif.dns.clusterAnswers} from the cluster`,
    ],
    [
      'VIF flows',
      vif &&
        `${vif.flows.tcpActive} TCP active, ${vif.flows.tcpTotal} total, ${vif.flows.udpActive} UDP, ${vif.flows.dialFailures} failed to dial`,
    ],
    [
      'Proxy flows',
      s.state === 'disconnected' || !s.socks
        ? undefined
        : `${s.flows.active} active, ${s.flows.total} total, ${s.flows.failed} failed to dial`,
    ],
    ['Reconnects', s.state === 'disconnected' ? undefined : String(s.reconnects)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  for (const [k, v] of rows) if (v !== undefined) console.log(`${(k + ':').padEnd(w)} ${v}`);
}

/** Namespaces as pseudo-TLDs: a cluster may have hundreds; -o json has them all. */
function namespaceList(ns: string[]): string {
  const shown = ns.slice(0, 8).join(', ');
  return ns.length > 8 ? `${shown} and ${ns.length - 8} more (-o json lists them)` : shown || 'none';
}

/** What goes into the TUN: a subnet reached through VNAT shows as its virtual subnet. */
function routed(vif: NonNullable<DaemonStatus['vif']>): string[] {
  return vif.routes.map((r) => {
    const m = vif.vnat?.find((x) => x.real === r);
    return m ? `${m.virtual} (VNAT for ${r})` : r;
  });
}
