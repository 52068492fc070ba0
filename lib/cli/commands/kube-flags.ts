// Flags shared by every command that reaches the cluster, and the config file's defaults for them.
import type { Command } from 'commander';
import { delimiter, resolve } from 'node:path';
import { loadConfig, type TpConfig } from '../../common/config.js';
import type { ConnectRequest } from '../../common/rpc/daemon.js';

export const KUBECONFIG_HELP = 'kubeconfig file to use (default: the files in $KUBECONFIG, merged as kubectl does, or ~/.kube/config)';
export const MANAGER_NAMESPACE_HELP = 'namespace of the traffic manager (default: managerNamespace of the config file, else tp-system)';

export function addKubeFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .option('--context <name>', 'kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <name>', 'namespace for names and workloads (default: the context\'s)')
    .option('--manager-namespace <name>', MANAGER_NAMESPACE_HELP);
}

let cached: TpConfig | undefined;
/** The config file (~/.config/tp/config.yml), read once per command; a bad file is an error. */
export function config(): TpConfig {
  cached ??= loadConfig().config;
  return cached;
}

/** KUBECONFIG with each path made absolute: the user daemon's working directory is not ours. */
export function absoluteKubeconfigEnv(env = process.env.KUBECONFIG): string {
  return (env ?? '').split(delimiter).filter(Boolean).map((p) => resolve(p)).join(delimiter);
}

export function kubeRequest(o: Record<string, unknown>): ConnectRequest {
  const req: ConnectRequest = { kubeconfigEnv: absoluteKubeconfigEnv() };
  if (typeof o.kubeconfig === 'string') req.kubeconfig = resolve(o.kubeconfig);
  if (typeof o.context === 'string') req.context = o.context;
  if (typeof o.namespace === 'string') req.namespace = o.namespace;
  req.managerNamespace = typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace;
  return req;
}
