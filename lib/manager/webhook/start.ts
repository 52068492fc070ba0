// The agent injector as the manager runs it: certificate from the Secret (made or rotated when
// needed), HTTPS server, caBundle in the MutatingWebhookConfiguration — and then every RECHECK_MS
// the same again, because `helm upgrade` empties the caBundle, a rollout's second manager pod may
// rotate the certificate, and a year passes.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../common/log.js';
import { ensureCABundle, ensureServingCert, serviceDnsNames, type CertBundle, type SecretStore, type WebhookConfigStore } from './cert.js';
import { k8sSecretStore, k8sWebhookConfigStore } from './k8s.js';
import { createWebhookServer } from './server.js';

export const DEFAULT_WEBHOOK_PORT = 8443;
export const RECHECK_MS = 30_000;

export interface WebhookOptions {
  namespace: string;
  /** The Service the API server calls (traffic-manager): the certificate's names derive from it. */
  serviceName: string;
  clusterDomain: string;
  /** Default DEFAULT_WEBHOOK_PORT; 0 picks a free one (tests). */
  port?: number;
  /** Default 0.0.0.0: the API server reaches the pod through the Service. */
  host?: string;
  /** The TLS Secret in `namespace` (tp-agent-injector-tls). */
  secretName: string;
  /** The MutatingWebhookConfiguration (tp-agent-injector-<namespace>). */
  webhookConfigName: string;
  agentImage: string;
  imagePullPolicy?: string;
  logLevel?: string;
  /** Who deleted an Engagement, from the deletions webhook entry. */
  onEngagementDeleted?: (uid: string, by: string) => void;
  /** The certificate served now (at start and after each rotation): the manager's direct route
   * serves the same one, and clients pin its CA. */
  onServing?: (bundle: CertBundle) => void;
  log: Logger;
  recheckMs?: number;
}

export interface RunningWebhook {
  readonly port: number;
  close(): Promise<void>;
}

/** Resolves once the webhook serves; rejects when no certificate can be had (e.g. RBAC on the
 * Secret), since then nothing could call it. caBundle trouble is logged and retried, not thrown. */
export function startWebhook(opts: WebhookOptions & { kc: k8s.KubeConfig }): Promise<RunningWebhook> {
  return runWebhook({
    ...opts,
    secrets: k8sSecretStore(opts.kc, opts.namespace, opts.secretName),
    configs: k8sWebhookConfigStore(opts.kc, opts.webhookConfigName),
  });
}

/** startWebhook over any stores (tests use in-memory ones). */
export async function runWebhook(
  opts: WebhookOptions & { secrets: SecretStore; configs: WebhookConfigStore; now?: () => Date },
): Promise<RunningWebhook> {
  const log = opts.log.child({ component: 'agent-injector' });
  const dnsNames = serviceDnsNames(opts.serviceName, opts.namespace, opts.clusterDomain);
  const certOpts = { dnsNames, log, ...(opts.now ? { now: opts.now } : {}) };
  let served: CertBundle = (await ensureServingCert(opts.secrets, certOpts)).bundle;
  opts.onServing?.(served);
  const ws = createWebhookServer({
    tls: { cert: served['tls.crt'], key: served['tls.key'] },
    mutate: {
      agentImage: opts.agentImage,
      ...(opts.imagePullPolicy ? { imagePullPolicy: opts.imagePullPolicy } : {}),
      ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    },
    ...(opts.onEngagementDeleted ? { onDeletion: (n: { uid: string; by: string }) => opts.onEngagementDeleted!(n.uid, n.by) } : {}),
    log,
  });
  const port = await ws.listen(opts.port ?? DEFAULT_WEBHOOK_PORT, opts.host);
  log.info('agent injector listening', { port, dnsNames, webhookConfig: opts.webhookConfigName });

  let missingLogged = false;
  const syncCABundle = async (caPem: string, first: boolean): Promise<boolean> => {
    const r = await ensureCABundle(opts.configs, caPem);
    if (r.result === 'missing') {
      // Outside the chart (a manager run by hand) there is no configuration, and nothing to fix.
      if (!missingLogged)
        log.warn('no MutatingWebhookConfiguration to give the CA to; agents will not be injected', {
          webhookConfig: opts.webhookConfigName,
        });
      missingLogged = true;
      return false;
    }
    missingLogged = false;
    if (r.result === 'patched')
      log.info(first ? 'webhook caBundle set' : 'webhook caBundle repaired', {
        webhookConfig: opts.webhookConfigName,
        webhooks: r.webhooks,
      });
    return r.result === 'patched';
  };
  await syncCABundle(served['ca.crt'], true).catch((err) =>
    log.warn('cannot set the webhook caBundle; retrying', { err, webhookConfig: opts.webhookConfigName }),
  );

  const check = async () => {
    const { bundle } = await ensureServingCert(opts.secrets, certOpts);
    const patched = await syncCABundle(bundle['ca.crt'], false);
    if (bundle['tls.crt'] === served['tls.crt']) return;
    // A CA the API server has only just been given may not be in use there yet: switch to the
    // certificate it signed one check later. The old certificate stays valid for weeks, and its
    // CA stays in the bundle (cert.ts), so until then both are accepted.
    if (patched) {
      log.debug('new webhook certificate stored; serving it at the next check');
      return;
    }
    ws.setCertificate({ cert: bundle['tls.crt'], key: bundle['tls.key'] });
    served = bundle;
    opts.onServing?.(served);
    log.info('webhook serves the new certificate');
  };
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = check()
      .catch((err) => log.warn('webhook certificate check failed; retrying', { err }))
      .finally(() => {
        running = undefined;
      });
  }, opts.recheckMs ?? RECHECK_MS);
  timer.unref();

  return {
    port,
    async close() {
      clearInterval(timer);
      await running;
      await ws.close();
    },
  };
}
