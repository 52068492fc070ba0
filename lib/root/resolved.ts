// DNS integration through systemd-resolved (DESIGN.md §5): when resolved runs and /etc/resolv.conf
// points at its stub, tp's TUN link gets tp's DNS server as its per-link server and the cluster's
// names as routing domains, so resolved sends those names — and only those — to tp, while every
// other name keeps going where it went. Nothing in /etc is rewritten and no firewall rule is added.
// Undoing it is one RevertLink; the kernel removing the link undoes it too (resolved forgets a link
// that goes away), so after a crash, once the TUN is gone, nothing of this is left behind.
//
// resolved is driven with `busctl`, systemd's own D-Bus client, present wherever resolved runs:
// the Manager's SetLink*/RevertLink methods (org.freedesktop.resolve1(5)); no D-Bus library.
//
// Where tp's server must listen: resolved sends the queries for a link's servers out of that
// link (the socket is bound to the interface), so the server's address has to be reachable
// through tp0. The loopback listener of the iptables mode is not — 127.0.0.1 routed out of tp0 is
// a martian. The TUN's own address is: the kernel's local route for it names tp0, so a query from
// a socket bound to tp0 is delivered locally (it never enters the TUN, so the userspace stack need
// not answer DNS), and the reply is accepted by resolved's bound socket because a local route
// records tp0 as its input interface. See local-dns.ts and vif-session.ts.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { parseIpv4, parseIpv6 } from '../common/ip.js';
import { reverseZonesOf } from './dns/reverse.js';
import { TpError } from '../common/errors.js';

const run = promisify(execFile);

export type DnsMode = 'systemd-resolved' | 'iptables';

/** resolved's stub listener: /etc/resolv.conf names it when the system's lookups go through resolved. */
export const RESOLVED_STUB = '127.0.0.53';
/** resolved's list of the uplinks' servers (what the stub itself asks), in resolv.conf syntax. */
export const RESOLVED_UPLINK_CONF = '/run/systemd/resolve/resolv.conf';

const DEST = 'org.freedesktop.resolve1';
const PATH = '/org/freedesktop/resolve1';
const MANAGER = 'org.freedesktop.resolve1.Manager';
const AF_INET = 2;
const AF_INET6 = 10;

export type ResolvedErrorCode =
  | 'E_RESOLVED_BUSCTL' //  busctl is missing or cannot reach the system bus
  | 'E_RESOLVED_CALL'; //   resolved refused or failed a SetLink* call

export class ResolvedError extends TpError {
  declare readonly code: ResolvedErrorCode;
  constructor(code: ResolvedErrorCode, message: string, hint?: string, cause?: unknown) {
    super(code, message, { hint, cause });
    this.name = 'ResolvedError';
  }
}

// ─── Pure parts ────────────────────────────────────────────────────────────────────────────────

export interface ModeFacts {
  /** Someone owns org.freedesktop.resolve1 on the system bus. */
  resolvedRunning: boolean;
  /** The nameservers of /etc/resolv.conf. */
  resolvConfNameservers: string[];
}

/**
 * resolved only when the system's lookups actually go through it: with /etc/resolv.conf naming
 * other servers (resolved in "foreign" or "uplink" mode), programs ask those servers directly and
 * a per-link route in resolved would only catch the few that use nss-resolve.
 */
export function chooseDnsMode(f: ModeFacts): { mode: DnsMode; why: string } {
  if (!f.resolvedRunning) return { mode: 'iptables', why: 'systemd-resolved is not running' };
  if (!f.resolvConfNameservers.includes(RESOLVED_STUB)) {
    return { mode: 'iptables', why: `systemd-resolved runs but /etc/resolv.conf does not point at its stub ${RESOLVED_STUB}` };
  }
  return { mode: 'systemd-resolved', why: `systemd-resolved runs and /etc/resolv.conf points at its stub ${RESOLVED_STUB}` };
}

export interface LinkDomain {
  name: string;
  /** true: a routing domain (`~name`, queries only); false: also a search domain. */
  routeOnly: boolean;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const validDomain = (d: string) => d.length > 0 && d.length <= 253 && d.split('.').every((l) => LABEL.test(l));
const normDomain = (d: string) =>
  d
    .trim()
    .toLowerCase()
    .replace(/^\.+|\.+$/g, '');

/**
 * The link's domains: the client namespace's search domain (`<ns>.svc.<clusterDomain>`: resolved
 * never sends a single-label name such as `echo` to a unicast server, it expands it with search
 * domains — this one makes `curl http://echo/` reach the cluster as in the iptables mode), and as
 * routing domains the cluster domain, `svc`, every mapped namespace (pseudo-TLDs: `echo.default`),
 * the include-suffixes and the reverse zones of the cluster's subnets (issue #16: `dig -x` of a pod
 * IP reaches tp only if resolved routes its in-addr.arpa name here). Exclude-suffixes have no counterpart in resolved: names under a routed
 * domain that tp must not answer still reach tp's server, which relays them to the uplinks.
 * Names resolved would reject (and with them the whole call) are left out.
 */
export function linkDomains(o: {
  clusterDomain: string;
  namespace?: string;
  namespaces: string[];
  include: string[];
  reverseSubnets?: string[];
}): LinkDomain[] {
  const out = new Map<string, boolean>();
  const add = (raw: string, routeOnly: boolean) => {
    const name = normDomain(raw);
    if (!validDomain(name)) return;
    out.set(name, (out.get(name) ?? true) && routeOnly);
  };
  const cluster = normDomain(o.clusterDomain);
  if (o.namespace) add(`${o.namespace}.svc.${cluster}`, false);
  add(cluster, true);
  add('svc', true);
  for (const ns of o.namespaces) add(ns, true);
  for (const s of o.include) add(s, true);
  for (const subnet of o.reverseSubnets ?? []) for (const zone of reverseZonesOf(subnet)) add(zone, true);
  return [...out].map(([name, routeOnly]) => ({ name, routeOnly }));
}

export interface LinkDnsConfig {
  ifindex: number;
  /** tp's DNS server, reachable through the link (see the top of this file). */
  server: { host: string; port: number };
  domains: LinkDomain[];
}

/** One Manager method call: busctl's `METHOD SIGNATURE ARGS…`. */
export interface ResolvedCall {
  method: string;
  signature: string;
  args: string[];
  /** Missing in older systemd (UnknownMethod): skipped rather than failing the connect. */
  optional?: boolean;
}

function addressBytes(host: string): { family: number; bytes: Buffer } {
  const v4 = parseIpv4(host);
  if (v4) return { family: AF_INET, bytes: v4 };
  const v6 = parseIpv6(host);
  if (v6) return { family: AF_INET6, bytes: v6 };
  throw new Error(`"${host}" is not an IP address`);
}

/**
 * The calls that configure the link, in an order that never leaks the machine's other queries to
 * tp: the link stops being a default route before it gets a server, and the domains are in place
 * before the server is. LLMNR and mDNS are switched off so resolved sends no multicast into the
 * TUN; DNSSEC and DNS-over-TLS are off because tp's server is local, speaks plain DNS, and cluster
 * names are never signed (a global DNSSEC=yes would otherwise fail every cluster name).
 * Port 53 uses SetLinkDNS (every resolved with per-link DNS); another port needs SetLinkDNSEx
 * (systemd ≥ 246).
 */
export function configureCalls(c: LinkDnsConfig): ResolvedCall[] {
  const i = String(c.ifindex);
  const { family, bytes } = addressBytes(c.server.host);
  const addr = [String(family), String(bytes.length), ...[...bytes].map(String)];
  const dns: ResolvedCall =
    c.server.port === 53
      ? { method: 'SetLinkDNS', signature: 'ia(iay)', args: [i, '1', ...addr] }
      : { method: 'SetLinkDNSEx', signature: 'ia(iayqs)', args: [i, '1', ...addr, String(c.server.port), ''] };
  return [
    { method: 'SetLinkDefaultRoute', signature: 'ib', args: [i, 'false'], optional: true },
    { method: 'SetLinkLLMNR', signature: 'is', args: [i, 'no'], optional: true },
    { method: 'SetLinkMulticastDNS', signature: 'is', args: [i, 'no'], optional: true },
    { method: 'SetLinkDNSSEC', signature: 'is', args: [i, 'no'], optional: true },
    { method: 'SetLinkDNSOverTLS', signature: 'is', args: [i, 'no'], optional: true },
    {
      method: 'SetLinkDomains',
      signature: 'ia(sb)',
      args: [i, String(c.domains.length), ...c.domains.flatMap((d) => [d.name, String(d.routeOnly)])],
    },
    dns,
  ];
}

export const revertCall = (ifindex: number): ResolvedCall => ({ method: 'RevertLink', signature: 'i', args: [String(ifindex)] });

/** The full argument list of `busctl` for one call. No auto-start: a call must never start a
 * resolved that the machine does not run (D-Bus activation would). */
export function busctlArgs(c: ResolvedCall): string[] {
  return ['--system', '--timeout=5', '--auto-start=no', 'call', DEST, PATH, MANAGER, c.method, c.signature, ...c.args];
}

/** The nameservers of a resolv.conf text, IPv4 and IPv6. */
export function parseNameservers(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined && isIP(s.replace(/%.*$/, '')) !== 0);
}

/** resolved's reply for RevertLink of an ifindex it does not know ("Link 7 not known"). */
export const isNoSuchLink = (stderr: string) => /\bLink \d+ not known\b|NoSuchLink/.test(stderr);
/** The bus's reply when resolved is not running (and not started for us: --auto-start=no). */
export const isNotRunning = (stderr: string) =>
  /Name "org\.freedesktop\.resolve1" does not exist|not provided by any \.service files|NameHasNoOwner|ServiceUnknown/.test(stderr);
export const isUnknownMethod = (stderr: string) => /Unknown method|UnknownMethod/i.test(stderr);

// ─── Talking to resolved ───────────────────────────────────────────────────────────────────────

// busctl's exit, told apart by the callers below and worded as a ResolvedError; never leaves this file.
class BusctlFailure extends Error {
  constructor(
    readonly code: string | number | undefined,
    readonly stderr: string,
  ) {
    super(stderr);
  }
}

async function busctl(args: string[]): Promise<string> {
  try {
    return (await run('busctl', args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as { code?: string | number; stderr?: string; message: string };
    throw new BusctlFailure(e.code, String(e.stderr || e.message).trim());
  }
}

/** Whether resolved runs: its name has an owner on the system bus (a D-Bus-activatable service
 * that is not running does not count: "when it runs"). No busctl or no bus → false. */
export async function resolvedRunning(): Promise<boolean> {
  try {
    const out = await busctl([
      '--system',
      '--timeout=5',
      'call',
      'org.freedesktop.DBus',
      '/org/freedesktop/DBus',
      'org.freedesktop.DBus',
      'NameHasOwner',
      's',
      DEST,
    ]);
    return out.trim() === 'b true';
  } catch {
    return false;
  }
}

/** Detects which DNS integration this machine gets (see chooseDnsMode). */
export async function detectDnsMode(resolvConf = '/etc/resolv.conf'): Promise<{ mode: DnsMode; why: string }> {
  let text = '';
  try {
    text = readFileSync(resolvConf, 'utf8');
  } catch {
    // no resolv.conf: glibc asks 127.0.0.1, which is not resolved's stub
  }
  return chooseDnsMode({ resolvedRunning: await resolvedRunning(), resolvConfNameservers: parseNameservers(text) });
}

/** The servers resolved itself asks for names not routed elsewhere — what tp's server relays
 * non-cluster names to in this mode (relaying to the stub would come straight back to tp for names
 * under tp's routing domains). Read before the link is configured, and tp's own server left out. */
export function uplinkNameservers(exclude: string[] = [], path = RESOLVED_UPLINK_CONF): string[] {
  try {
    return parseNameservers(readFileSync(path, 'utf8')).filter((s) => s !== RESOLVED_STUB && !exclude.includes(s));
  } catch {
    return [];
  }
}

function callFailed(c: ResolvedCall, f: BusctlFailure): ResolvedError {
  if (f.code === 'ENOENT') {
    return new ResolvedError(
      'E_RESOLVED_BUSCTL',
      'busctl, needed to configure systemd-resolved, is not installed',
      'install systemd (it ships busctl), or stop systemd-resolved so that tp uses its iptables redirect',
      f,
    );
  }
  const why = f.stderr.replace(/^Call failed:\s*/, '') || `busctl exited with ${f.code}`;
  return new ResolvedError(
    'E_RESOLVED_CALL',
    `systemd-resolved failed ${c.method} for link ${c.args[0]}: ${why}`,
    'see `resolvectl status` and `journalctl -u systemd-resolved`',
    f,
  );
}

/** Applies configureCalls(c). On a failure the link is reverted before the error is thrown. */
export async function configureLink(c: LinkDnsConfig): Promise<{ skipped: string[] }> {
  const skipped: string[] = [];
  for (const call of configureCalls(c)) {
    try {
      await busctl(busctlArgs(call));
    } catch (err) {
      const f = err as BusctlFailure;
      if (call.optional && isUnknownMethod(f.stderr)) {
        skipped.push(call.method);
        continue;
      }
      await revertLink(c.ifindex).catch(() => {});
      throw callFailed(call, f);
    }
  }
  return { skipped };
}

/** Replaces the link's domains alone (the cluster's subnets changed while connected). */
export async function setLinkDomains(ifindex: number, domains: LinkDomain[]): Promise<void> {
  const call = configureCalls({ ifindex, server: { host: '127.0.0.1', port: 53 }, domains }).find((c) => c.method === 'SetLinkDomains')!;
  try {
    await busctl(busctlArgs(call));
  } catch (err) {
    throw callFailed(call, err as BusctlFailure);
  }
}

/** Idempotent: a link resolved does not know (gone with the TUN, or never configured) is fine. */
export async function revertLink(ifindex: number): Promise<void> {
  const call = revertCall(ifindex);
  try {
    await busctl(busctlArgs(call));
  } catch (err) {
    const f = err as BusctlFailure;
    if (isNoSuchLink(f.stderr) || isNotRunning(f.stderr)) return;
    throw callFailed(call, f);
  }
}
