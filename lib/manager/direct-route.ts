// The manager's side of the direct route (lib/common/direct-route.ts): the client API served over
// TLS on its own port, with the serving certificate the agent injector keeps (its CA is long-lived
// and stays in the bundle across rotations), and that CA published in a ConfigMap for clients to
// pin. Each TLS connection is handed to the same TunnelServer as port-forwarded ones: the same
// budgets, the same hello, nothing else changes.
import * as k8s from '@kubernetes/client-node';
import tls from 'node:tls';
import { DIRECT_ALPN, MANAGER_CA_CONFIGMAP, MANAGER_CA_KEY } from '../common/direct-route.js';
import type { Logger } from '../common/log.js';
import type { CertBundle } from './webhook/cert.js';
import { SECRET_OWNER_DEPLOYMENT, secretOwnerReference } from './webhook/k8s.js';

/** Hands a connection to the client API (TunnelServer.accept). */
export type Acceptor = (socket: tls.TLSSocket) => void;

export class DirectRoute {
  readonly #server: tls.Server;
  #listening = false;
  #ca = '';

  constructor(private readonly o: { port: number; accept: Acceptor; kc: k8s.KubeConfig; namespace: string; log: Logger }) {
    this.#server = tls.createServer({ ALPNProtocols: [DIRECT_ALPN], minVersion: 'TLSv1.2' }, (sock) => {
      sock.setNoDelay(true);
      o.accept(sock);
    });
    this.#server.on('tlsClientError', (err) => o.log.debug('direct route: TLS handshake failed', { err: err.message }));
  }

  /** The certificate to serve (at start and after each rotation); listens once it has one. */
  async serve(bundle: CertBundle): Promise<void> {
    this.#server.setSecureContext({ cert: bundle['tls.crt'], key: bundle['tls.key'], minVersion: 'TLSv1.2' });
    if (!this.#listening) {
      this.#listening = true;
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.o.port, '0.0.0.0', () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
      this.o.log.info('direct route listening', { port: this.o.port });
    }
    if (bundle['ca.crt'] !== this.#ca) {
      await publishCA(this.o.kc, this.o.namespace, bundle['ca.crt']).then(
        () => (this.#ca = bundle['ca.crt']),
        (err) =>
          this.o.log.warn('publishing the manager CA for the direct route failed; clients fall back to port-forwards', {
            err: (err as Error).message,
          }),
      );
    }
  }

  close(): void {
    this.#server.close();
  }
}

/** Writes the CA bundle (public certificates only) into the ConfigMap clients read, owned by the
 * manager's Deployment so that uninstalling removes it (as the webhook's Secret). */
async function publishCA(kc: k8s.KubeConfig, namespace: string, caPem: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const owner = await kc
    .makeApiClient(k8s.AppsV1Api)
    .readNamespacedDeployment({ name: SECRET_OWNER_DEPLOYMENT, namespace })
    .then(
      (d) => (d.metadata?.uid ? [secretOwnerReference(SECRET_OWNER_DEPLOYMENT, d.metadata.uid)] : undefined),
      () => undefined,
    );
  const body: k8s.V1ConfigMap = {
    metadata: {
      name: MANAGER_CA_CONFIGMAP,
      namespace,
      labels: { 'app.kubernetes.io/name': 'traffic-manager', 'app.kubernetes.io/part-of': 'tp', 'app.kubernetes.io/managed-by': 'tp' },
      ...(owner ? { ownerReferences: owner } : {}),
    },
    data: { [MANAGER_CA_KEY]: caPem },
  };
  try {
    await core.replaceNamespacedConfigMap({ name: MANAGER_CA_CONFIGMAP, namespace, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await core.createNamespacedConfigMap({ namespace, body });
  }
}
