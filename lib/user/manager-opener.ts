// How the user daemon reaches the traffic manager: over the direct route when one is given and
// works (TLS to HOST:PORT, the manager's CA pinned from the API server; lib/common/direct-route.ts),
// else a kube port-forward to its newest ready pod. A direct route that fails falls back to the
// port-forward at every (re)connection, so a laptop that leaves the VPN keeps working.
import * as k8s from '@kubernetes/client-node';
import tls from 'node:tls';
import { DIRECT_ALPN, MANAGER_CA_CONFIGMAP, MANAGER_CA_KEY } from '../common/direct-route.js';
import type { Logger } from '../common/log.js';
import type { ManagerOpener } from '../proxy/manager-session.js';
import { findManagerPod, openPortForward } from './manager-link.js';

export interface DirectAddress {
  host: string;
  port: number;
}

/** How long a direct connection may take before the port-forward is used instead. */
export const DIRECT_CONNECT_TIMEOUT_MS = 5_000;

export function kubeOpener(kc: k8s.KubeConfig, managerNamespace: string, direct?: DirectAddress, log?: Logger): ManagerOpener {
  return async () => {
    if (direct) {
      try {
        const socket = await openDirect(kc, managerNamespace, direct);
        return { socket, route: `direct ${direct.host.includes(':') ? `[${direct.host}]` : direct.host}:${direct.port} (TLS, CA pinned)` };
      } catch (err) {
        log?.warn('the direct route to the traffic manager failed; using a port-forward', {
          address: `${direct.host}:${direct.port}`,
          err: (err as Error).message,
        });
      }
    }
    const pod = await findManagerPod(kc, managerNamespace);
    return { socket: await openPortForward(kc, pod), pod, route: `port-forward to ${pod.name}` };
  };
}

/** TLS to the manager's direct port, accepting only a certificate its published CA signed. */
export async function openDirect(kc: k8s.KubeConfig, namespace: string, to: DirectAddress): Promise<tls.TLSSocket> {
  const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ name: MANAGER_CA_CONFIGMAP, namespace });
  const ca = cm.data?.[MANAGER_CA_KEY];
  if (!ca)
    throw new Error(
      `ConfigMap ${namespace}/${MANAGER_CA_CONFIGMAP} has no ${MANAGER_CA_KEY}: is the direct route enabled (directRoute.enabled)?`,
    );
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: to.host,
      port: to.port,
      ca,
      // The CA is pinned: the address dialled (a node, a load balancer) need not be in the
      // certificate, but nothing another CA signed is accepted.
      checkServerIdentity: () => undefined,
      ALPNProtocols: [DIRECT_ALPN],
      minVersion: 'TLSv1.2',
    });
    const timer = setTimeout(() => fail(new Error(`no TLS handshake within ${DIRECT_CONNECT_TIMEOUT_MS} ms`)), DIRECT_CONNECT_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      if (!socket.authorized)
        return fail(new Error(`the manager's certificate is not signed by its published CA: ${String(socket.authorizationError)}`));
      if (socket.alpnProtocol !== DIRECT_ALPN) return fail(new Error('the manager did not agree to HTTP/2 on the direct route'));
      socket.on('error', () => {});
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
