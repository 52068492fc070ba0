// The agent config a workload needs for one more engagement (pure): which container the agent
// stands in for, which of its ports tp-agent-init redirects to which agent ports, and whether the
// app container is left out (replace). The config covers every declared TCP port of the container,
// not only the engaged ones, so later engagements of other ports reuse the running agents with no
// restart; agent ports already handed out keep their numbers for the same reason.
//
// Where the namespace enforces a Pod Security level that refuses tp-agent-init (issue #16,
// port-takeover.ts), every port of the config is taken over by name instead of redirected; the
// config then covers the declared ports that Services target by name only, and an engaged port
// that cannot be taken over is refused here, before anything is written to the workload.
import type { V1PodSpec } from '@kubernetes/client-node';
import type { AgentPortMapping } from '../common/agent-ports.js';
import { PROBE_PORT_OFFSET, type AgentConfig, type WorkloadKind } from '../common/agent-config.js';
import type { EngagedPort, EngagementInfo, EngagementKind } from '../common/rpc/engagement.js';
import { AGENT_PORT_BASE, AgentConfigError, pickContainer, resolveEngagement } from './agent-config.js';
import { appPortName, canTakeOver, refusesInitContainer, takeoverRefused, targetsOf, type ServiceView } from './port-takeover.js';

export interface PlanInput {
  workload: { kind: WorkloadKind; name: string; namespace: string };
  spec: V1PodSpec;
  /** The config on the pod template now, if any. */
  current: AgentConfig | undefined;
  kind: EngagementKind;
  container?: string;
  remotePorts: string[];
  /** The other live engagements of this workload. */
  others: readonly EngagementInfo[];
  manager: { host: string; port: number };
  /** The Pod Security level the namespace enforces (its pod-security.kubernetes.io/enforce label). */
  podSecurity?: string | undefined;
  /** The namespace's Services: which ports they target by name. */
  services?: readonly ServiceView[];
  /** The pod template's labels, which Services select on. */
  podLabels?: Readonly<Record<string, string>>;
}

export interface Plan {
  config: AgentConfig;
  container: string;
  /** What this engagement takes (empty for ingest). */
  ports: EngagedPort[];
}

export function planAgentConfig(p: PlanInput): Plan {
  const wl = p.workload.name;
  // Ingest takes no port but needs the container; replace takes every declared port (or the named
  // ones); intercept and wiretap take the named ones.
  const sel = { ...(p.container ? { container: p.container } : {}), remotePorts: p.kind === 'ingest' ? [] : p.remotePorts };
  let container: string;
  let engaged: AgentPortMapping[];
  if (p.kind === 'ingest') {
    container = pickContainer(wl, p.spec, sel).name;
    engaged = [];
  } else {
    const r = resolveEngagement(wl, p.spec, sel);
    container = r.container;
    engaged = r.config.ports;
    // Without --port REMOTE an intercept takes the container's one TCP port.
    if ((p.kind === 'intercept' || p.kind === 'wiretap') && p.remotePorts.length === 0)
      engaged = engaged.filter((m) => m.protocol === 'TCP');
    if ((p.kind === 'intercept' || p.kind === 'wiretap') && p.remotePorts.length === 0 && engaged.length > 1) {
      throw new AgentConfigError(
        `container ${container} of workload ${wl} has ${engaged.length} ports (${engaged.map((m) => (m.name ? `${m.name} (${m.containerPort})` : String(m.containerPort))).join(', ')}); say which to ${p.kind}`,
        'pass --port LOCAL:REMOTE',
      );
    }
  }
  const udp = engaged.filter((m) => m.protocol !== 'TCP');
  if (udp.length && p.kind !== 'replace') {
    throw new AgentConfigError(
      `port ${udp.map((m) => m.containerPort).join(', ')} of container ${container} is UDP; tp engages TCP ports only`,
      'pick a TCP port with --port',
    );
  }

  const current = p.current;
  if (current && current.container !== container) {
    const busy = p.others.filter((e) => e.container === current.container);
    if (busy.length) {
      throw new AgentConfigError(
        `the agent of workload ${wl} serves container ${current.container}, which ${busy.map((e) => `${e.kind} ${e.name} of ${e.owner} (${e.client})`).join(', ')} still engages`,
        `leave those engagements first, or engage container ${current.container}`,
      );
    }
  }
  const byName = refusesInitContainer(p.podSecurity);
  const targets = (m: { containerPort: number; name?: string }) => targetsOf(m, p.services ?? [], p.podLabels ?? {});
  if (byName) {
    for (const m of engaged) {
      if (m.protocol !== 'TCP') continue;
      const t = targets(m);
      if (!canTakeOver(t)) throw takeoverRefused({ workload: p.workload, container, port: m, level: p.podSecurity!, targets: t });
    }
  }
  // A port changes mode with its namespace's label: only ports that can be taken over are kept
  // where the name is the only way in.
  const keep = current && current.container === container ? current.ports.filter((k) => !byName || canTakeOver(targets(k))) : [];
  const declaredTcp =
    (p.spec.containers ?? []).find((c) => c.name === container)?.ports?.filter((q) => (q.protocol ?? 'TCP') === 'TCP') ?? [];
  const wanted: Array<Pick<AgentPortMapping, 'containerPort' | 'protocol' | 'name'>> = [
    ...keep,
    ...declaredTcp
      .map((q) => ({ containerPort: q.containerPort, protocol: 'TCP' as const, ...(q.name ? { name: q.name } : {}) }))
      .filter((q) => !byName || canTakeOver(targets(q))),
    ...engaged.filter((m) => m.protocol === 'TCP'),
  ];
  // The app's port gives up its name: the new one must be unused by every container of the pod.
  const namesTaken = new Set<string>([
    ...(p.spec.containers ?? []).flatMap((c) => (c.ports ?? []).flatMap((q) => (q.name ? [q.name] : []))),
    ...wanted.flatMap((w) => (w.name ? [w.name] : [])),
  ]);
  const mode = (
    w: Pick<AgentPortMapping, 'containerPort' | 'name'>,
    kept: AgentPortMapping | undefined,
  ): Pick<AgentPortMapping, 'mode' | 'appName'> => {
    if (!byName) return {};
    const appName = kept?.mode === 'name' && kept.appName && kept.name === w.name ? kept.appName : appPortName(w.name!, namesTaken);
    namesTaken.add(appName);
    return { mode: 'name', appName };
  };
  const taken = new Set<number>([
    ...(p.spec.containers ?? []).flatMap((c) => (c.ports ?? []).map((q) => q.containerPort)),
    ...wanted.map((w) => w.containerPort),
    ...keep.map((k) => k.agentPort),
  ]);
  const ports: AgentPortMapping[] = [];
  const seen = new Set<number>();
  let next = AGENT_PORT_BASE;
  for (const w of wanted) {
    if (seen.has(w.containerPort)) continue;
    seen.add(w.containerPort);
    const kept = keep.find((k) => k.containerPort === w.containerPort);
    const named = (m: AgentPortMapping): AgentPortMapping => ({
      containerPort: m.containerPort,
      protocol: m.protocol,
      agentPort: m.agentPort,
      ...(m.name ? { name: m.name } : {}),
      ...mode(m, kept),
    });
    if (kept) {
      ports.push(named(kept));
      continue;
    }
    // The agent also listens on next + PROBE_PORT_OFFSET (probes): neither may be in use.
    while (taken.has(next) || taken.has(next + PROBE_PORT_OFFSET)) next++;
    taken.add(next);
    ports.push(named({ containerPort: w.containerPort, protocol: 'TCP', agentPort: next, ...(w.name ? { name: w.name } : {}) }));
  }
  // The app container stays out of the pods while a replace of it lives.
  const replace = p.kind === 'replace' || p.others.some((e) => e.kind === 'replace' && e.container === container);
  return {
    config: { version: 1, workload: { ...p.workload }, container, replace, ports, manager: { ...p.manager } },
    container,
    ports: (p.kind === 'replace' ? ports : p.kind === 'ingest' ? [] : engaged).map((m) => ({
      port: m.containerPort,
      protocol: 'TCP',
      ...(m.name ? { name: m.name } : {}),
    })),
  };
}

/** The config once an engagement ended: replace is dropped when no replace of the container is left. */
export function afterLeave(current: AgentConfig, remaining: readonly EngagementInfo[]): AgentConfig {
  const replace = remaining.some((e) => e.kind === 'replace' && e.container === current.container);
  return { ...current, replace };
}
