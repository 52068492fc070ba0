// Who an agent is (DESIGN.md §3, issue #11): the pod bound into its projected ServiceAccount token
// (TokenReview: status.user.extra pod name and uid), that pod as the API server has it, the
// workload that owns that pod (ReplicaSet → Deployment, StatefulSet, or a bare ReplicaSet), and
// the agent config the manager wrote on that workload. Nothing the agent claims is trusted: a pod
// that holds its own token but claims another workload — or another namespace's — is refused, and
// the reason is logged.
//
// TokenReview is a call to the API server per hello: results are cached by the token's hash until
// the token expires, and reviews are rate-limited per peer address, so a flood of hellos cannot
// turn the manager into an amplifier against the API server (issue #12).
import { createHash } from 'node:crypto';
import { agentConfigHash, parseAgentConfig, type AgentConfig, type WorkloadKind } from '../common/agent-config.js';
import { TpError } from '../common/errors.js';

export interface TokenReviewResult {
  authenticated: boolean;
  username?: string;
  extra?: Record<string, string[]>;
  error?: string;
}

export interface OwnerRef {
  kind: string;
  name: string;
  controller?: boolean;
}

export interface PodFacts {
  uid: string;
  namespace: string;
  name: string;
  owners: OwnerRef[];
  /** The agent-config annotation the webhook copied onto the pod, if any. */
  agentConfig?: string;
}

/** A workload's owners and the agent config on its pod template. */
export interface WorkloadFacts {
  owners: OwnerRef[];
  agentConfig?: string;
}

/** What the authenticator needs from Kubernetes (a fake in unit tests, client-node in the manager). */
export interface AgentAuthCluster {
  tokenReview(token: string): Promise<TokenReviewResult>;
  /** undefined when the pod does not exist. */
  readPod(namespace: string, name: string): Promise<PodFacts | undefined>;
  /** undefined when the object does not exist. */
  readWorkload(namespace: string, kind: 'ReplicaSet' | 'Deployment' | 'StatefulSet', name: string): Promise<WorkloadFacts | undefined>;
}

export interface AgentIdentity {
  namespace: string;
  pod: string;
  podUid: string;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  config: AgentConfig;
}

export class AgentAuthError extends TpError {
  constructor(
    message: string,
    /** 401: the token itself; 403: a valid token for something that is not an agent of ours. */
    readonly status: 401 | 403 | 429,
  ) {
    super(status === 429 ? 'E_RATE_LIMITED' : 'E_AGENT_UNAUTHENTICATED', message);
    this.name = 'AgentAuthError';
  }
}

const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SA_USER = /^system:serviceaccount:([a-z0-9-]{1,63}):[^:]+$/;

/** Reviews per peer address: a burst, then a steady rate (a pod's agent says hello once per
 * connection; a restart of a big workload may bring dozens at once from different pods). */
export const TOKEN_REVIEW_BURST = 20;
export const TOKEN_REVIEW_PER_SECOND = 5;
/** Cached reviews at most; the oldest go first. One per agent pod is the normal load. */
export const TOKEN_CACHE_MAX = 10_000;
/** When the token's own expiry cannot be read, its review is trusted this long. */
const DEFAULT_CACHE_MS = 10 * 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class AgentAuthenticator {
  readonly #cache = new Map<string, { until: number; review: TokenReviewResult }>();
  readonly #buckets = new Map<string, Bucket>();
  readonly stats = { reviews: 0, cacheHits: 0, rateLimited: 0, refused: 0 };

  constructor(
    private readonly k: AgentAuthCluster,
    private readonly now: () => number = Date.now,
  ) {}

  /** The agent a token belongs to, or an AgentAuthError saying why not. */
  async authenticate(token: string, peer: string): Promise<AgentIdentity> {
    try {
      const review = await this.#review(token, peer);
      return await this.#identify(review);
    } catch (err) {
      if (err instanceof AgentAuthError && err.status !== 429) this.stats.refused++;
      throw err;
    }
  }

  async #review(token: string, peer: string): Promise<TokenReviewResult> {
    const key = createHash('sha256').update(token).digest('hex');
    const t = this.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > t) {
      this.stats.cacheHits++;
      return hit.review;
    }
    if (!this.#take(peer, t)) {
      this.stats.rateLimited++;
      throw new AgentAuthError(`too many token reviews from ${peer}; retry in a second`, 429);
    }
    this.stats.reviews++;
    const review = await this.k.tokenReview(token);
    if (!review.authenticated) throw new AgentAuthError(`the agent's token was refused: ${review.error || 'not authenticated'}`, 401);
    if (this.#cache.size >= TOKEN_CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { until: Math.min(tokenExpiry(token) ?? Infinity, t + DEFAULT_CACHE_MS), review });
    return review;
  }

  #take(peer: string, t: number): boolean {
    const b = this.#buckets.get(peer) ?? { tokens: TOKEN_REVIEW_BURST, at: t };
    b.tokens = Math.min(TOKEN_REVIEW_BURST, b.tokens + ((t - b.at) / 1000) * TOKEN_REVIEW_PER_SECOND);
    b.at = t;
    if (this.#buckets.size > 10_000) this.#buckets.clear(); // addresses come and go; never grow without bound
    this.#buckets.set(peer, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  async #identify(review: TokenReviewResult): Promise<AgentIdentity> {
    const m = SA_USER.exec(review.username ?? '');
    const podName = review.extra?.[POD_NAME_EXTRA]?.[0];
    const podUid = review.extra?.[POD_UID_EXTRA]?.[0];
    if (!m || !podName || !podUid) throw new AgentAuthError(`the token of ${review.username || 'nobody'} is not bound to a pod`, 403);
    const namespace = m[1]!;
    const pod = await this.k.readPod(namespace, podName);
    if (!pod || pod.uid !== podUid) throw new AgentAuthError(`pod ${namespace}/${podName} of the token no longer exists`, 401);
    if (!pod.agentConfig) throw new AgentAuthError(`pod ${namespace}/${podName} has no agent config`, 403);
    let claimed: AgentConfig;
    try {
      claimed = parseAgentConfig(pod.agentConfig);
    } catch (err) {
      throw new AgentAuthError(`pod ${namespace}/${podName}: ${(err as Error).message}`, 403);
    }
    const owner = await this.#ownerWorkload(namespace, pod.owners);
    if (!owner) throw new AgentAuthError(`pod ${namespace}/${podName} belongs to no Deployment, StatefulSet or ReplicaSet`, 403);
    const w = claimed.workload;
    if (w.namespace !== namespace || w.kind !== owner.kind || w.name !== owner.name) {
      throw new AgentAuthError(
        `pod ${namespace}/${podName} claims to be an agent of ${w.kind.toLowerCase()}/${w.name} in namespace ${w.namespace}, but it belongs to ${owner.kind.toLowerCase()}/${owner.name} in ${namespace}`,
        403,
      );
    }
    // Only a config the manager wrote on this workload (now, or on the ReplicaSet the pod was made
    // from, during a rollout) makes an agent: a pod annotated by hand gets nothing.
    const written = owner.configs
      .filter((c): c is string => c !== undefined)
      .map((c) => {
        try {
          return agentConfigHash(parseAgentConfig(c));
        } catch {
          return undefined;
        }
      });
    if (!written.includes(agentConfigHash(claimed))) {
      throw new AgentAuthError(
        `pod ${namespace}/${podName} runs an agent config that ${owner.kind.toLowerCase()}/${owner.name} does not carry`,
        403,
      );
    }
    return { namespace, pod: podName, podUid, workload: { kind: owner.kind, name: owner.name, namespace }, config: claimed };
  }

  /** The engageable workload owning a pod, with the agent configs on its templates. */
  async #ownerWorkload(
    namespace: string,
    owners: OwnerRef[],
  ): Promise<{ kind: WorkloadKind; name: string; configs: Array<string | undefined> } | undefined> {
    const ctl = owners.find((o) => o.controller) ?? owners[0];
    if (!ctl) return undefined;
    if (ctl.kind === 'StatefulSet') {
      const s = await this.k.readWorkload(namespace, 'StatefulSet', ctl.name);
      return s ? { kind: 'StatefulSet', name: ctl.name, configs: [s.agentConfig] } : undefined;
    }
    if (ctl.kind !== 'ReplicaSet') return undefined;
    const rs = await this.k.readWorkload(namespace, 'ReplicaSet', ctl.name);
    if (!rs) return undefined;
    const dep = rs.owners.find((o) => o.controller && o.kind === 'Deployment');
    if (!dep) return { kind: 'ReplicaSet', name: ctl.name, configs: [rs.agentConfig] };
    const d = await this.k.readWorkload(namespace, 'Deployment', dep.name);
    return d ? { kind: 'Deployment', name: dep.name, configs: [d.agentConfig, rs.agentConfig] } : undefined;
  }
}

/** The `exp` claim of a JWT, in ms, read without verifying it (TokenReview verified the token;
 * this only bounds how long its review is reused). */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
