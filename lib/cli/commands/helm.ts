// `tp helm install|upgrade|uninstall`: the traffic manager's chart, embedded in the package and
// rendered by tp itself (no helm binary needed), recorded as a Helm release so `helm` can take
// over. The actions (actions/helm.ts) load the chart engine and client-node; the tree does not.
import type { Command } from 'commander';
import { lazyAction } from '../lazy.js';
import { KUBECONFIG_HELP, MANAGER_NAMESPACE_HELP } from './kube-flags.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const actions = () => import('../actions/helm.js');

function commonFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <file>', KUBECONFIG_HELP)
    .option('--context <name>', 'kubeconfig context to use')
    .option('--manager-namespace <name>', MANAGER_NAMESPACE_HELP);
}

function valueFlags(cmd: Command): Command {
  return cmd
    .option('--set <key=value>', 'set a chart value (repeatable), as helm --set', collect)
    .option('--set-string <key=value>', 'set a chart value as a string (repeatable)', collect)
    .option('-f, --values <file>', 'a YAML file of chart values (repeatable)', collect)
    .option(
      '--timeout <seconds>',
      'how long to wait for the manager to become ready (default: timeouts.helmInstall of the config file, else 120)',
    )
    .option('--no-wait', 'do not wait for the manager to become ready');
}

export function registerHelm(program: Command): void {
  const helm = program.command('helm').description('install, upgrade or uninstall the traffic manager (no helm binary needed)');

  const install = valueFlags(commonFlags(helm.command('install')))
    .description('install the traffic manager into the cluster')
    .option('--upgrade', 'upgrade it when it is installed already');
  lazyAction(install, async () => (await actions()).helmInstall);

  const upgrade = valueFlags(commonFlags(helm.command('upgrade')))
    .description('upgrade the traffic manager (keeps your values unless you give new ones)')
    .option('--reuse-values', 'merge the given values over the installed ones')
    .option('--reset-values', "start from the chart's defaults")
    .option('-i, --install', 'install when it is not installed yet');
  lazyAction(upgrade, async () => (await actions()).helmUpgrade);

  const uninstall = commonFlags(helm.command('uninstall')).description('remove the traffic manager from the cluster');
  lazyAction(uninstall, async () => (await actions()).helmUninstall);
}
