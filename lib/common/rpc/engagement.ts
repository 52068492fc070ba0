// Engagements as all three parties see them (DESIGN.md §1, §6): the user daemon asks for one, the
// traffic manager keeps it and tells the agents of the workload, the agent routes by it. This
// module is the one definition of those shapes and of the rules that decide whether two
// engagements of one workload can coexist.
import type { WorkloadKind } from '../agent-config.js';

export type EngagementKind = 'intercept' | 'replace' | 'ingest' | 'wiretap';
export const ENGAGEMENT_KINDS: readonly EngagementKind[] = ['intercept', 'replace', 'ingest', 'wiretap'];

/** `--http-header K=V` (repeatable) and `--http-path-prefix P`. Empty means every request. */
export interface HttpFilterSpec {
  headers: Record<string, string>;
  pathPrefix?: string;
}

export interface EngagedPort {
  /** The container port, as the app listens on it. */
  port: number;
  name?: string;
  protocol: 'TCP' | 'UDP';
}

export type EngagementState = 'waiting' | 'active' | 'failed';

/** An engagement as clients see it: the Engagement object (lib/common/objects.ts) as the manager
 * resolved it. Nothing here is secret: every user who may list engagements may see it. */
export interface EngagementInfo {
  /** The Engagement object's uid. */
  id: string;
  /** The object's name (`tp leave NAME`, `kubectl delete engagement NAME -n NAMESPACE`). */
  name: string;
  kind: EngagementKind;
  /** The Kubernetes user who created it (admission checked it against the request). */
  owner: string;
  /** The owning workstation, user@host (non-secret label of its Session). */
  client: string;
  workload: { kind: WorkloadKind; name: string; namespace: string };
  container: string;
  /** Empty for ingest. */
  ports: EngagedPort[];
  filter?: HttpFilterSpec;
  state: EngagementState;
  /** Why it failed, or what it waits for. */
  message?: string;
  createdAt: string;
}

/** What an agent needs to route one engagement. */
export interface AgentEngagement {
  id: string;
  kind: EngagementKind;
  ports: number[];
  filter?: HttpFilterSpec;
  client: string;
}

export const isFiltered = (f: HttpFilterSpec | undefined): boolean =>
  f !== undefined && (Object.keys(f.headers).length > 0 || (f.pathPrefix ?? '') !== '');

const filterKey = (f: HttpFilterSpec | undefined) =>
  JSON.stringify([Object.entries(f?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]).sort(), f?.pathPrefix ?? '']);

/** Why `next` cannot join `existing` on the same workload, or undefined when it can.
 * One unfiltered intercept per port; filtered intercepts coexist when their filters differ;
 * replace owns every port of its container; wiretaps and ingests never conflict. */
export function conflictOf(next: Pick<EngagementInfo, 'kind' | 'ports' | 'filter' | 'container'>, existing: EngagementInfo): string | undefined {
  const takesTraffic = (e: Pick<EngagementInfo, 'kind'>) => e.kind === 'intercept' || e.kind === 'replace';
  if (!takesTraffic(next) || !takesTraffic(existing)) return undefined;
  const who = `${existing.kind} ${existing.name} of ${existing.owner} (${existing.client})`;
  if (next.kind === 'replace' || existing.kind === 'replace') {
    if (next.container !== existing.container) return undefined;
    return `container ${existing.container} is already taken by ${who}`;
  }
  const shared = next.ports.filter((p) => existing.ports.some((q) => q.port === p.port && q.protocol === p.protocol));
  if (shared.length === 0) return undefined;
  const ports = shared.map((p) => p.port).join(', ');
  if (!isFiltered(next.filter) || !isFiltered(existing.filter)) return `port ${ports} is already intercepted by ${who}`;
  if (filterKey(next.filter) === filterKey(existing.filter)) return `port ${ports} is already intercepted with the same HTTP filter by ${who}`;
  return undefined;
}
