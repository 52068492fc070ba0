// Flags shared by every command that reaches the cluster. What they become (with the config
// file's defaults) is settings.ts's: this module is part of the command tree, which every tp
// command builds, so it imports nothing (#14).
import type { Command } from 'commander';

export const KUBECONFIG_HELP = 'kubeconfig file to use (default: the files in $KUBECONFIG, merged as kubectl does, or ~/.kube/config)';
export const MANAGER_NAMESPACE_HELP = 'namespace of the traffic manager (default: managerNamespace of the config file, else tp-system)';

export function addKubeFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .option('--context <name>', 'kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <name>', "namespace for names and workloads (default: the context's)")
    .option('--manager-namespace <name>', MANAGER_NAMESPACE_HELP);
}
