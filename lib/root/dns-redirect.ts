// DNS integration without systemd-resolved: rather than rewriting /etc/resolv.conf, packets to the
// configured nameservers' port 53 are DNAT-ed to tp's local DNS server (DESIGN.md §5). The local
// server's own upstream queries leave from one fixed source port that the rule excludes, so they
// reach the real nameserver instead of looping back. Everything lives in chain TP-DNS of the nat
// table, so removal (also after a crash) is: unhook, flush, delete.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';

const run = promisify(execFile);
export const CHAIN = 'TP-DNS';

export interface RedirectSpec {
  nameservers: string[];
  /** Where tp's DNS server listens (loopback). */
  to: { host: string; port: number };
  /** The source ports of tp's own upstream queries: never redirected. */
  upstreamSourcePorts: readonly [number, number];
}

/** The nameservers of /etc/resolv.conf (IPv4 only: the ip6tables side is a later step). */
export function systemNameservers(path = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => s !== undefined && isIPv4(s));
  } catch {
    return [];
  }
}

/** The search domains of /etc/resolv.conf: names below them are the host's, not the cluster's. */
export function systemSearchDomains(path = '/etc/resolv.conf'): string[] {
  try {
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .reverse()
      .find((l) => /^\s*(search|domain)\s/.test(l));
    return line ? line.trim().split(/\s+/).slice(1) : [];
  } catch {
    return [];
  }
}

/** The iptables argument lists that install the redirect (pure, for tests and for the log). */
export function redirectRules(spec: RedirectSpec): string[][] {
  const rules: string[][] = [['-t', 'nat', '-N', CHAIN]];
  for (const ns of spec.nameservers) {
    for (const proto of ['udp', 'tcp']) {
      rules.push([
        '-t',
        'nat',
        '-A',
        CHAIN,
        '-d',
        `${ns}/32`,
        '-p',
        proto,
        '--dport',
        '53',
        '!',
        '--sport',
        `${spec.upstreamSourcePorts[0]}:${spec.upstreamSourcePorts[1]}`,
        '-j',
        'DNAT',
        '--to-destination',
        `${spec.to.host}:${spec.to.port}`,
      ]);
    }
  }
  rules.push(['-t', 'nat', '-I', 'OUTPUT', '1', '-j', CHAIN]);
  return rules;
}

async function iptables(args: string[]): Promise<void> {
  try {
    await run('iptables', ['-w', '5', ...args]);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`iptables ${args.join(' ')} failed: ${stderr || (err as Error).message}`);
  }
}

export async function installRedirect(spec: RedirectSpec): Promise<void> {
  await removeRedirect();
  for (const r of redirectRules(spec)) await iptables(r);
}

/** Idempotent: removes the hook and the chain if they exist. */
export async function removeRedirect(): Promise<void> {
  for (;;) {
    try {
      await iptables(['-t', 'nat', '-D', 'OUTPUT', '-j', CHAIN]);
    } catch {
      break;
    }
  }
  await iptables(['-t', 'nat', '-F', CHAIN]).catch(() => {});
  await iptables(['-t', 'nat', '-X', CHAIN]).catch(() => {});
}
