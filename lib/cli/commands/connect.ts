// `tp connect [--socks [HOST:PORT]] [-- CMD...]` (the action: actions/connect.ts)
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';
import { CliError } from '../output.js';
import { addKubeFlags } from './kube-flags.js';

export function registerConnect(program: Command): void {
  const connect = addKubeFlags(program.command('connect'))
    .description(
      'connect to the cluster: pod IPs, Service IPs and cluster DNS names work from every program (a TUN device; needs root via sudo), or with --socks through a local SOCKS5/HTTP proxy (no root)',
    )
    .option('--socks [host:port]', 'run the no-root proxy (SOCKS5 and HTTP on one port) at this address instead of the TUN device', false)
    .option(
      '--also-proxy <cidr>',
      'also route this subnet to the cluster (repeatable; adds to routing.alsoProxy of the config file)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--never-proxy <cidr>',
      'never route this subnet to the cluster (repeatable; adds to routing.neverProxy)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--allow-conflicting-subnets',
      'route cluster subnets even where they overlap a route of this machine (shadowing it), instead of mapping them to virtual subnets (routing.allowConflictingSubnets)',
    )
    .option(
      '--vnat <cidr>',
      'map the cluster subnets that overlap this CIDR (or "all") to virtual subnets even where no route of this machine conflicts (repeatable)',
      (v: string, p: string[] = []) => [...p, vnatFlag(v)],
    )
    .option(
      '--dns-include-suffix <suffix>',
      'also resolve names ending in this suffix in the cluster (repeatable; adds to dns.includeSuffixes)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--dns-exclude-suffix <suffix>',
      'never resolve names ending in this suffix in the cluster (repeatable; adds to dns.excludeSuffixes)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      '--manager-address <host:port>',
      'reach the traffic manager over its direct route (chart value directRoute.enabled: a NodePort, LoadBalancer or VPN address) instead of a port-forward; falls back to the port-forward when it fails',
    )
    .option(
      '--mapped-namespaces <list>',
      'resolve names, list and engage workloads only in these namespaces, comma-separated (default: mappedNamespaces of the config file; "all" for every namespace you may see)',
      mappedNamespacesFlag,
    )
    .option('--socks-user <name>', 'require this username on the proxy (SOCKS5 user/password, HTTP Basic)')
    .option('--socks-password <password>', 'the password for --socks-user')
    .argument('[command...]', 'after --: a command to run while connected; tp disconnects when it exits');
  lazyAction(connect, async () => (await import('../actions/connect.js')).connect);
}

/** `--mapped-namespaces a,b`: namespace names; `all` (or nothing) for no limit. Repeating the flag
 * adds to the list. */
export function mappedNamespacesFlag(v: string, previous: string[] = []): string[] {
  const names = v
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return previous;
  for (const n of names) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n))
      throw new CliError(
        'E_FLAG',
        `--mapped-namespaces: "${n}" is not a namespace name`,
        'list namespaces separated by commas: --mapped-namespaces team-a,team-b',
      );
  }
  return [...new Set([...previous, ...names])];
}

/** `--vnat` value: "all", or a CIDR written ADDRESS/BITS (the root daemon checks it again). */
export function vnatFlag(v: string): string {
  if (v === 'all') return v;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  const family = m ? isIP(m[1]!) : 0;
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) {
    throw new CliError('E_FLAG', `--vnat "${v}" is not a subnet`, 'write it as ADDRESS/BITS (e.g. --vnat 10.96.0.0/12), or --vnat all');
  }
  return v;
}
