// The traffic manager's API for traffic agents (DESIGN.md §3): the module both the agent (caller,
// lib/agent/manager-link.ts) and the manager (handler on its agent port, lib/manager/agent-api.ts)
// import. Agents authenticate with the projected ServiceAccount token they present in agentHello;
// the manager takes the pod from the token (TokenReview), the workload from that pod's owners, and
// the agent config from that workload: nothing the agent claims about itself is trusted, and
// nothing else on the agent port works before that.
import type { ApiDefinition } from './api.js';
import type { AgentEngagement } from './engagement.js';

export interface AgentHelloRequest {
  /** The projected ServiceAccount token (audience AGENT_TOKEN_AUDIENCE). */
  token: string;
  /** For the manager's logs only; the token says which pod this is. */
  podName: string;
  podIP: string;
  /** The hash of the agent config the pod was injected with (AGENT_INJECTED_ANNOTATION). */
  configHash: string;
  /** The app container's environment, prefix stripped. */
  env: Record<string, string>;
  /** The app container's volume mount paths. */
  mounts: string[];
  version: string;
}

export interface AgentHelloResponse {
  agentId: string;
}

/** Pushed to an agent on its `agentEvents` watch. */
export type AgentEvent =
  /** The full set of engagements of the agent's workload (sent first, then on every change). */
  | { type: 'engagements'; revision: number; engagements: AgentEngagement[] }
  /** A client wants the app's volumes: run sftp-server on a PAIR stream with this token. */
  | { type: 'sftp'; token: string; readOnly: boolean };

export interface AgentApi {
  calls: {
    agentHello: { request: AgentHelloRequest; response: AgentHelloResponse };
    /** The agent routes by the engagements of this revision now (the manager waits for it before
     * it tells a client that its engagement is active). */
    agentApplied: { request: { revision: number }; response: Record<string, never> };
  };
  watches: {
    agentEvents: { request: Record<string, never>; event: AgentEvent };
  };
}

/** Stream kinds an agent may open, each authorized for its kind. */
export const AGENT_STREAMS = {
  /** An accepted in-cluster connection on an engaged port: ENGAGED_PATH(engagementId, port, peer).
   * Only for an engagement of the agent's own workload. */
  engaged: 'tp-engaged',
  /** Answers an 'sftp' event: the client streams' PAIR path (lib/common/rpc/manager.ts). */
  pair: 'tp-pair',
} as const;
export const engagedPath = (engagementId: string, port: number, peer: string) =>
  `/engaged/${encodeURIComponent(engagementId)}/${port}?peer=${encodeURIComponent(peer.slice(0, 64))}`;
export function parseEngagedPath(path: string): { engagementId: string; port: number; peer: string } | undefined {
  const m = /^\/engaged\/([A-Za-z0-9-]{1,64})\/(\d{1,5})(?:\?peer=([^&#]{0,200}))?$/.exec(path);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  let peer = '';
  try {
    peer = decodeURIComponent(m[3] ?? '').slice(0, 64);
  } catch {
    peer = '';
  }
  return { engagementId: m[1]!, port, peer };
}

const MAX_ENV = 4096;

function validateAgentHello(body: unknown): AgentHelloRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('the request body must be a JSON object');
  const o = body as Record<string, unknown>;
  const s = (k: string, max: number, allowEmpty = false) => {
    const v = o[k];
    if (typeof v !== 'string' || (!allowEmpty && v.length === 0) || v.length > max) throw new Error(`"${k}" must be a string of at most ${max} characters`);
    return v;
  };
  const env: Record<string, string> = {};
  const rawEnv = o.env ?? {};
  if (typeof rawEnv !== 'object' || rawEnv === null || Array.isArray(rawEnv)) throw new Error('"env" must be an object of strings');
  const entries = Object.entries(rawEnv);
  if (entries.length > MAX_ENV) throw new Error(`"env" has more than ${MAX_ENV} entries`);
  for (const [k, v] of entries) if (typeof v === 'string') env[k] = v;
  const mounts = o.mounts ?? [];
  if (!Array.isArray(mounts) || mounts.length > 256 || mounts.some((m) => typeof m !== 'string' || !m.startsWith('/'))) throw new Error('"mounts" must be a list of absolute paths');
  return {
    token: s('token', 8192),
    podName: s('podName', 253),
    podIP: s('podIP', 64, true),
    configHash: s('configHash', 128, true),
    env,
    mounts: mounts as string[],
    version: s('version', 64),
  };
}

export const agentApi: ApiDefinition<AgentApi> = {
  unauthenticated: ['agentHello'],
  calls: {
    agentHello: validateAgentHello,
    agentApplied(body) {
      const r = (body as { revision?: unknown } | null)?.revision;
      if (typeof r !== 'number' || !Number.isInteger(r) || r < 0) throw new Error('"revision" must be a non-negative integer');
      return { revision: r };
    },
  },
  watches: {
    agentEvents(body) {
      if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) throw new Error('the request body must be a JSON object');
      return {};
    },
  },
};
