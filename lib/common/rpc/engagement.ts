// Engagements as all three parties see them (DESIGN.md §1, §6): the user daemon asks for one, the
// traffic manager keeps it and tells the agents of the workload, the agent routes by it. This
// module is the one definition of those shapes and of the rules that decide whether two
// engagements of one workload can coexist.
import { setFlagsFromString } from 'node:v8';
import type { WorkloadKind } from '../agent-config.js';
import { TpError } from '../errors.js';

export type EngagementKind = 'intercept' | 'replace' | 'ingest' | 'wiretap';
export const ENGAGEMENT_KINDS: readonly EngagementKind[] = ['intercept', 'replace', 'ingest', 'wiretap'];

/** `--http-header K=V` (repeatable) and `--http-path-prefix P`. Empty means every request.
 * A header value that starts with `~` is a pattern (`--http-header 'K=~REGEX'`, see
 * headerPattern); it travels as that string, so every layer that stores or shows a filter (the
 * Engagement object, its CRD schema, `tp list`) carries it unchanged. */
export interface HttpFilterSpec {
  headers: Record<string, string>;
  pathPrefix?: string;
}

/** The prefix that makes a filter's header value a pattern. `~~x` is the pattern `~x`, which
 * matches the literal value `~x` (so exact values starting with `~` stay expressible). */
export const HEADER_PATTERN_PREFIX = '~';

/** The pattern source of a filter header value, or undefined for an exact value. */
export const headerPattern = (value: string): string | undefined =>
  value.startsWith(HEADER_PATTERN_PREFIX) ? value.slice(HEADER_PATTERN_PREFIX.length) : undefined;

export class HeaderPatternError extends TpError {
  constructor(message: string) {
    super('E_HEADER_PATTERN', message);
    this.name = 'HeaderPatternError';
  }
}

let linearEngine: boolean | undefined;

/**
 * Compile a header pattern: anchored (it must match the whole value, as an exact value does;
 * write `.*` for "contains"), case-sensitive, JavaScript syntax, run by V8's linear-time engine
 * (the `l` flag) so that no pattern and no header value can make matching backtrack: the cost is
 * O(pattern × value), and both are bounded (HTTP_FILTER_MAX_PATTERN, HTTP_FILTER_MAX_PATTERN_INPUT).
 * That engine refuses what it cannot run in linear time — backreferences, lookarounds, large
 * `{n,m}` counts, the `i` flag — and so do we, with a HeaderPatternError saying so.
 */
export function compileHeaderPattern(source: string, maxLength: number): RegExp {
  if (source.length === 0) throw new HeaderPatternError('the pattern is empty');
  if (source.length > maxLength) throw new HeaderPatternError(`the pattern is longer than ${maxLength} characters`);
  try {
    new RegExp(source);
  } catch (e) {
    throw new HeaderPatternError(`the pattern is not a valid regular expression: ${(e as Error).message}`);
  }
  if (linearEngine === undefined) {
    // The `l` flag exists behind this V8 flag (Node 16+); it only adds a flag, it changes no
    // other RegExp. Without it (a future V8 that dropped it) patterns are refused, never run
    // on the backtracking engine.
    try {
      setFlagsFromString('--enable-experimental-regexp-engine');
      new RegExp('a', 'l');
      linearEngine = true;
    } catch {
      linearEngine = false;
    }
  }
  if (!linearEngine) throw new HeaderPatternError('this Node.js has no linear-time RegExp engine; header patterns are not available');
  try {
    return new RegExp(`^(?:${source})$`, 'l');
  } catch {
    throw new HeaderPatternError('the pattern cannot run in linear time (no backreferences, lookarounds or large {n,m} counts)');
  }
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
  /** What its agents saw, summed over them (issue #13); absent until an agent reports. */
  traffic?: TrafficCounts;
}

/** What the agents of a workload saw of one engagement's traffic that its workstation did not
 * get in full (issue #13): shown by `tp list` and kept in the Engagement's status. */
export interface TrafficCounts {
  /** Wiretap: requests/streams copied to the workstation, dropped because it fell behind (the
   * copy never slows the original), and cut short. */
  tapCopies: number;
  tapDropped: number;
  tapAborted: number;
  /** Filtered intercept: connections that began with a TLS ClientHello. Its filter cannot see
   * their headers, so they went to the app. */
  tlsConnections: number;
}

/** What an agent needs to route one engagement. */
export interface AgentEngagement {
  id: string;
  kind: EngagementKind;
  ports: number[];
  filter?: HttpFilterSpec;
  client: string;
}

/** What `tp list`, `tp intercept` and the Engagement's TLSSeen condition say about an
 * engagement's traffic (issue #13), one sentence each; none when all is well. */
export function trafficNotes(e: Pick<EngagementInfo, 'kind' | 'ports' | 'filter' | 'traffic'>): string[] {
  const t = e.traffic;
  if (!t) return [];
  const notes: string[] = [];
  if (t.tlsConnections > 0 && (e.kind === 'intercept' || e.kind === 'replace') && isFiltered(e.filter))
    notes.push(tlsNote(e.ports, t.tlsConnections));
  if (t.tapDropped > 0 || t.tapAborted > 0) {
    const parts = [
      ...(t.tapDropped > 0
        ? [
            `${t.tapDropped} of ${t.tapCopies + t.tapDropped} cop${t.tapCopies + t.tapDropped === 1 ? 'y' : 'ies'} dropped (the workstation fell behind; the app's traffic was not slowed)`,
          ]
        : []),
      ...(t.tapAborted > 0 ? [`${t.tapAborted} cut short`] : []),
    ];
    notes.push(`wiretap: ${parts.join(', ')}`);
  }
  return notes;
}

export function tlsNote(ports: EngagedPort[], connections: number): string {
  const which = ports.length === 1 ? `port ${ports[0]!.port}` : 'a port of this intercept';
  return `TLS seen: ${which} carries TLS, so HTTP filters cannot match it; its connections go to the app (${connections} so far)`;
}

export const isFiltered = (f: HttpFilterSpec | undefined): boolean =>
  f !== undefined && (Object.keys(f.headers).length > 0 || (f.pathPrefix ?? '') !== '');

const filterKey = (f: HttpFilterSpec | undefined) =>
  JSON.stringify([
    Object.entries(f?.headers ?? {})
      .map(([k, v]) => [k.toLowerCase(), v])
      .sort(),
    f?.pathPrefix ?? '',
  ]);

/** Why `next` cannot join `existing` on the same workload, or undefined when it can.
 * One unfiltered intercept per port; filtered intercepts coexist when their filters differ;
 * replace owns every port of its container; wiretaps and ingests never conflict. */
export function conflictOf(
  next: Pick<EngagementInfo, 'kind' | 'ports' | 'filter' | 'container'>,
  existing: EngagementInfo,
): string | undefined {
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
  if (filterKey(next.filter) === filterKey(existing.filter))
    return `port ${ports} is already intercepted with the same HTTP filter by ${who}`;
  return undefined;
}
