// Loading the user's kubeconfig the way kubectl does (k8s.io/client-go/tools/clientcmd, "loading
// rules"), with errors that say what to do. The user daemon, `tp helm` and `tp gather-logs` read
// it; the root daemon never does.
//
// kubectl's rules, and ours:
//   - --kubeconfig FILE: that file alone; it must exist.
//   - else every path in KUBECONFIG (':'-separated) in order; paths that do not exist are skipped;
//     the files are merged: for clusters, users and contexts the first file that defines a name
//     wins (the entry as a whole), and current-context is the first file's that sets one;
//   - else ~/.kube/config;
//   - with none of them found: the in-cluster service account when running in a pod, else an
//     error naming where we looked (client-node would silently fall back to http://localhost:8080
//     and then fail with "HTTP protocol is not allowed when skipTLSVerify is not set").
//   - relative certificate and key paths are relative to the file that names them.
// --context picks another context; exec credential plugins and OIDC work as client-node does them.
import * as k8s from '@kubernetes/client-node';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DaemonCallError } from '../common/rpc/daemon.js';
import { describeCredentialError, describeKubeError, type KubeOp, type KubeWhere } from '../common/kube-errors.js';

export interface KubeTarget {
  kc: k8s.KubeConfig;
  /** The file(s) read, for `tp status`: one path, or several joined with ':'. */
  kubeconfig: string;
  context: string;
  cluster: string;
  /** The namespace of the context, or 'default'. */
  namespace: string;
}

export interface KubeOptions {
  /** --kubeconfig. */
  kubeconfig?: string;
  /** The KUBECONFIG of the process that asked (the CLI's, not the user daemon's own): undefined
   * reads this process's environment; '' means unset. */
  kubeconfigEnv?: string;
  /** --context. */
  context?: string;
  /** Home directory for ~/.kube/config (tests). */
  home?: string;
  /** Whether a pod's service account may be used when no file is found (default: when in a pod). */
  inCluster?: boolean;
}

interface Loaded {
  file: string;
  kc: k8s.KubeConfig;
}

/** The files kubectl would read, in order, and whether they came from an explicit flag. */
export function kubeconfigFiles(o: KubeOptions): { files: string[]; explicit: boolean; searched: string } {
  if (o.kubeconfig) return { files: [resolve(o.kubeconfig)], explicit: true, searched: `--kubeconfig ${o.kubeconfig}` };
  const env = o.kubeconfigEnv ?? process.env.KUBECONFIG ?? '';
  const list = env
    .split(delimiter)
    .filter(Boolean)
    .map((p) => resolve(p));
  if (list.length > 0) return { files: list, explicit: false, searched: `KUBECONFIG (${list.join(', ')})` };
  const home = o.home ?? process.env.HOME ?? homedir();
  const def = resolve(home, '.kube', 'config');
  return { files: [def], explicit: false, searched: def };
}

function readOne(file: string): Loaded {
  let text: string;
  try {
    if (statSync(file).isDirectory())
      throw new DaemonCallError('E_KUBECONFIG', `the kubeconfig ${file} is a directory`, 'pass the path of a kubeconfig file');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof DaemonCallError) throw err;
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `cannot read the kubeconfig ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      "check the file's permissions",
    );
  }
  const kc = new k8s.KubeConfig();
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `the kubeconfig ${file} is not YAML: ${(err as Error).message.split('\n')[0]}`,
      'fix the file, or point --kubeconfig/KUBECONFIG elsewhere',
    );
  }
  // An empty file is an empty config, as kubectl reads it.
  if (doc === null || doc === undefined) {
    kc.loadFromOptions({ clusters: [], users: [], contexts: [], currentContext: undefined });
    return { file, kc };
  }
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `the kubeconfig ${file} is not a kubeconfig (not a map)`,
      'fix the file, or point --kubeconfig/KUBECONFIG elsewhere',
    );
  // Entries that cannot be used (a cluster without server) are dropped, as kubectl ignores them
  // until a context needs them; that context then gets its own sentence below.
  kc.loadFromString(text, { onInvalidEntry: 'filter' } as Partial<k8s.ConfigOptions>);
  kc.makePathsAbsolute(dirname(file));
  return { file, kc };
}

/** kubectl's merge: per name, the first file's entry wins; current-context from the first file
 * that sets one. */
export function mergeKubeconfigs(loaded: Loaded[]): k8s.KubeConfig {
  const clusters = new Map<string, k8s.Cluster>();
  const users = new Map<string, k8s.User>();
  const contexts = new Map<string, k8s.Context>();
  let currentContext: string | undefined;
  for (const { kc } of loaded) {
    for (const c of kc.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of kc.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of kc.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!currentContext && kc.currentContext) currentContext = kc.currentContext;
  }
  const out = new k8s.KubeConfig();
  out.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
  return out;
}

const inPod = () => !!process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');

export function loadKube(opts: KubeOptions): KubeTarget {
  const { files, explicit, searched } = kubeconfigFiles(opts);
  if (explicit && !existsSync(files[0]!)) {
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `the kubeconfig ${opts.kubeconfig} does not exist`,
      'pass --kubeconfig with the path of an existing file',
    );
  }
  const present = files.filter((f) => existsSync(f));
  let kc: k8s.KubeConfig;
  let shown: string;
  if (present.length === 0) {
    if (opts.inCluster ?? inPod()) {
      kc = new k8s.KubeConfig();
      kc.loadFromCluster();
      shown = 'in-cluster service account';
    } else {
      throw new DaemonCallError(
        'E_NO_KUBECONFIG',
        `no kubeconfig found (looked in ${searched})`,
        "pass --kubeconfig FILE or set KUBECONFIG to your cluster's kubeconfig (what kubectl uses)",
      );
    }
  } else {
    kc = mergeKubeconfigs(present.map(readOne));
    shown = present.join(delimiter);
  }
  if (kc.getContexts().length === 0) {
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `the kubeconfig ${shown} has no contexts`,
      'pass --kubeconfig with a kubeconfig for your cluster (`kubectl config get-contexts` lists what kubectl sees)',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const names = kc
        .getContexts()
        .map((c) => c.name)
        .join(', ');
      throw new DaemonCallError(
        'E_CONTEXT',
        `context "${opts.context}" is not in the kubeconfig ${shown} (it has: ${names})`,
        'pass one of those to --context',
      );
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentContext()) {
    throw new DaemonCallError(
      'E_CONTEXT',
      `the kubeconfig ${shown} sets no current context`,
      `pass --context (one of: ${kc
        .getContexts()
        .map((c) => c.name)
        .join(', ')}), or \`kubectl config use-context NAME\``,
    );
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  if (!ctx)
    throw new DaemonCallError(
      'E_CONTEXT',
      `the current context "${kc.getCurrentContext()}" of the kubeconfig ${shown} is not defined in it`,
      'pass --context, or `kubectl config use-context NAME`',
    );
  if (!kc.getCluster(ctx.cluster)) {
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `context "${ctx.name}" names cluster "${ctx.cluster}", which the kubeconfig ${shown} does not define (with a server)`,
      'fix the kubeconfig, or pass another --context',
    );
  }
  if (ctx.user && !kc.getUser(ctx.user)) {
    throw new DaemonCallError(
      'E_KUBECONFIG',
      `context "${ctx.name}" names user "${ctx.user}", which the kubeconfig ${shown} does not define`,
      'fix the kubeconfig, or pass another --context',
    );
  }
  return { kc, kubeconfig: shown, context: ctx.name, cluster: ctx.cluster, namespace: ctx.namespace || 'default' };
}

/** Where requests go and as whom, for error sentences. */
export function kubeWhere(t: Pick<KubeTarget, 'kc' | 'context'>): KubeWhere {
  const user = t.kc.getCurrentUser();
  const exec = (user?.exec ?? user?.authProvider?.config?.exec) as { command?: string } | undefined;
  const provider = user?.authProvider?.name as string | undefined;
  return {
    ...(t.kc.getCurrentCluster()?.server ? { server: t.kc.getCurrentCluster()!.server } : {}),
    context: t.context,
    ...(exec?.command ? { execCommand: exec.command } : {}),
    ...(provider && provider !== 'exec' ? { authProvider: provider } : {}),
  };
}

/** An API failure as a DaemonCallError with its sentence; errors that are not the API's (tp's own,
 * bugs) come back unchanged. */
export function kubeFailure(err: unknown, t: Pick<KubeTarget, 'kc' | 'context'>, op?: KubeOp): unknown {
  if (err instanceof DaemonCallError) return err;
  const f = describeKubeError(err, kubeWhere(t), op);
  return f ? withCause(new DaemonCallError(f.code, f.message, f.hint), err) : err;
}

/**
 * Runs the kubeconfig user's credential plugin or auth provider once, before any request, so that
 * a failing `aws eks get-token` or an expired OIDC login is reported as itself (with the plugin's
 * stderr) instead of as whatever the first request makes of it. Plain http:// servers without
 * insecure-skip-tls-verify are refused here too (client-node does not speak to them).
 */
export async function checkCredentials(t: Pick<KubeTarget, 'kc' | 'context'>): Promise<void> {
  try {
    await t.kc.applyToFetchOptions({});
  } catch (err) {
    const where = kubeWhere(t);
    const f = describeKubeError(err, where);
    if (f) throw withCause(new DaemonCallError(f.code, f.message, f.hint), err);
    const c = describeCredentialError(err, where);
    throw withCause(new DaemonCallError(c.code, c.message, c.hint), err);
  }
}

function withCause<E extends Error>(e: E, cause: unknown): E {
  Object.defineProperty(e, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  return e;
}
