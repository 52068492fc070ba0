// The config file's defaults for the flags of the commands that reach the cluster, and the
// request those flags make (commands/kube-flags.ts declares the flags).
import { delimiter, resolve } from 'node:path';
import { loadConfig, type TpConfig } from '../common/config.js';
import type { ConnectRequest } from '../common/rpc/daemon.js';

let cached: TpConfig | undefined;
/** The config file (~/.config/tp/config.yml), read once per command; a bad file is an error. */
export function config(): TpConfig {
  cached ??= loadConfig().config;
  return cached;
}

/** KUBECONFIG with each path made absolute: the user daemon's working directory is not ours. */
export function absoluteKubeconfigEnv(env = process.env.KUBECONFIG): string {
  return (env ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((p) => resolve(p))
    .join(delimiter);
}

export function kubeRequest(o: Record<string, unknown>): ConnectRequest {
  const req: ConnectRequest = { kubeconfigEnv: absoluteKubeconfigEnv() };
  if (typeof o.kubeconfig === 'string') req.kubeconfig = resolve(o.kubeconfig);
  if (typeof o.context === 'string') req.context = o.context;
  if (typeof o.namespace === 'string') req.namespace = o.namespace;
  req.managerNamespace = typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace;
  return req;
}
