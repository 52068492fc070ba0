// The traffic manager's API for traffic agents (DESIGN.md §3): the module both the agent (caller,
// lib/agent/manager-link.ts) and the manager (handler on its agent port, lib/manager/agent-api.ts)
// import. Agents authenticate with the projected ServiceAccount token they present in agentHello;
// the manager takes the pod from the token (TokenReview), the workload from that pod's owners, and
// the agent config from that workload: nothing the agent claims about itself is trusted, and
// nothing else on the agent port works before that.
import type { ApiDefinition } from './api.js';
import type { AgentEngagement, TrafficCounts } from './engagement.js';
import * as s from './schema.js';

/** The agent's first call (agentHelloSchema below documents its fields). */
export type AgentHelloRequest = s.Infer<typeof agentHelloSchema>;

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
    /** What the agent saw of its engagements' traffic (issue #13): cumulative counts since the
     * agent started, sent when they changed (at most every AGENT_TRAFFIC_REPORT_MS). The manager
     * ignores ids that are not engagements of the agent's own workload. */
    agentTraffic: { request: AgentTrafficRequest; response: Record<string, never> };
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

// Unknown fields are dropped, not refused: during a rollout agents of the previous image talk to
// a newer manager (and the other way round).
const STRIP = { unknown: 'strip' } as const;
const MAX_ENV = 4096;

const agentHelloSchema = s.object(
  {
    /** The projected ServiceAccount token (audience AGENT_TOKEN_AUDIENCE). */
    token: s.string({ minLength: 1, maxLength: 8192 }),
    /** For the manager's logs only; the token says which pod this is. */
    podName: s.string({ minLength: 1, maxLength: 253 }),
    podIP: s.string({ maxLength: 64 }),
    /** The hash of the agent config the pod was injected with (AGENT_INJECTED_ANNOTATION). */
    configHash: s.string({ maxLength: 128 }),
    /** The app container's environment, prefix stripped. The hello's body limit (16 KiB,
     * MAX_UNAUTHENTICATED_BODY) bounds the bytes; this bounds the count. */
    env: s.withDefault(s.record(s.string({ maxLength: 16 << 10 }), { maxEntries: MAX_ENV, key: s.string({ maxLength: 1024 }) }), {}),
    /** The app container's volume mount paths. */
    mounts: s.withDefault(
      s.array(s.string({ minLength: 1, maxLength: 4096, pattern: /^\//, what: 'an absolute path' }), {
        maxItems: 256,
        expected: 'a list of at most 256 absolute paths',
      }),
      [],
    ),
    version: s.string({ minLength: 1, maxLength: 64 }),
  },
  STRIP,
);

/** Engagements one report may name: more than a workload has (the manager's conflicts and users
 * bound them long before), few enough that a report is a small body. */
export const MAX_TRAFFIC_ENTRIES = 256;
const count = s.integer({ min: 0, expected: 'a non-negative integer' });
const agentTrafficSchema = s.object(
  {
    traffic: s.array(
      s.object(
        {
          /** The engagement (the Engagement object's uid). */
          id: s.string({ minLength: 1, maxLength: 64, pattern: /^[A-Za-z0-9-]+$/, what: 'an engagement id' }),
          tapCopies: count,
          tapDropped: count,
          tapAborted: count,
          tlsConnections: count,
        },
        STRIP,
      ),
      { maxItems: MAX_TRAFFIC_ENTRIES },
    ),
  },
  STRIP,
);
export type AgentTrafficRequest = s.Infer<typeof agentTrafficSchema>;
true satisfies s.Agrees<
  { id: string } & TrafficCounts,
  typeof agentTrafficSchema extends s.Schema<{ traffic: Array<infer T> }> ? s.Schema<T> : never
>;

export const agentApi: ApiDefinition<AgentApi> = {
  unauthenticated: ['agentHello'],
  calls: {
    agentHello: s.validator(agentHelloSchema),
    agentApplied: s.validator(s.object({ revision: s.integer({ min: 0 }) }, STRIP)),
    agentTraffic: s.validator(agentTrafficSchema),
  },
  watches: {
    agentEvents: s.validator(s.empty(STRIP)),
  },
};
