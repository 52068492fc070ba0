// The configuration of `tp-agent-init`: which container ports of an engaged pod are redirected to
// which agent ports. The traffic manager writes it (DESIGN.md §6: the agent config on the pod
// template, handed to the init container as env TP_AGENT_CONFIG or a file); this module is the
// seam both sides import, so the shape is written once.
//
//   { "version": 1,
//     "ports": [ { "containerPort": 8080, "protocol": "TCP", "agentPort": 9900, "name": "http" } ] }
//
// Rules the validator enforces, each reported as one sentence naming the offending field:
// - version is exactly AGENT_INIT_CONFIG_VERSION (a newer manager must not be half-understood);
// - every port is an integer 1..65535, protocol is TCP or UDP, name (optional) is a Kubernetes
//   port name (IANA_SVC_NAME: ≤ 15 chars, lowercase alphanumerics and '-');
// - a (containerPort, protocol) pair appears once: two REDIRECTs for one port, only the first wins;
// - an agent port is used once per protocol: the agent can bind a port only once;
// - an agent port is no container port of the config (any protocol): the app may be listening
//   on it, and the agent could not bind it, or would steal it.
// An empty `ports` list is valid: the chain is then empty (an ingest-only engagement).

export const AGENT_INIT_CONFIG_VERSION = 1;

/** The environment variable that carries the config as JSON. */
export const AGENT_INIT_CONFIG_ENV = 'TP_AGENT_CONFIG';

export type PortProtocol = 'TCP' | 'UDP';

export interface AgentPortMapping {
  /** The app's port inside the pod: traffic from outside the pod to it goes to `agentPort`. */
  containerPort: number;
  /** Kubernetes spelling, as in a container's `ports[].protocol`. */
  protocol: PortProtocol;
  /** Where the agent sidecar listens (same protocol). */
  agentPort: number;
  /** The container port's name, for logs and the rule comment. */
  name?: string;
}

export interface AgentInitConfig {
  version: typeof AGENT_INIT_CONFIG_VERSION;
  ports: AgentPortMapping[];
}

export type ValidationResult = { ok: true; config: AgentInitConfig } | { ok: false; errors: string[] };

const PORT_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const TOP_KEYS = new Set(['version', 'ports']);
const PORT_KEYS = new Set(['containerPort', 'protocol', 'agentPort', 'name']);

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Checks a parsed JSON value; returns the typed config (a copy) or every problem found. */
export function validateConfig(raw: unknown): ValidationResult {
  const errors: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, errors: [`The agent config must be a JSON object, got ${Array.isArray(raw) ? 'an array' : show(raw)}.`] };
  }
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (!TOP_KEYS.has(k)) errors.push(`The agent config has an unknown field "${k}".`);
  if (obj['version'] !== AGENT_INIT_CONFIG_VERSION) {
    errors.push(`The agent config has version ${show(obj['version'])}, but this tp-agent-init understands only version ${AGENT_INIT_CONFIG_VERSION}: the manager and the agent image differ.`);
  }
  const portsRaw = obj['ports'];
  if (!Array.isArray(portsRaw)) {
    errors.push(`The agent config field "ports" must be an array, got ${show(portsRaw)}.`);
    return { ok: false, errors };
  }

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
    if (!good) return;
    const m: AgentPortMapping = { containerPort: e['containerPort'] as number, protocol: e['protocol'] as PortProtocol, agentPort: e['agentPort'] as number };
    if (typeof e['name'] === 'string') m.name = e['name'];
    entries.push({ m, i });
  });

  const containerSeen = new Map<string, number>();
  const agentSeen = new Map<string, number>();
  const containerPorts = new Map<number, number>();
  for (const { m, i } of entries) if (!containerPorts.has(m.containerPort)) containerPorts.set(m.containerPort, i);
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
    if (clash !== undefined) errors.push(`ports[${i}].agentPort ${m.agentPort} is also the container port of ports[${clash}]: the agent cannot listen on a port the app uses.`);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: { version: AGENT_INIT_CONFIG_VERSION, ports: entries.map((e) => e.m) } };
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
