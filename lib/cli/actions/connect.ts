// `tp connect [--socks [HOST:PORT]] [-- CMD...]`
import type { Command } from 'commander';
import { DaemonCallError, type ConnectRequest, type DaemonStatus } from '../../common/rpc/daemon.js';
import { ROOT_NOT_RUNNING } from '../../user/root-link.js';
import { callDaemon, callDaemonIfRunning, ensureDaemon } from '../daemon-client.js';
import { CliError, emit, parseOutput } from '../output.js';
import { ensureRootDaemon } from '../root-daemon.js';
import { PROXY_PRELOAD, runCommand } from '../run-command.js';
import { config, kubeRequest } from '../settings.js';

export async function connect(command: string[], opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  const vif = opts.socks === false;
  const socks = vif ? undefined : opts.socks === true ? '127.0.0.1:1080' : String(opts.socks);
  if (
    !vif &&
    (opts.alsoProxy || opts.neverProxy || opts.allowConflictingSubnets || opts.vnat || opts.dnsIncludeSuffix || opts.dnsExcludeSuffix)
  ) {
    throw new CliError(
      'E_FLAG',
      '--also-proxy, --never-proxy, --allow-conflicting-subnets, --vnat and --dns-*-suffix apply to the TUN device, not to --socks',
      'drop them, or drop --socks',
    );
  }
  if (opts.socksPassword !== undefined && opts.socksUser === undefined) throw new CliError('E_FLAG', '--socks-password needs --socks-user');
  const cfg = config();
  const before = await callDaemonIfRunning('status', {});
  const wasConnected = before !== undefined && before.state !== 'disconnected';
  if (!before) await ensureDaemon();
  const list = (fromConfig: string[], flag: unknown) => [...fromConfig, ...(Array.isArray(flag) ? (flag as string[]) : [])];
  const mapped = Array.isArray(opts.mappedNamespaces) ? (opts.mappedNamespaces as string[]) : cfg.mappedNamespaces;
  const req: ConnectRequest = {
    ...kubeRequest(opts),
    ...(mapped.length ? { mappedNamespaces: mapped } : {}),
    ...(socks ? { socks } : {}),
    ...(vif
      ? {
          alsoProxy: list(cfg.routing.alsoProxy, opts.alsoProxy),
          neverProxy: list(cfg.routing.neverProxy, opts.neverProxy),
          ...(opts.allowConflictingSubnets || cfg.routing.allowConflictingSubnets ? { allowConflictingSubnets: true } : {}),
          ...(Array.isArray(opts.vnat) ? { vnat: opts.vnat as string[] } : {}),
          dnsIncludeSuffixes: list(cfg.dns.includeSuffixes, opts.dnsIncludeSuffix),
          dnsExcludeSuffixes: list(cfg.dns.excludeSuffixes, opts.dnsExcludeSuffix),
        }
      : {}),
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
    await emit(format, status, () => printConnected(status));
    return;
  }
  const code = vif ? await runCommand(command, process.env) : await runWithProxy(command, status, opts);
  if (!wasConnected) await callDaemon('quit', {}).catch(() => {});
  process.exit(code);
}

function printConnected(s: DaemonStatus): void {
  console.log(`Connected to context ${s.context} (cluster ${s.cluster}), namespace ${s.namespace}`);
  if (s.vif)
    console.log(
      `Interface ${s.vif.interface} routes ${s.vif.routes.join(', ')}; cluster names resolve from every program: curl http://SERVICE.NAMESPACE/`,
    );
  for (const m of s.vif?.vnat ?? [])
    console.log(`Subnet ${m.real} is reached at ${m.virtual} (VNAT: ${m.reason}); cluster names resolve to those addresses`);
  if (s.socks) console.log(`SOCKS5 and HTTP proxy on ${s.socks}: curl --socks5-hostname ${s.socks} http://SERVICE.NAMESPACE/`);
  if (s.mappedNamespaces)
    console.log(`Mapped namespaces ${s.mappedNamespaces.join(', ')}: names and workloads of other namespaces are not reached`);
}

/** Runs CMD with the proxy variables that curl, Go, Python and (through a preload) Node honour. */
async function runWithProxy(command: string[], status: DaemonStatus, opts: Record<string, unknown>): Promise<number> {
  const addr = status.socks!;
  const auth =
    typeof opts.socksUser === 'string'
      ? `${encodeURIComponent(opts.socksUser)}:${encodeURIComponent(String(opts.socksPassword ?? ''))}@`
      : '';
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
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PROXY_PRELOAD}`.trim(),
    TP_SOCKS: addr,
  };
  return runCommand(command, env);
}
