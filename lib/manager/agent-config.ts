// Which container and which of its ports an engagement takes over, and the agent ports that
// tp-agent-init redirects them to: pure logic over a workload's pod template, with one-sentence
// errors that name what the workload does have. The manager writes the result to the pod-template
// annotation; the webhook and tp-agent-init read it back (lib/common/agent-ports.ts).
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import {
  AGENT_INIT_CONFIG_VERSION,
  validateConfig,
  type AgentInitConfig,
  type AgentPortMapping,
  type PortProtocol,
} from '../common/agent-ports.js';
import { TpError } from '../common/errors.js';

/** The first agent port; later ones count up, skipping any port a container of the pod uses. */
export const AGENT_PORT_BASE = 9900;

/** The workload's pod cannot take an agent as asked; the manager answers E_ENGAGE_INVALID. */
export class AgentConfigError extends TpError {
  constructor(message: string, hint?: string) {
    super('E_ENGAGE_INVALID', message, { hint });
    this.name = 'AgentConfigError';
  }
}

export interface PortSelection {
  /** `--container`: the app container; chosen from the ports when absent. */
  container?: string;
  /** `--port LOCAL:REMOTE`'s REMOTE parts: a port number or a container port name. Empty means
   * every declared port of the container (replace). */
  remotePorts: string[];
}

export interface ResolvedEngagement {
  container: string;
  config: AgentInitConfig;
}

const portsOf = (c: V1Container) => c.ports ?? [];
const describePorts = (c: V1Container) =>
  portsOf(c)
    .map((p) => (p.name ? `${p.name} (${p.containerPort})` : String(p.containerPort)))
    .join(', ') || 'no declared ports';

export function pickContainer(workload: string, spec: V1PodSpec, sel: PortSelection): V1Container {
  const containers = spec.containers ?? [];
  if (containers.length === 0) throw new AgentConfigError(`workload ${workload} has no containers`);
  if (sel.container) {
    const c = containers.find((x) => x.name === sel.container);
    if (!c)
      throw new AgentConfigError(
        `workload ${workload} has no container named ${sel.container}; it has: ${containers.map((x) => x.name).join(', ')}`,
        'pass one of those to --container',
      );
    return c;
  }
  if (containers.length === 1) return containers[0]!;
  const declaring = containers.filter((c) =>
    sel.remotePorts.some((r) => portsOf(c).some((p) => String(p.containerPort) === r || p.name === r)),
  );
  if (declaring.length === 1) return declaring[0]!;
  throw new AgentConfigError(
    `workload ${workload} has ${containers.length} containers (${containers.map((c) => `${c.name}: ${describePorts(c)}`).join('; ')}) and the port${sel.remotePorts.length === 1 ? '' : 's'} ${sel.remotePorts.join(', ') || '(all)'} do${sel.remotePorts.length === 1 ? 'es' : ''} not single one out`,
    'pass --container NAME',
  );
}

/** Resolves the selection against the pod template into the agent config. */
export function resolveEngagement(workload: string, spec: V1PodSpec, sel: PortSelection): ResolvedEngagement {
  const container = pickContainer(workload, spec, sel);
  const wanted: Array<{ port: number; protocol: PortProtocol; name?: string }> = [];
  if (sel.remotePorts.length === 0) {
    for (const p of portsOf(container))
      wanted.push({ port: p.containerPort, protocol: (p.protocol ?? 'TCP') as PortProtocol, ...(p.name ? { name: p.name } : {}) });
    if (wanted.length === 0)
      throw new AgentConfigError(
        `container ${container.name} of workload ${workload} declares no ports`,
        'name the ports with --port LOCAL:REMOTE',
      );
  }
  for (const r of sel.remotePorts) {
    const byName = portsOf(container).find((p) => p.name === r);
    if (byName) {
      wanted.push({ port: byName.containerPort, protocol: (byName.protocol ?? 'TCP') as PortProtocol, name: byName.name! });
      continue;
    }
    const n = Number(r);
    if (!/^\d+$/.test(r) || n < 1 || n > 65535) {
      throw new AgentConfigError(
        `container ${container.name} of workload ${workload} has no port named ${r}; it has: ${describePorts(container)}`,
        'pass a port number or one of those names',
      );
    }
    const declared = portsOf(container).find((p) => p.containerPort === n);
    wanted.push({ port: n, protocol: (declared?.protocol ?? 'TCP') as PortProtocol, ...(declared?.name ? { name: declared.name } : {}) });
  }
  // Agent ports must not collide with anything a container of the pod listens on.
  const taken = new Set((spec.containers ?? []).flatMap((c) => portsOf(c).map((p) => p.containerPort)));
  for (const w of wanted) taken.add(w.port);
  let next = AGENT_PORT_BASE;
  const seen = new Set<string>();
  const ports: AgentPortMapping[] = [];
  for (const w of wanted) {
    const key = `${w.port}/${w.protocol}`;
    if (seen.has(key)) continue;
    seen.add(key);
    while (taken.has(next)) next++;
    ports.push({ containerPort: w.port, protocol: w.protocol, agentPort: next, ...(w.name ? { name: w.name } : {}) });
    taken.add(next);
  }
  const checked = validateConfig({ version: AGENT_INIT_CONFIG_VERSION, ports });
  if (!checked.ok) throw new AgentConfigError(`the agent config for workload ${workload} is invalid: ${checked.errors.join(' ')}`);
  return { container: container.name, config: checked.config };
}
