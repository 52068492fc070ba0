// Failures of the Kubernetes API as one sentence with the fix (issue #15), for every workstation
// process that talks to the API server with the user's kubeconfig (the user daemon, `tp helm`,
// `tp gather-logs`). client-node's own errors dump status, body and headers ("HTTP-Code: 403
// Message: … Headers: …"); node-fetch's say "request to https://… failed, reason: …". Neither
// reaches the user: the sentence names the address and cause, the verb, resource and namespace,
// or the credential plugin and what it printed. The original error stays the `cause` for the logs.

import type { ErrorCode } from './errors.js';

/** What was being done, for the sentence ("may not create engagements.tp.dev in namespace dev"). */
export interface KubeOp {
  verb: string;
  /** The resource as RBAC names it: "engagements.tp.dev", "deployments.apps", "pods". */
  resource: string;
  /** The kind as users name it, for not-found sentences: "Deployment". */
  kind?: string;
  name?: string;
  namespace?: string;
}

/** Where the request went and as whom (from the kubeconfig), for the sentences. */
export interface KubeWhere {
  server?: string;
  context?: string;
  /** The credential plugin's command, when the kubeconfig user has one (exec). */
  execCommand?: string;
  /** The auth provider's name (oidc, gcp, azure), when the user has one. */
  authProvider?: string;
}

export interface KubeFailure {
  code: ErrorCode;
  message: string;
  hint?: string;
}

/** Network errors as node and node-fetch report them: the code, and what it means. */
const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved right now',
  ETIMEDOUT: 'the connection timed out',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the connection broke',
  ECONNABORTED: 'the connection was aborted',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_SOCKET: 'the connection broke',
};

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_|ERR_SSL_|EPROTO$)/;

type Loose = {
  code?: unknown;
  errno?: unknown;
  body?: unknown;
  message?: unknown;
  cause?: unknown;
  syscall?: unknown;
  path?: unknown;
  type?: unknown;
};

/** The HTTP status of a client-node ApiException (or a look-alike), else undefined. */
export function httpStatusOf(err: unknown): number | undefined {
  const c = (err as Loose)?.code;
  return typeof c === 'number' && c >= 100 && c < 600 ? c : undefined;
}

/** The API server's Status object from an ApiException body (a string or an object). */
export function statusBody(
  err: unknown,
): { message?: string; reason?: string; details?: { name?: string; kind?: string; group?: string } } | undefined {
  const body = (err as Loose)?.body;
  try {
    const o = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof o === 'object' && o !== null ? (o as ReturnType<typeof statusBody>) : undefined;
  } catch {
    return undefined;
  }
}

const at = (w: KubeWhere) => (w.server ? ` at ${w.server}` : '');
const ctx = (w: KubeWhere) => (w.context ? ` (kubeconfig context ${w.context})` : '');
const inNs = (ns: string | undefined) => (ns ? ` in namespace ${ns}` : ' cluster-wide');

/** The system error code of a network/TLS failure, looking through node-fetch's and undici's causes. */
function systemCode(err: unknown): string | undefined {
  for (let e = err as Loose | undefined, i = 0; e && i < 4; e = e.cause as Loose | undefined, i++) {
    const c = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : undefined;
    if (c && (c in NETWORK || TLS_CODE.test(c))) return c;
  }
  return undefined;
}

/**
 * One sentence for a failed API call, or undefined when the error is not one of the API's (a
 * bug, or tp's own error already worded) — the caller keeps it as it is.
 */
export function describeKubeError(err: unknown, where: KubeWhere, op?: KubeOp): KubeFailure | undefined {
  const e = err as Loose;
  if (typeof e?.code === 'string' && e.code.startsWith('E_')) return undefined; // already tp's
  const status = httpStatusOf(err);
  if (status !== undefined) return describeStatus(status, err, where, op);

  const sys = systemCode(err);
  if (sys && TLS_CODE.test(sys)) {
    return {
      code: 'E_KUBE_TLS',
      message: `the Kubernetes API server${at(where)} presented a certificate that does not match the kubeconfig${ctx(where)} (${sys})`,
      hint: "get a fresh kubeconfig for this cluster (its certificate-authority must be the one that signed the server's certificate)",
    };
  }
  if (sys) {
    return {
      code: 'E_KUBE_UNREACHABLE',
      message: `cannot reach the Kubernetes API server${at(where)}${ctx(where)}: ${NETWORK[sys] ?? sys}`,
      hint: 'check that the cluster is running and that this machine is on its network (a VPN?); `kubectl cluster-info` tries the same address',
    };
  }
  const msg = typeof e?.message === 'string' ? e.message : '';
  if (/HTTP protocol is not allowed/.test(msg)) {
    return {
      code: 'E_KUBECONFIG',
      message: `the kubeconfig's server${at(where)} is plain http://, which tp's Kubernetes client accepts only with insecure-skip-tls-verify: true`,
      hint: "use the cluster's https:// address, or set insecure-skip-tls-verify: true on that cluster in the kubeconfig",
    };
  }
  return undefined;
}

function describeStatus(status: number, err: unknown, where: KubeWhere, op: KubeOp | undefined): KubeFailure {
  const s = statusBody(err);
  const apiMsg = s?.message ?? '';
  const what = op ? `${op.verb} ${op.resource}${op.name ? ` ${op.name}` : ''}${inNs(op.namespace)}` : 'call the Kubernetes API';
  if (status === 401) {
    const how = where.execCommand
      ? `; the credential plugin \`${where.execCommand}\` gave credentials the server does not accept`
      : where.authProvider
        ? `; the ${where.authProvider} token could not be refreshed`
        : '';
    return {
      code: 'E_KUBE_UNAUTHORIZED',
      message: `the Kubernetes API server${at(where)} did not accept your credentials${ctx(where)}: they have expired or are not valid${how}`,
      hint: "log in again (your cloud CLI's login, or `kubectl get ns` to see the same refusal), or get a fresh kubeconfig",
    };
  }
  if (status === 403) {
    // The authorizer's wording is stable (k8s.io/apiserver authorization message): take the
    // user, verb, resource and namespace from it rather than guessing from our side.
    const m = /User "([^"]*)" cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)")?/.exec(apiMsg);
    if (m) {
      const [, user, verb, resource, group, ns] = m;
      const res = group ? `${resource}.${group}` : resource;
      return {
        code: 'E_KUBE_FORBIDDEN',
        message: `${user} may not ${verb} ${res}${inNs(ns)}`,
        hint: `ask your cluster admin for that right (RBAC; tp's roles are in the README, "RBAC for users"); \`kubectl auth can-i ${verb} ${res}${ns ? ` -n ${ns}` : ''}\` shows the same`,
      };
    }
    return {
      code: 'E_KUBE_FORBIDDEN',
      message: `the cluster refused to ${what}: ${apiMsg || 'forbidden'}`,
      hint: 'ask your cluster admin',
    };
  }
  if (status === 404) {
    const nsMissing = /namespaces "([^"]+)" not found/.exec(apiMsg)?.[1];
    if (nsMissing)
      return {
        code: 'E_KUBE_NO_NAMESPACE',
        message: `namespace ${nsMissing} does not exist`,
        hint: 'check -n/--namespace (`kubectl get namespaces` lists them)',
      };
    if (/could not find the requested resource/.test(apiMsg) || (!s?.details?.name && op && !op.name)) {
      return {
        code: 'E_KUBE_NO_API',
        message: `the cluster does not serve ${op?.resource ?? 'that API'}`,
        hint: op?.resource.endsWith('.tp.dev')
          ? 'install the traffic manager (`tp helm install`), which defines it'
          : 'the cluster may be too old for this tp',
      };
    }
    const kind = op?.kind ?? s?.details?.kind ?? 'object';
    const name = op?.name ?? s?.details?.name ?? '';
    return {
      code: 'E_KUBE_NOT_FOUND',
      message: `no ${kind} ${name}${op?.namespace ? ` in namespace ${op.namespace}` : ''}`.replace(/ +$/, ''),
      hint: 'check the name and the namespace',
    };
  }
  if (status === 409)
    return {
      code: 'E_KUBE_CONFLICT',
      message: `${op ? `could not ${what}` : 'the change conflicted'}: ${apiMsg || 'it already exists or changed meanwhile'}`,
      hint: 'retry',
    };
  if (status === 400 || status === 422)
    return { code: 'E_KUBE_INVALID', message: `the cluster refused to ${what}: ${apiMsg || `HTTP ${status}`}` };
  if (status === 429)
    return { code: 'E_KUBE_BUSY', message: `the Kubernetes API server${at(where)} is overloaded (HTTP 429)`, hint: 'retry in a moment' };
  return {
    code: 'E_KUBE_SERVER',
    message: `the Kubernetes API server${at(where)} failed to ${what} (HTTP ${status}${apiMsg ? `: ${apiMsg}` : ''})`,
    hint: 'retry; if it persists the cluster itself is unwell (`kubectl get --raw /readyz?verbose`)',
  };
}

/**
 * A credential plugin's failure (client-node rejects with an Error of the plugin's stderr, or the
 * spawn error when the command is missing), or an auth provider's.
 */
export function describeCredentialError(err: unknown, where: KubeWhere): KubeFailure {
  const e = err as Loose;
  const cmd = where.execCommand;
  if (cmd && (e?.code === 'ENOENT' || e?.code === 'EACCES') && typeof e.syscall === 'string' && e.syscall.startsWith('spawn')) {
    return {
      code: 'E_KUBE_CREDENTIALS',
      message: `${where.context ? `kubeconfig context ${where.context}` : 'the kubeconfig'} gets its credentials from \`${cmd}\`, which is not installed (not found on PATH)`,
      hint: `install it, or put its directory on the PATH of tp (the user daemon keeps the PATH it started with: \`tp quit\` after changing it)`,
    };
  }
  const text = typeof e?.message === 'string' ? e.message.trim() : String(err);
  const last = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-3)
    .join(' ')
    .slice(0, 400);
  if (cmd) {
    return {
      code: 'E_KUBE_CREDENTIALS',
      message: `the credential plugin \`${cmd}\`${ctx(where)} failed${last ? `: ${last}` : ''}`,
      hint: 'run it yourself to see why; usually the fix is to log in again with it (e.g. `aws sso login`, `gcloud auth login`)',
    };
  }
  return {
    code: 'E_KUBE_CREDENTIALS',
    message: `getting credentials for the kubeconfig${ctx(where)}${where.authProvider ? ` from its ${where.authProvider} provider` : ''} failed${last ? `: ${last}` : ''}`,
    hint: 'log in again, or get a fresh kubeconfig',
  };
}
