// The traffic manager's API for traffic agents: the module both the agent (caller) and the
// manager (handler, on its agent port) import. Agents are authenticated by the projected
// ServiceAccount token they present in agentHello (checked with TokenReview); nothing else on the
// agent port works before that.
import type { AgentEngagement } from './engagement.js';

export interface AgentHelloRequest {
  /** The projected ServiceAccount token (audience AGENT_TOKEN_AUDIENCE). */
  token: string;
  podName: string;
  podNamespace: string;
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
  /** A client wants the app's volumes: run sftp-server on a CONNECT with HEADERS.rendezvous = token. */
  | { type: 'sftp'; token: string; readOnly: boolean };

declare module '../../proxy/tunnel/protocol.js' {
  interface ControlCalls {
    agentHello: { request: AgentHelloRequest; response: AgentHelloResponse };
    /** The agent routes by the engagements of this revision now (the manager waits for it before
     * it tells a client that its engagement is active). */
    agentApplied: { request: { revision: number }; response: Record<string, never> };
  }
  interface Watches {
    agentEvents: { request: Record<string, never>; event: AgentEvent };
  }
}

const MAX_ENV = 4096;

export function validateAgentHello(body: unknown): AgentHelloRequest {
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
    token: s('token', 16384),
    podName: s('podName', 253),
    podNamespace: s('podNamespace', 63),
    podIP: s('podIP', 64, true),
    configHash: s('configHash', 128, true),
    env,
    mounts: mounts as string[],
    version: s('version', 64),
  };
}
