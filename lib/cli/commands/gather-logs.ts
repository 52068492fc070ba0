// `tp gather-logs`: everything needed to report a problem, in one archive (the action:
// actions/gather-logs.ts).
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';
import { KUBECONFIG_HELP, MANAGER_NAMESPACE_HELP } from './kube-flags.js';

export function registerGatherLogs(program: Command): void {
  const gather = program
    .command('gather-logs')
    .description("collect the daemons' logs and the traffic manager's and agents' pod logs into one archive, to attach to a problem report")
    .option('-f, --file <archive>', 'where to write it: a .tar.gz (.tgz) or .zip file (default: tp-logs-DATE-TIME.tar.gz here)')
    .option('--since <duration>', 'only what was logged in the last 30s, 15m, 2h, 1d …')
    .option('--no-cluster', 'leave out the pod logs (no kubeconfig needed)')
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .option('--context <name>', 'kubeconfig context to use (default: its current context)')
    .option('-n, --namespace <name>', "where to look for agent pods when they cannot be listed cluster-wide (default: the context's)")
    .option('--manager-namespace <name>', MANAGER_NAMESPACE_HELP);
  lazyAction(gather, async () => (await import('../actions/gather-logs.js')).gatherLogs);
}
