// How the user daemon reaches the traffic manager: a kube port-forward to its newest ready pod.
import type * as k8s from '@kubernetes/client-node';
import type { ManagerOpener } from '../proxy/manager-session.js';
import { findManagerPod, openPortForward } from './manager-link.js';

export function kubeOpener(kc: k8s.KubeConfig, managerNamespace: string): ManagerOpener {
  return async () => {
    const pod = await findManagerPod(kc, managerNamespace);
    return { socket: await openPortForward(kc, pod), pod };
  };
}

