// `tp connect [--socks [HOST:PORT]] [-- CMD...]`
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DaemonCallError, type ConnectRequest, type DaemonStatus } from '../../common/rpc/daemon.js';
import { ROOT_NOT_RUNNING } from '../../user/root-link.js';
import { callDaemon, daemonRunning, ensureDaemon } from '../daemon-client.js';
import { CliError, emit, parseOutput } from '../output.js';
import { ensureRootDaemon } from '../root-daemon.js';
import { addKubeFlags, config, kubeRequest } from './kube-flags.js';

const PRELOAD = join(dirname(fileURLToPath(import.meta.url)), '..', 'proxy-preload.js');

export function registerConnect(program: Command): void {
  addKubeFlags(program.command('connect'))
    .description('connect to the cluster: pod IPs, Service IPs and cluster DNS names work from every program (a TUN device; needs root via sudo), or with --socks through a local SOCKS5/HTTP proxy (no root)')
    .option('--socks [host:port]', 'run the no-root proxy (SOCKS5 and HTTP on one port) at this address instead of the TUN device', false)
    .option('--also-proxy <cidr>', 'also route this subnet to the cluster (repeatable; adds to routing.alsoProxy of the config file)', (v: string, p: string[] = []) => [...p, v])
    .option('--never-proxy <cidr>', 'never route this subnet to the cluster (repeatable; adds to routing.neverProxy)', (v: string, p: string[] = []) => [...p, v])
    .option('--allow-conflicting-subnets', 'route cluster subnets even where they overlap a route of this machine (shadowing it), instead of mapping them to virtual subnets (routing.allowConflictingSubnets)')
    .option('--vnat <cidr>', 'map the cluster subnets that overlap this CIDR (or "all") to virtual subnets even where no route of this machine conflicts (repeatable)', (v: string, p: string[] = []) => [...p, vnatFlag(v)])
    .option('--dns-include-suffix <suffix>', 'also resolve names ending in this suffix in the cluster (repeatable; adds to dns.includeSuffixes)', (v: string, p: string[] = []) => [...p, v])
    .option('--dns-exclude-suffix <suffix>', 'never resolve names ending in this suffix in the cluster (repeatable; adds to dns.excludeSuffixes)', (v: string, p: string[] = []) => [...p, v])
    .option('--manager-address <host:port>', 'reach the traffic manager over its direct route (chart value directRoute.enabled: a NodePort, LoadBalancer or VPN address) instead of a port-forward; falls back to the port-forward when it fails')
    .option('--mapped-namespaces <list>', 'resolve names, list and engage workloads only in these namespaces, comma-separated (default: mappedNamespaces of the config file; "all" for every namespace you may see)', mappedNamespacesFlag)
    .option('--socks-user <name>', 'require this username on the proxy (SOCKS5 user/password, HTTP Basic)')
    .option('--socks-password <password>', 'the password for --socks-user')
    .argument('[command...]', 'after --: a command to run while connected; tp disconnects when it exits')
    .action(async (command: string[], opts: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const vif = opts.socks === false;
      const socks = vif ? undefined : opts.socks === true ? '127.0.0.1:1080' : String(opts.socks);
      if (!vif && (opts.alsoProxy || opts.neverProxy || opts.allowConflictingSubnets || opts.vnat || opts.dnsIncludeSuffix || opts.dnsExcludeSuffix)) {
        throw new CliError('E_FLAG', '--also-proxy, --never-proxy, --allow-conflicting-subnets, --vnat and --dns-*-suffix apply to the TUN device, not to --socks', 'drop them, or drop --socks');
      }
      if (opts.socksPassword !== undefined && opts.socksUser === undefined) throw new CliError('E_FLAG', '--socks-password needs --socks-user');
      const cfg = config();
      const wasRunning = await daemonRunning();
      const before = wasRunning ? await callDaemon('status', {}) : undefined;
      const wasConnected = before !== undefined && before.state !== 'disconnected';
      await ensureDaemon();
      const list = (fromConfig: string[], flag: unknown) => [...fromConfig, ...(Array.isArray(flag) ? (flag as string[]) : [])];
      const mapped = Array.isArray(opts.mappedNamespaces) ? (opts.mappedNamespaces as string[]) : cfg.mappedNamespaces;
      const req: ConnectRequest = {
        ...kubeRequest(opts),
        ...(mapped.length ? { mappedNamespaces: mapped } : {}),
        ...(socks ? { socks } : {}),
        ...(vif ? {
          alsoProxy: list(cfg.routing.alsoProxy, opts.alsoProxy),
          neverProxy: list(cfg.routing.neverProxy, opts.neverProxy),
          ...(opts.allowConflictingSubnets || cfg.routing.allowConflictingSubnets ? { allowConflictingSubnets: true } : {}),
          ...(Array.isArray(opts.vnat) ? { vnat: opts.vnat as string[] } : {}),
          dnsIncludeSuffixes: list(cfg.dns.includeSuffixes, opts.dnsIncludeSuffix),
          dnsExcludeSuffixes: list(cfg.dns.excludeSuffixes, opts.dnsExcludeSuffix),
        } : {}),
        ...(typeof opts.socksUser === 'string' ? { socksUser: opts.socksUser, socksPassword: String(opts.socksPassword ?? '') } : {}),
        ...(typeof opts.managerAddress === 'string' ? { managerAddress: opts.managerAddress } : {}),
      };
      const timeoutMs = cfg.timeouts.connect * 1000;
      // VIF: the root daemon starts here, where sudo can ask for a password (root-daemon.ts); the
      // user daemon attaches to it. One that left meanwhile (its grace ran out) is started again.
      // Connected with --socks already: the daemon refuses a second connection; no sudo for that.
      const socksAlready = wasConnected && before?.socks !== undefined;
      if (vif && !socksAlready) await ensureRootDaemon({ logLevel: cfg.logLevels.rootDaemon });
      const status = await callDaemon('connect', req, timeoutMs).catch(async (err: unknown) => {
        if (!(vif && err instanceof DaemonCallError && err.code === ROOT_NOT_RUNNING)) throw err;
        await ensureRootDaemon({ logLevel: cfg.logLevels.rootDaemon });
        return callDaemon('connect', req, timeoutMs);
      });
      if (command.length === 0) {
        emit(format, status, () => printConnected(status));
        return;
      }
      const code = vif ? await runCommand(command, process.env) : await runWithProxy(command, status, opts);
      if (!wasConnected) await callDaemon('quit', {}).catch(() => {});
      process.exit(code);
    });
}

function printConnected(s: DaemonStatus): void {
  console.log(`Connected to context ${s.context} (cluster ${s.cluster}), namespace ${s.namespace}`);
  if (s.vif) console.log(`Interface ${s.vif.interface} routes ${s.vif.routes.join(', ')}; cluster names resolve from every program: curl http://SERVICE.NAMESPACE/`);
  for (const m of s.vif?.vnat ?? []) console.log(`Subnet ${m.real} is reached at ${m.virtual} (VNAT: ${m.reason}); cluster names resolve to those addresses`);
  if (s.socks) console.log(`SOCKS5 and HTTP proxy on ${s.socks}: curl --socks5-hostname ${s.socks} http://SERVICE.NAMESPACE/`);
  if (s.mappedNamespaces) console.log(`Mapped namespaces ${s.mappedNamespaces.join(', ')}: names and workloads of other namespaces are not reached`);
}

/** `--mapped-namespaces a,b`: namespace names; `all` (or nothing) for no limit. Repeating the flag
 * adds to the list. */
export function mappedNamespacesFlag(v: string, previous: string[] = []): string[] {
  const names = v.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'all') return previous;
  for (const n of names) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(n)) throw new CliError('E_FLAG', `--mapped-namespaces: "${n}" is not a namespace name`, 'list namespaces separated by commas: --mapped-namespaces team-a,team-b');
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

/** Runs CMD with the proxy variables that curl, Go, Python and (through a preload) Node honour. */
async function runWithProxy(command: string[], status: DaemonStatus, opts: Record<string, unknown>): Promise<number> {
  const addr = status.socks!;
  const auth = typeof opts.socksUser === 'string' ? `${encodeURIComponent(opts.socksUser)}:${encodeURIComponent(String(opts.socksPassword ?? ''))}@` : '';
  const http = `http://${auth}${addr}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ALL_PROXY: `socks5h://${auth}${addr}`,
    all_proxy: `socks5h://${auth}${addr}`,
    HTTP_PROXY: http,
    http_proxy: http,
    HTTPS_PROXY: http,
    https_proxy: http,
    NO_PROXY: 'localhost,127.0.0.1,::1',
    no_proxy: 'localhost,127.0.0.1,::1',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(),
    TP_SOCKS: addr,
  };
  return runCommand(command, env);
}

export function runCommand(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    child.on('error', (err) => {
      process.stderr.write(`tp: cannot run ${command[0]}: ${err.message}.\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  });
}
