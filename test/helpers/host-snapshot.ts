// What the host's own network and system look like, as text sections that can be compared: the
// cluster scripts and tp's tests promise to leave all of it as they found it.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';

function out(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    return `(${cmd} failed: ${(err as Error).message.split('\n')[0]})`;
  }
}

/** iptables-save output without its timestamps and packet counters, which change by themselves. */
function rules(cmd: string): string {
  return out(cmd, [])
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}

const SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/route_localnet',
  'net/ipv4/conf/all/forwarding',
  'net/ipv6/conf/all/forwarding',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/netfilter/nf_conntrack_max',
  'net/ipv4/ip_local_port_range',
];

export interface HostSnapshot {
  routes: string;
  routes6: string;
  addresses: string;
  links: string;
  iptables: string;
  ip6tables: string;
  iptablesLegacy: string;
  sysctls: string;
  resolvConf: string;
  netns: string;
  etcNetns: string;
}

export function hostSnapshot(): HostSnapshot {
  return {
    routes: out('ip', ['route', 'show', 'table', 'all']),
    routes6: out('ip', ['-6', 'route', 'show', 'table', 'all']),
    addresses: out('ip', ['-br', 'addr']),
    links: out('ip', ['-br', 'link']),
    iptables: rules('iptables-save'),
    ip6tables: rules('ip6tables-save'),
    iptablesLegacy: rules('iptables-legacy-save'),
    sysctls: SYSCTLS.map((s) => `${s}=${existsSync(`/proc/sys/${s}`) ? readFileSync(`/proc/sys/${s}`, 'utf8').trim() : '-'}`).join('\n'),
    resolvConf: existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '',
    netns: out('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean)
      .sort()
      .join('\n'),
    etcNetns: existsSync('/etc/netns') ? readdirSync('/etc/netns').sort().join('\n') : '',
  };
}

/** Mount points under the given prefixes (a cluster that is down has none). */
export function mountsUnder(prefixes: string[]): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => prefixes.some((p) => m.startsWith(p)));
}

// As a command: print a snapshot as JSON (scripts/test records one before the cluster comes up).
if (process.argv[1]?.endsWith('host-snapshot.js')) {
  process.stdout.write(JSON.stringify(hostSnapshot(), null, 1));
}
