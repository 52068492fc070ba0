// Flags shared by every command that reaches the cluster.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { ConnectRequest } from '../../common/rpc/daemon.js';

export function addKubeFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <name>', 'namespace for names and workloads (default: the context\'s)')
    .option('--manager-namespace <name>', 'namespace of the traffic manager', 'tp-system');
}

export function kubeRequest(o: Record<string, unknown>): ConnectRequest {
  const req: ConnectRequest = {};
  // The daemon's working directory is not the CLI's: pass absolute paths.
  if (typeof o.kubeconfig === 'string') req.kubeconfig = resolve(o.kubeconfig);
  else if (process.env.KUBECONFIG) req.kubeconfig = resolve(process.env.KUBECONFIG.split(':')[0]!);
  if (typeof o.context === 'string') req.context = o.context;
  if (typeof o.namespace === 'string') req.namespace = o.namespace;
  if (typeof o.managerNamespace === 'string') req.managerNamespace = o.managerNamespace;
  return req;
}
