// The workstation's Kubernetes identity and its Session (issue #11). Who the user is comes from the
// API server itself (SelfSubjectReview, what `kubectl auth whoami` asks), so it works the same for
// certificates, OIDC, exec plugins and tokens. The Session object is created with the user's own
// credentials — RBAC (the chart's tp-client role) decides who may connect — and carries the hash
// of a secret that only this daemon knows; the manager's hello compares hashes.
import * as k8s from '@kubernetes/client-node';
import { hostname, userInfo } from 'node:os';
import { DaemonCallError } from '../common/rpc/daemon.js';
import {
  SESSIONS,
  TP_API_VERSION,
  TP_GROUP,
  TP_VERSION_V1,
  nameFragment,
  newSessionSecret,
  type Owner,
  type SessionObject,
} from '../common/objects.js';
import { TP_VERSION } from '../common/version.js';
import type { SessionCredentials } from '../proxy/manager-session.js';

const statusOf = (err: unknown) => (err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code);
const apiMessage = (err: unknown): string => {
  const body = (err as { body?: unknown }).body;
  try {
    const o = typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string } | undefined);
    if (o?.message) return o.message;
  } catch {
    // not JSON
  }
  return (err as Error).message?.split('\n')[0] ?? String(err);
};

/** Who the API server says the user of this kubeconfig is. */
export async function whoAmI(kc: k8s.KubeConfig): Promise<Owner> {
  try {
    const r = await kc
      .makeApiClient(k8s.AuthenticationV1Api)
      .createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    const u = r.status?.userInfo;
    if (!u?.username) throw new Error('the API server did not say who you are');
    return { username: u.username, groups: u.groups ?? [] };
  } catch (err) {
    if (statusOf(err) === 401)
      throw new DaemonCallError(
        'E_UNAUTHORIZED',
        'the cluster rejected your credentials',
        'refresh your kubeconfig credentials (log in again)',
      );
    if (statusOf(err) === 404)
      throw new DaemonCallError(
        'E_CLUSTER_TOO_OLD',
        'the cluster does not serve SelfSubjectReview (Kubernetes 1.28 or later is needed)',
        'use a newer cluster',
      );
    throw err;
  }
}

export interface OwnSession extends SessionCredentials {
  owner: Owner;
  label: string;
}

/** Creates this workstation's Session in the manager's namespace. */
export async function createSession(kc: k8s.KubeConfig, managerNamespace: string): Promise<OwnSession> {
  const owner = await whoAmI(kc);
  const label = `${userInfo().username}@${hostname()}`;
  const { secret, hash } = newSessionSecret();
  const body: SessionObject = {
    apiVersion: TP_API_VERSION,
    kind: 'Session',
    metadata: { generateName: `${nameFragment(owner.username)}-${nameFragment(hostname(), 16)}-` },
    spec: { owner, label, secretHash: hash, clientVersion: TP_VERSION },
  };
  try {
    const created = (await kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
      group: TP_GROUP,
      version: TP_VERSION_V1,
      namespace: managerNamespace,
      plural: SESSIONS.plural,
      body,
    })) as SessionObject;
    return { session: created.metadata.name!, secret, owner, label };
  } catch (err) {
    throw sessionError(err, owner, managerNamespace);
  }
}

/** Deletes the Session (tp quit when the manager could not be told). */
export async function deleteSession(kc: k8s.KubeConfig, managerNamespace: string, name: string): Promise<void> {
  try {
    await kc.makeApiClient(k8s.CustomObjectsApi).deleteNamespacedCustomObject({
      group: TP_GROUP,
      version: TP_VERSION_V1,
      namespace: managerNamespace,
      plural: SESSIONS.plural,
      name,
    });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

function sessionError(err: unknown, owner: Owner, ns: string): DaemonCallError {
  const code = statusOf(err);
  const msg = apiMessage(err);
  if (code === 403) {
    return new DaemonCallError(
      'E_FORBIDDEN',
      `${owner.username} may not connect: creating sessions.tp.dev in namespace ${ns} is forbidden (${msg})`,
      `ask your cluster admin for the tp-client role there: kubectl -n ${ns} create rolebinding tp-client-${nameFragment(owner.username)} --clusterrole=tp-client --user=${owner.username}`,
    );
  }
  if (code === 404) {
    return new DaemonCallError(
      'E_NO_MANAGER',
      `the traffic manager in namespace ${ns} does not serve sessions (${msg})`,
      'install or upgrade it with `tp helm upgrade --install`',
    );
  }
  if (code === 401)
    return new DaemonCallError(
      'E_UNAUTHORIZED',
      'the cluster rejected your credentials',
      'refresh your kubeconfig credentials (log in again)',
    );
  if (code === 422 || code === 400)
    return new DaemonCallError(
      'E_SESSION_REFUSED',
      `the cluster refused the session: ${msg}`,
      'upgrade tp and the traffic manager to the same version',
    );
  return new DaemonCallError('E_CLUSTER', `creating the session failed: ${msg}`);
}
