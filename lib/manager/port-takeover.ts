// Pod Security and the agent's two ways into a pod (issue #16; the modes are described in
// lib/common/agent-ports.ts). Pure decisions for the planner (agent-plan.ts):
//
// - Which mode a workload's agent uses. "name" where the namespace enforces a Pod Security level
//   that refuses tp-agent-init's NET_ADMIN — "baseline" and "restricted" both do, and so does any
//   value Kubernetes cannot read, which it enforces as "restricted". "redirect" everywhere else,
//   even when every engaged port is targeted by name: the REDIRECT catches every connection to
//   the port — Services that target it by number, clients of the pod IP (a StatefulSet's peers, a
//   headless Service, the workstation's own VIF) — where the name reaches only named Service
//   ports. (Telepresence takes the name whenever it can; tp keeps the wider catch where it is
//   allowed, and behaves as before outside such namespaces.)
// - Whether a port can be taken over: some Service that selects the pods targets it by its name,
//   and none targets it by number (those connections would reach the app, not the agent).
// - The app port's new name, and the one-sentence refusal that names both ways out.
import { isKubePortName } from '../common/agent-ports.js';
import { AgentConfigError } from './agent-config.js';

/** The namespace label Pod Security admission enforces (kubernetes.io "Pod Security Admission"). */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

/** Whether an enforced level refuses tp-agent-init (root, NET_ADMIN): every level but privileged.
 * An unreadable value is enforced as restricted by the admission plugin, so it refuses too. */
export const refusesInitContainer = (level: string | undefined): boolean => level !== undefined && level !== 'privileged';

/** What the planner needs of a Service: its selector and ports (client-node's V1Service, trimmed). */
export interface ServiceView {
  name: string;
  /** Empty or absent: a Service without a selector (its endpoints are managed by hand) selects no pod. */
  selector?: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
}

export interface PortTargets {
  /** Services that reach the port through its name (`targetPort: http`). */
  byName: string[];
  /** Services that reach it by number (`targetPort: 8080`, or no targetPort and `port: 8080`). */
  byNumber: Array<{ service: string; index: number }>;
}

export const selects = (s: ServiceView, podLabels: Readonly<Record<string, string>>): boolean => {
  const sel = Object.entries(s.selector ?? {});
  return sel.length > 0 && sel.every(([k, v]) => podLabels[k] === v);
};

/** How the Services of the namespace reach one TCP container port of the pods with these labels. */
export function targetsOf(
  port: { containerPort: number; name?: string },
  services: readonly ServiceView[],
  podLabels: Readonly<Record<string, string>>,
): PortTargets {
  const out: PortTargets = { byName: [], byNumber: [] };
  for (const s of services) {
    if (!selects(s, podLabels)) continue;
    s.ports.forEach((sp, index) => {
      if ((sp.protocol ?? 'TCP') !== 'TCP') return;
      // A Service's targetPort string is always a port name: the API server refuses "8080" there.
      const target = sp.targetPort ?? sp.port;
      if (typeof target === 'number' && target === port.containerPort) out.byNumber.push({ service: s.name, index });
      else if (typeof target === 'string' && port.name !== undefined && target === port.name) out.byName.push(s.name);
    });
  }
  out.byName = [...new Set(out.byName)];
  return out;
}

export const canTakeOver = (t: PortTargets): boolean => t.byName.length > 0 && t.byNumber.length === 0;

/**
 * A name for the app's port once the agent has its old one: "tp-" + the old name, cut to the 15
 * characters a port name may have, unused by every container of the pod (a Service's named
 * targetPort resolves to the first container port of that name in the pod).
 */
export function appPortName(name: string, taken: ReadonlySet<string>): string {
  for (let i = 0; ; i++) {
    const candidate = `tp${i === 0 ? '' : i}-${name}`.slice(0, 15).replace(/-+$/, '');
    if (isKubePortName(candidate) && !taken.has(candidate)) return candidate;
  }
}

export interface Refusal {
  workload: { kind: string; name: string; namespace: string };
  container: string;
  port: { containerPort: number; name?: string };
  level: string;
  targets: PortTargets;
}

/** The engagement cannot be set up in this namespace: one sentence with both ways out. */
export function takeoverRefused(r: Refusal): AgentConfigError {
  const { workload: wl, port, targets } = r;
  const ns = wl.namespace;
  const services = (list: string[]) => `Service${list.length === 1 ? '' : 's'} ${list.join(', ')}`;
  const numbered = [...new Set(targets.byNumber.map((b) => b.service))];
  const why = numbered.length
    ? `${services(numbered)} target${numbered.length === 1 ? 's' : ''} it by number`
    : port.name === undefined
      ? 'the port has no name a Service could target'
      : `no Service targets it by its name ${port.name}`;
  const fix =
    port.name === undefined
      ? `name the port in container ${r.container} and make that name the targetPort of ${numbered.length ? services(numbered) : 'a Service that selects the pods'}`
      : `make ${port.name} the targetPort of ${numbered.length ? services(numbered) : 'a Service that selects the pods'}`;
  const first = targets.byNumber[0];
  const patch =
    first && port.name !== undefined
      ? `kubectl -n ${ns} patch service ${first.service} --type=json -p '[{"op":"replace","path":"/spec/ports/${first.index}/targetPort","value":"${port.name}"}]'`
      : undefined;
  return new AgentConfigError(
    `port ${port.containerPort} of ${wl.kind.toLowerCase()}/${wl.name} cannot be engaged: namespace ${ns} enforces Pod Security "${r.level}", which refuses the agent's init container (it redirects the port with NET_ADMIN), and ${why}; ` +
      `${fix} so the agent can take the port over by name, or allow the init container by labelling namespace ${ns} ${POD_SECURITY_ENFORCE_LABEL}=privileged (or exempting it from Pod Security admission)`,
    `${patch ? `${patch}, or ` : ''}kubectl label namespace ${ns} ${POD_SECURITY_ENFORCE_LABEL}=privileged --overwrite`,
  );
}
