// Loading the user's kubeconfig with errors that say what to do. The user daemon is the only
// process that reads it (the root daemon never does).
import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { DaemonCallError } from '../common/rpc/daemon.js';

export interface KubeTarget {
  kc: k8s.KubeConfig;
  kubeconfig: string;
  context: string;
  cluster: string;
  /** The namespace of the context, or 'default'. */
  namespace: string;
}

export function loadKube(opts: { kubeconfig?: string; context?: string }): KubeTarget {
  const kc = new k8s.KubeConfig();
  const path = opts.kubeconfig || process.env.KUBECONFIG || `${process.env.HOME ?? ''}/.kube/config`;
  const first = path.split(':')[0] ?? path;
  if (opts.kubeconfig && !existsSync(opts.kubeconfig)) {
    throw new DaemonCallError('E_KUBECONFIG', `the kubeconfig ${opts.kubeconfig} does not exist`, 'pass --kubeconfig with the path of an existing file');
  }
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new DaemonCallError('E_KUBECONFIG', `cannot read the kubeconfig ${first}: ${(err as Error).message.split('\n')[0]}`, 'check the file, or pass --kubeconfig');
  }
  if (kc.getContexts().length === 0) {
    throw new DaemonCallError('E_KUBECONFIG', `the kubeconfig ${first} has no contexts`, 'pass --kubeconfig with a kubeconfig for your cluster');
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const names = kc.getContexts().map((c) => c.name).join(', ');
      throw new DaemonCallError('E_CONTEXT', `context "${opts.context}" is not in the kubeconfig ${first} (it has: ${names})`, 'pass one of those to --context');
    }
    kc.setCurrentContext(opts.context);
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  if (!ctx) throw new DaemonCallError('E_CONTEXT', `the kubeconfig ${first} has no current context`, 'pass --context');
  return { kc, kubeconfig: first, context: ctx.name, cluster: ctx.cluster, namespace: ctx.namespace || 'default' };
}
