// Which ports of an engaged pod reach the traffic agent, and how: the `ports` of the agent config
// (agent-config.ts) and the whole of tp-agent-init's config. The manager writes them, the webhook
// and both agent containers read them; this module is the one place the shape is written (it
// lived in lib/agent/init/config.ts, which lib/common imported backwards — issue #17).
//
//   { "version": 1,
//     "ports": [ { "containerPort": 8080, "protocol": "TCP", "agentPort": 9900, "name": "http" } ] }
//
// A port reaches the agent in one of two ways (`mode`, issue #16):
//  - "redirect" (the default, and what an absent `mode` means): tp-agent-init adds an iptables
//    REDIRECT from containerPort to agentPort in the pod's network namespace. Needs NET_ADMIN,
//    which Pod Security "baseline" and "restricted" refuse. Catches every inbound connection to
//    the port, by Service or pod IP.
//  - "name": the agent takes over the port's *name*. The app container's port is renamed to
//    `appName`, the agent container declares `name` at agentPort, and every Service whose
//    targetPort is that name sends its traffic to the agent. No init container, no capability;
//    only Services that target the port by name reach the agent.
//
// Rules the validator enforces, each reported as one sentence naming the offending field:
// - version is exactly AGENT_INIT_CONFIG_VERSION (a newer manager must not be half-understood);
// - every port is an integer 1..65535, protocol is TCP or UDP, name (optional) is a Kubernetes
//   port name (IANA_SVC_NAME: ≤ 15 chars, lowercase alphanumerics and '-');
// - a (containerPort, protocol) pair appears once: two REDIRECTs for one port, only the first wins;
// - an agent port is used once per protocol: the agent can bind a port only once;
// - an agent port is no container port of the config (any protocol): the app may be listening
//   on it, and the agent could not bind it, or would steal it;
// - mode "name" is TCP, has a name and an appName (a valid port name the API server accepts, other
//   than every name of the config and every other appName); appName appears with mode "name" only;
// - tp-agent-init's own config holds only "redirect" ports: it has nothing to do for the others.
// An empty `ports` list is valid: the chain is then empty (an ingest-only engagement).

export const AGENT_INIT_CONFIG_VERSION = 1;

/** The environment variable that carries the config as JSON. */
export const AGENT_INIT_CONFIG_ENV = 'TP_AGENT_CONFIG';

export type PortProtocol = 'TCP' | 'UDP';

/** How a port's traffic reaches the agent; see the top of this file. */
export type PortMode = 'redirect' | 'name';

export interface AgentPortMapping {
  /** The app's port inside the pod: traffic from outside the pod to it goes to `agentPort`. */
  containerPort: number;
  /** Kubernetes spelling, as in a container's `ports[].protocol`. */
  protocol: PortProtocol;
  /** Where the agent sidecar listens (same protocol). */
  agentPort: number;
  /** The container port's name, for logs and the rule comment; in mode "name", the name taken over. */
  name?: string;
  /** Absent means "redirect". */
  mode?: PortMode;
  /** Mode "name" only: the app container port's new name, so that `name` is the agent's alone. */
  appName?: string;
}

export interface AgentInitConfig {
  version: typeof AGENT_INIT_CONFIG_VERSION;
  ports: AgentPortMapping[];
}

export type ValidationResult = { ok: true; config: AgentInitConfig } | { ok: false; errors: string[] };

export const takesName = (m: AgentPortMapping): boolean => m.mode === 'name';

const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const TOP_KEYS = new Set(['version', 'ports']);
const PORT_KEYS = new Set(['containerPort', 'protocol', 'agentPort', 'name', 'mode', 'appName']);

/** Kubernetes' IsValidPortName (IANA_SVC_NAME, RFC 6335 §5.1): what the API server accepts as a
 * container port's name — 1 to 15 of [a-z0-9-], a letter somewhere, no '-' at either end, no '--'. */
export function isKubePortName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && PORT_NAME.test(s) && /[a-z]/.test(s) && !s.includes('--');
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Checks the `ports` array shared by the agent config and tp-agent-init's config; returns the
 * typed mappings (copies, `mode` "redirect" normalised to absent) or every problem found. */
export function checkPorts(portsRaw: unknown): { ok: true; ports: AgentPortMapping[] } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  if (!Array.isArray(portsRaw)) return { ok: false, errors: [`The agent config field "ports" must be an array, got ${show(portsRaw)}.`] };

  // Well-formed entries with their index; only these take part in the cross-entry checks.
  const entries: { m: AgentPortMapping; i: number }[] = [];
  portsRaw.forEach((p: unknown, i) => {
    const at = `ports[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      errors.push(`${at} must be an object, got ${show(p)}.`);
      return;
    }
    const e = p as Record<string, unknown>;
    let good = true;
    for (const k of Object.keys(e)) {
      if (!PORT_KEYS.has(k)) {
        errors.push(`${at} has an unknown field "${k}".`);
        good = false;
      }
    }
    for (const k of ['containerPort', 'agentPort'] as const) {
      if (!isPort(e[k])) {
        errors.push(`${at}.${k} must be an integer from 1 to 65535, got ${show(e[k])}.`);
        good = false;
      }
    }
    if (e['protocol'] !== 'TCP' && e['protocol'] !== 'UDP') {
      errors.push(`${at}.protocol must be "TCP" or "UDP", got ${show(e['protocol'])}.`);
      good = false;
    }
    if (e['name'] !== undefined && (typeof e['name'] !== 'string' || e['name'].length > 15 || !PORT_NAME.test(e['name']))) {
      errors.push(`${at}.name must be a Kubernetes port name (at most 15 lowercase letters, digits and '-'), got ${show(e['name'])}.`);
      good = false;
    }
    if (e['mode'] !== undefined && e['mode'] !== 'redirect' && e['mode'] !== 'name') {
      errors.push(`${at}.mode must be "redirect" or "name", got ${show(e['mode'])}.`);
      good = false;
    }
    if (e['mode'] === 'name') {
      if (e['protocol'] !== 'TCP') {
        errors.push(`${at} takes over its port by name, which tp does for TCP ports only.`);
        good = false;
      }
      if (typeof e['name'] !== 'string') {
        errors.push(`${at} takes over its port by name but has no "name".`);
        good = false;
      }
      if (typeof e['appName'] !== 'string' || !isKubePortName(e['appName'])) {
        errors.push(`${at}.appName must be the app port's new name (a Kubernetes port name), got ${show(e['appName'])}.`);
        good = false;
      } else if (e['appName'] === e['name']) {
        errors.push(`${at}.appName must differ from its name "${e['name']}": the name is the agent's now.`);
        good = false;
      }
    } else if (e['appName'] !== undefined && good) {
      errors.push(`${at}.appName is only for a port taken over by name (mode "name").`);
      good = false;
    }
    if (!good) return;
    const m: AgentPortMapping = {
      containerPort: e['containerPort'] as number,
      protocol: e['protocol'] as PortProtocol,
      agentPort: e['agentPort'] as number,
    };
    if (typeof e['name'] === 'string') m.name = e['name'];
    if (e['mode'] === 'name') {
      m.mode = 'name';
      m.appName = e['appName'] as string;
    }
    entries.push({ m, i });
  });

  const containerSeen = new Map<string, number>();
  const agentSeen = new Map<string, number>();
  const containerPorts = new Map<number, number>();
  const names = new Map<string, number>();
  for (const { m, i } of entries) {
    if (!containerPorts.has(m.containerPort)) containerPorts.set(m.containerPort, i);
    if (m.name !== undefined && !names.has(m.name)) names.set(m.name, i);
  }
  const appNames = new Map<string, number>();
  for (const { m, i } of entries) {
    const ck = `${m.containerPort}/${m.protocol}`;
    const prevC = containerSeen.get(ck);
    if (prevC !== undefined) errors.push(`ports[${i}] repeats container port ${ck} of ports[${prevC}].`);
    else containerSeen.set(ck, i);
    const ak = `${m.agentPort}/${m.protocol}`;
    const prevA = agentSeen.get(ak);
    if (prevA !== undefined) errors.push(`ports[${i}].agentPort ${ak} is already the agent port of ports[${prevA}].`);
    else agentSeen.set(ak, i);
    const clash = containerPorts.get(m.agentPort);
    if (clash !== undefined)
      errors.push(
        `ports[${i}].agentPort ${m.agentPort} is also the container port of ports[${clash}]: the agent cannot listen on a port the app uses.`,
      );
    if (m.appName !== undefined) {
      const named = names.get(m.appName);
      const prev = appNames.get(m.appName);
      if (named !== undefined) errors.push(`ports[${i}].appName "${m.appName}" is also the name of ports[${named}].`);
      else if (prev !== undefined) errors.push(`ports[${i}].appName "${m.appName}" is already the appName of ports[${prev}].`);
      else appNames.set(m.appName, i);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, ports: entries.map((e) => e.m) };
}

/** Checks tp-agent-init's config (a parsed JSON value); returns the typed config (a copy) or every
 * problem found. */
export function validateConfig(raw: unknown): ValidationResult {
  const errors: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, errors: [`The agent config must be a JSON object, got ${Array.isArray(raw) ? 'an array' : show(raw)}.`] };
  }
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!TOP_KEYS.has(k)) errors.push(`The agent config has an unknown field "${k}".`);
  if (obj['version'] !== AGENT_INIT_CONFIG_VERSION) {
    errors.push(
      `The agent config has version ${show(obj['version'])}, but this tp-agent-init understands only version ${AGENT_INIT_CONFIG_VERSION}: the manager and the agent image differ.`,
    );
  }
  const ports = checkPorts(obj['ports']);
  if (!ports.ok) return { ok: false, errors: [...errors, ...ports.errors] };
  ports.ports.forEach((m, i) => {
    if (takesName(m))
      errors.push(`ports[${i}] is taken over by name (mode "name"): tp-agent-init redirects only ports of mode "redirect".`);
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: { version: AGENT_INIT_CONFIG_VERSION, ports: ports.ports } };
}

/** Parses and validates JSON text; a syntax error is one more sentence. */
export function parseConfig(text: string): ValidationResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`The agent config is not valid JSON: ${(err as Error).message.replace(/\.$/, '')}.`] };
  }
  return validateConfig(raw);
}
