// `tp helm install|upgrade|uninstall` (their flags: commands/helm.ts): the embedded chart
// rendered and applied by lib/helm with the user's kubeconfig.
import type { Command } from 'commander';
import { install, upgrade, uninstall, DEFAULT_RELEASE, type Progress, type ValueOptions } from '../../helm/index.js';
import { checkCredentials, kubeWhere, loadKube, type KubeTarget } from '../../user/kube.js';
import { describeKubeError } from '../../common/kube-errors.js';
import { HelmError } from '../../helm/errors.js';
import { CliError, emit, parseOutput } from '../output.js';
import { config } from '../settings.js';

async function kubeTargetOf(o: Record<string, unknown>): Promise<KubeTarget> {
  const t = loadKube({
    ...(typeof o.kubeconfig === 'string' ? { kubeconfig: o.kubeconfig } : {}),
    ...(typeof o.context === 'string' ? { context: o.context } : {}),
  });
  await checkCredentials(t);
  return t;
}

const namespaceOf = (o: Record<string, unknown>) =>
  typeof o.managerNamespace === 'string' ? o.managerNamespace : config().managerNamespace;

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

export async function helmInstall(o: Record<string, unknown>, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  const t = await kubeTargetOf(o);
  const opts = {
    kubeConfig: t.kc,
    namespace: namespaceOf(o),
    releaseName: DEFAULT_RELEASE,
    values: valuesOf(o),
    wait: o.wait !== false,
    timeoutMs: timeoutOf(o),
    onProgress: progress(format),
  };
  try {
    const r = await explained(t, () => (o.upgrade ? upgrade({ ...opts, install: true }) : install(opts)));
    clearProgress(format);
    await emit(format, r, () =>
      printInstalled(
        `Traffic manager installed in namespace ${r.namespace} (release ${r.name}, revision ${r.revision}, chart ${r.chart})`,
        r.notes,
      ),
    );
  } finally {
    clearProgress(format);
  }
}

export async function helmUpgrade(o: Record<string, unknown>, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  const t = await kubeTargetOf(o);
  try {
    const r = await explained(t, () =>
      upgrade({
        kubeConfig: t.kc,
        namespace: namespaceOf(o),
        releaseName: DEFAULT_RELEASE,
        values: valuesOf(o),
        wait: o.wait !== false,
        timeoutMs: timeoutOf(o),
        onProgress: progress(format),
        reuseValues: o.reuseValues === true,
        resetValues: o.resetValues === true,
        install: o.install === true,
      }),
    );
    clearProgress(format);
    await emit(format, r, () =>
      printInstalled(
        `Traffic manager ${r.revision === 1 ? 'installed' : 'upgraded'} in namespace ${r.namespace} (revision ${r.revision}, chart ${r.chart})`,
        r.notes,
      ),
    );
  } finally {
    clearProgress(format);
  }
}

export async function helmUninstall(o: Record<string, unknown>, cmd: Command): Promise<void> {
  const format = parseOutput(cmd.optsWithGlobals().output as string | undefined);
  const t = await kubeTargetOf(o);
  const r = await explained(t, () =>
    uninstall({ kubeConfig: t.kc, namespace: namespaceOf(o), releaseName: DEFAULT_RELEASE, onProgress: progress(format) }),
  );
  clearProgress(format);
  await emit(format, r, () => console.log(`Traffic manager uninstalled from namespace ${r.namespace}`));
}
