// Reaching the traffic manager: find a ready manager pod and open a kube port-forward to its API
// port, giving one byte stream (a Duplex) that the tunnel's HTTP/2 session runs over.
import * as k8s from '@kubernetes/client-node';
import type { Duplex } from 'node:stream';
import { portForwardStream } from './port-forward.js';
import { DaemonCallError } from '../common/rpc/daemon.js';
import { describeKubeError, type KubeOp } from '../common/kube-errors.js';

export const MANAGER_NAME = 'traffic-manager';
export const MANAGER_API_PORT = 8081;

export type { ManagerPod } from '../proxy/manager-session.js';
import type { ManagerPod } from '../proxy/manager-session.js';

/** The newest Ready manager pod, or an error that says how to get one. */
export async function findManagerPod(kc: k8s.KubeConfig, namespace: string): Promise<ManagerPod> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let pods: k8s.V1PodList;
  try {
    pods = await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/name=${MANAGER_NAME}` });
  } catch (err) {
    throw apiError(err, `cannot look for the traffic manager in namespace ${namespace}`, kc, { verb: 'list', resource: 'pods', namespace });
  }
  const ready = pods.items
    .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running')
    .filter((p) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
    .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
  const pod = ready[0];
  if (!pod?.metadata?.name) {
    if (pods.items.length === 0) {
      throw new DaemonCallError(
        'E_NO_MANAGER',
        `no traffic manager is installed in namespace ${namespace}`,
        'install it with `tp helm install` (or pass --manager-namespace)',
      );
    }
    throw new DaemonCallError(
      'E_MANAGER_NOT_READY',
      `the traffic manager in namespace ${namespace} is not ready (${pods.items.map((p) => `${p.metadata?.name}: ${p.status?.phase}`).join(', ')})`,
      `see \`kubectl -n ${namespace} describe pod\``,
    );
  }
  return { name: pod.metadata.name, namespace, ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}) };
}

/** One port-forward connection to the pod's port, as a Duplex (port-forward.ts: over the API
 * server's WebSocket, with backpressure both ways). It is destroyed, with the reason, when the
 * WebSocket closes or the API server reports a forwarding error. */
export async function openPortForward(kc: k8s.KubeConfig, pod: ManagerPod, port = MANAGER_API_PORT): Promise<Duplex> {
  try {
    return await portForwardStream(kc, pod.namespace, pod.name, port);
  } catch (err) {
    throw apiError(err, `cannot open a port-forward to ${pod.namespace}/${pod.name}`, kc, {
      verb: 'create',
      resource: 'pods/portforward',
      name: pod.name,
      namespace: pod.namespace,
    });
  }
}

/** One sentence (lib/common/kube-errors.ts) after what was being done; client-node's dump of
 * status, body and headers stays the cause, for the log. */
function apiError(err: unknown, what: string, kc: k8s.KubeConfig, op: KubeOp): DaemonCallError {
  // The port-forward's WebSocket handshake fails as "Unexpected server response: 403".
  const ws = /Unexpected server response: (\d{3})/.exec((err as Error)?.message ?? '')?.[1];
  const e = ws ? { code: Number(ws), body: undefined } : err;
  const f = describeKubeError(
    e,
    { ...(kc.getCurrentCluster()?.server ? { server: kc.getCurrentCluster()!.server } : {}), context: kc.getCurrentContext() },
    op,
  );
  const out = f
    ? new DaemonCallError(
        f.code,
        `${what}: ${f.message}`,
        f.code === 'E_KUBE_FORBIDDEN'
          ? `ask your cluster admin for the tp-client role in namespace ${op.namespace} (it allows listing pods and port-forwarding to the manager)`
          : f.hint,
      )
    : new DaemonCallError('E_CLUSTER', `${what}: ${((err as Error)?.message ?? String(err)).split('\n')[0]}`);
  Object.defineProperty(out, 'cause', { value: err, enumerable: false });
  return out;
}
