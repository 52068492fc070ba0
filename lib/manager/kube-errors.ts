// Errors of the Kubernetes API as the manager reports them to clients: one sentence with the
// API server's own message and what to do, instead of client-node's dump of status, body and
// headers.
import { TunnelCallError } from '../proxy/tunnel/errors.js';

export function kubeError(err: unknown, doing: string): unknown {
  if (err instanceof TunnelCallError) return err;
  const e = err as { code?: unknown; body?: unknown };
  if (typeof e.code !== 'number' || e.code < 400) return err;
  let message = '';
  try {
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string } | undefined);
    message = body?.message ?? '';
  } catch {
    message = typeof e.body === 'string' ? e.body.slice(0, 300) : '';
  }
  const why = message || `HTTP ${e.code}`;
  if (e.code === 403) {
    return new TunnelCallError(
      'E_FORBIDDEN',
      `the traffic manager may not ${doing}: ${why}`,
      403,
      "upgrade the traffic manager (`tp helm upgrade`) so its RBAC rules match this tp, or add the namespace to the chart's managedNamespaces",
    );
  }
  if (e.code === 409) return new TunnelCallError('E_CONFLICT', `${doing} conflicted with another change: ${why}`, 409, 'retry');
  return new TunnelCallError('E_KUBERNETES', `the Kubernetes API refused to ${doing}: ${why}`, e.code, undefined);
}
