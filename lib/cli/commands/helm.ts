// `tp helm install|upgrade|uninstall`: the traffic manager's chart, embedded in the package and
// rendered by tp itself (no helm binary needed), recorded as a Helm release so `helm` can take over.
import type { Command } from 'commander';
import { install, upgrade, uninstall, DEFAULT_RELEASE, type Progress, type ValueOptions } from '../../helm/index.js';
import { checkCredentials, kubeWhere, loadKube, type KubeTarget } from '../../user/kube.js';
import { describeKubeError } from '../../common/kube-errors.js';
import { HelmError } from '../../helm/errors.js';
import { CliError, emit, parseOutput } from '../output.js';
import { config, KUBECONFIG_HELP, MANAGER_NAMESPACE_HELP } from './kube-flags.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

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
    .option('--timeout <seconds>', 'how long to wait for the manager to become ready (default: timeouts.helmInstall of the config file, else 120)')
    .option('--no-wait', 'do not wait for the manager to become ready');
}

async function kubeTargetOf(o: Record<string, unknown>): Promise<KubeTarget> {
  const t = loadKube({
    ...(typeof o.kubeconfig === 'string' ? { kubeconfig: o.kubeconfig } : {}),
    ...(typeof o.context === 'string' ? { context: o.context } : {}),
  });
  await checkCredentials(t);
  return t;
}

const namespaceOf = (o: Record<string, unknown>) => (typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace);

/** A failed API call inside the installer, worded with the kubeconfig's server and context. */
async function explained<T>(t: KubeTarget, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const cause = err instanceof HelmError && err.code === 'E_HELM_CLUSTER' ? err.opts.cause : undefined;
    const f = cause === undefined ? undefined : describeKubeError(cause, kubeWhere(t));
    // Only failures the sentence improves on: HelmError already words 403s and missing namespaces.
    if (f && (f.code === 'E_KUBE_UNREACHABLE' || f.code === 'E_KUBE_TLS' || f.code === 'E_KUBE_UNAUTHORIZED')) {
      throw Object.assign(new CliError(f.code, f.message, f.hint), { cause: err });
    }
    throw err;
  }
}

function valuesOf(o: Record<string, unknown>): ValueOptions {
  return {
    ...(Array.isArray(o.values) ? { valueFiles: o.values as string[] } : {}),
    ...(Array.isArray(o.set) ? { set: o.set as string[] } : {}),
    ...(Array.isArray(o.setString) ? { setString: o.setString as string[] } : {}),
  };
}

function timeoutOf(o: Record<string, unknown>): number {
  if (o.timeout === undefined) return config().timeouts.helmInstall * 1000;
  const s = Number(o.timeout);
  if (!Number.isFinite(s) || s <= 0) throw new CliError('E_FLAG', `--timeout "${String(o.timeout)}" is not a number of seconds`);
  return s * 1000;
}

/** Progress on a TTY: one line rewritten in place; nothing when output is piped. */
function progress(format: string): (p: Progress) => void {
  if (format !== 'default' || !process.stderr.isTTY) return () => {};
  return (p) => {
    const extra = p.phase === 'wait' ? ` (${Math.round(p.elapsedMs / 1000)} s)` : 'done' in p ? ` (${p.done}/${p.total})` : '';
    process.stderr.write(`\r\x1b[K${p.message}${extra}`);
  };
}

function clearProgress(format: string): void {
  if (format === 'default' && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

/** The one-line result, then the chart's NOTES.txt as Helm prints it. */
function printInstalled(line: string, notes: string | undefined): void {
  console.log(line);
  if (notes?.trim()) console.log(`\nNOTES:\n${notes.trim()}`);
}

export function registerHelm(program: Command): void {
  const helm = program.command('helm').description('install, upgrade or uninstall the traffic manager (no helm binary needed)');

  valueFlags(commonFlags(helm.command('install')))
    .description('install the traffic manager into the cluster')
    .option('--upgrade', 'upgrade it when it is installed already')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const t = await kubeTargetOf(o);
      const opts = {
        kubeConfig: t.kc, namespace: namespaceOf(o), releaseName: DEFAULT_RELEASE, values: valuesOf(o),
        wait: o.wait !== false, timeoutMs: timeoutOf(o), onProgress: progress(format),
      };
      try {
        const r = await explained(t, () => (o.upgrade ? upgrade({ ...opts, install: true }) : install(opts)));
        clearProgress(format);
        emit(format, r, () => printInstalled(`Traffic manager installed in namespace ${r.namespace} (release ${r.name}, revision ${r.revision}, chart ${r.chart})`, r.notes));
      } finally {
        clearProgress(format);
      }
    });

  valueFlags(commonFlags(helm.command('upgrade')))
    .description('upgrade the traffic manager (keeps your values unless you give new ones)')
    .option('--reuse-values', 'merge the given values over the installed ones')
    .option('--reset-values', 'start from the chart\'s defaults')
    .option('-i, --install', 'install when it is not installed yet')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const t = await kubeTargetOf(o);
      try {
        const r = await explained(t, () => upgrade({
          kubeConfig: t.kc, namespace: namespaceOf(o), releaseName: DEFAULT_RELEASE, values: valuesOf(o),
          wait: o.wait !== false, timeoutMs: timeoutOf(o), onProgress: progress(format),
          reuseValues: o.reuseValues === true, resetValues: o.resetValues === true, install: o.install === true,
        }));
        clearProgress(format);
        emit(format, r, () => printInstalled(`Traffic manager ${r.revision === 1 ? 'installed' : 'upgraded'} in namespace ${r.namespace} (revision ${r.revision}, chart ${r.chart})`, r.notes));
      } finally {
        clearProgress(format);
      }
    });

  commonFlags(helm.command('uninstall'))
    .description('remove the traffic manager from the cluster')
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
      const t = await kubeTargetOf(o);
      const r = await explained(t, () => uninstall({ kubeConfig: t.kc, namespace: namespaceOf(o), releaseName: DEFAULT_RELEASE, onProgress: progress(format) }));
      clearProgress(format);
      emit(format, r, () => console.log(`Traffic manager uninstalled from namespace ${r.namespace}`));
    });
}
