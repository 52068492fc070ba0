// The agent injector's decision, as a pure function of one AdmissionReview (DESIGN.md §6): a new
// pod that carries the agent-config annotation gets tp-agent (and tp-agent-init, when a port of
// the config is redirected) as a JSON patch. A port taken over by name (issue #16,
// lib/common/agent-ports.ts) needs no init container: the app's port is renamed and the agent
// declares the old name at its agent port, so the pod can meet Pod Security "restricted".
// Everything else is admitted untouched. The webhook runs with failurePolicy Ignore, and this
// function goes further: it never refuses a pod and never throws — a pod the agent cannot be put
// into is admitted as it is, with a warning saying why, because blocking a workload's rollout is
// worse than an engagement that waits for its agent and reports the pod's state.
//
// Reading list: admission.k8s.io/v1 AdmissionReview (request.uid, response.patchType JSONPatch,
// base64 patch, warnings); RFC 6902 (JSON Patch) and RFC 6901 (JSON Pointer, `/` spelled `~1`);
// dependent env vars `$(VAR)` / `$$` (Kubernetes "Define Dependent Environment Variables").
import type {
  V1Container,
  V1ContainerPort,
  V1EnvFromSource,
  V1EnvVar,
  V1PodSecurityContext,
  V1Probe,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import {
  AGENT_CONFIG_ANNOTATION,
  AGENT_CONTAINER_NAME,
  AGENT_ENV,
  AGENT_INIT_CONTAINER_NAME,
  AGENT_INJECTED_ANNOTATION,
  AGENT_TOKEN_AUDIENCE,
  AGENT_TOKEN_DIR,
  AGENT_TOKEN_FILE,
  APP_ENV_PREFIX,
  APP_MOUNT_ROOT,
  agentConfigHash,
  initConfigOf,
  needsInitContainer,
  parseAgentConfig,
  probePortOf,
  serializeAgentConfig,
  type AgentConfig,
} from '../../common/agent-config.js';
import { takesName } from '../../common/agent-ports.js';

/** The projected volume holding the token the agent presents to the manager. */
export const AGENT_TOKEN_VOLUME = 'tp-agent-token';
/** The agent's /etc/passwd, projected from AGENT_PASSWD_ANNOTATION (see agentPasswd). */
export const AGENT_PASSWD_VOLUME = 'tp-agent-passwd';
export const AGENT_PASSWD_ANNOTATION = 'tp.dev/agent-passwd';
export const AGENT_TOKEN_EXPIRATION_SECONDS = 3600;
export const AGENT_MAIN = '/app/dist/lib/agent/main.js';
export const AGENT_INIT_MAIN = '/app/dist/lib/agent/init/main.js';
/** Requests only, no limits: the agent idles until engaged, and a memory limit would kill it
 * mid-transfer for a large volume read. */
export const AGENT_RESOURCES = { requests: { cpu: '10m', memory: '64Mi' } } as const;

export interface MutateOptions {
  /** The image holding /app/dist (the chart's own image). */
  agentImage: string;
  imagePullPolicy?: string;
  /** Handed to both injected containers as TP_LOG_LEVEL. */
  logLevel?: string;
}

export interface PatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** base64 of the JSON array of PatchOps. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** What happened to the pod, for the server's log line. */
export type Outcome =
  | { action: 'injected'; config: AgentConfig; hash: string; ops: PatchOp[] }
  /** Nothing to do: not a pod CREATE, no annotation, or already injected. */
  | { action: 'skipped'; reason: string }
  /** The pod asked for an agent and did not get one; `reason` is also the response's warning. */
  | { action: 'not-injected'; reason: string };

export interface PodRef {
  namespace?: string;
  name?: string;
  generateName?: string;
}

export type MutateResult =
  | { ok: true; review: AdmissionReviewResponse; outcome: Outcome; pod: PodRef }
  /** The body is not an AdmissionReview with a request uid: nothing can be answered (HTTP 400). */
  | { ok: false; error: string };

export { agentConfigHash };

/** RFC 6901: `~` and `/` inside a reference token. */
export const pointerToken = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Kubernetes logs (and kubectl prints) warnings longer than this truncated. */
const WARNING_MAX = 256;
const warning = (s: string) => (s.length > WARNING_MAX ? s.slice(0, WARNING_MAX - 1) + '…' : s);

export function mutate(body: unknown, opts: MutateOptions): MutateResult {
  if (!isObj(body) || body.kind !== 'AdmissionReview' || !isObj(body.request))
    return { ok: false, error: 'the body is not an AdmissionReview with a request' };
  if (body.apiVersion !== 'admission.k8s.io/v1')
    return { ok: false, error: `AdmissionReview ${String(body.apiVersion)} is not served; this webhook speaks admission.k8s.io/v1` };
  const req = body.request;
  if (typeof req.uid !== 'string' || req.uid === '') return { ok: false, error: 'the AdmissionReview request has no uid' };
  const uid = req.uid;
  const pod = podRef(req);
  let outcome: Outcome;
  try {
    outcome = decide(req, opts);
  } catch (err) {
    // A bug here must not stop a workload from starting: admit the pod as it is.
    outcome = { action: 'not-injected', reason: `tp agent injector failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const response: AdmissionResponse = { uid, allowed: true };
  if (outcome.action === 'injected') {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(outcome.ops)).toString('base64');
  } else if (outcome.action === 'not-injected') {
    response.warnings = [warning(outcome.reason)];
  }
  return { ok: true, review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, outcome, pod };
}

function podRef(req: Obj): PodRef {
  const meta = isObj(req.object) && isObj(req.object.metadata) ? req.object.metadata : {};
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const ref: PodRef = {};
  const namespace = str(req.namespace) ?? str(meta.namespace);
  const name = str(meta.name) ?? str(req.name);
  const generateName = str(meta.generateName);
  if (namespace) ref.namespace = namespace;
  if (name) ref.name = name;
  if (generateName) ref.generateName = generateName;
  return ref;
}

function decide(req: Obj, opts: MutateOptions): Outcome {
  const kind = isObj(req.kind) ? req.kind : {};
  if (kind.group !== '' || kind.kind !== 'Pod') return { action: 'skipped', reason: `not a pod (${String(kind.kind)})` };
  if (req.operation !== 'CREATE') return { action: 'skipped', reason: `operation ${String(req.operation)}` };
  if (typeof req.subResource === 'string' && req.subResource !== '') return { action: 'skipped', reason: `subresource ${req.subResource}` };
  const pod = req.object;
  if (!isObj(pod) || !isObj(pod.spec)) return { action: 'skipped', reason: 'the request carries no pod' };
  const meta = isObj(pod.metadata) ? pod.metadata : {};
  const annotations = isObj(meta.annotations) ? meta.annotations : {};
  const raw = annotations[AGENT_CONFIG_ANNOTATION];
  if (raw === undefined) return { action: 'skipped', reason: 'no agent config annotation' };
  if (typeof raw !== 'string')
    return { action: 'not-injected', reason: `tp agent not injected: the ${AGENT_CONFIG_ANNOTATION} annotation is not a string` };
  let config: AgentConfig;
  try {
    config = parseAgentConfig(raw);
  } catch (err) {
    return { action: 'not-injected', reason: `tp agent not injected: ${(err as Error).message}` };
  }

  const spec = pod.spec;
  const containers = Array.isArray(spec.containers) ? (spec.containers as V1Container[]) : [];
  const initContainers = Array.isArray(spec.initContainers) ? (spec.initContainers as V1Container[]) : undefined;
  const volumes = Array.isArray(spec.volumes) ? (spec.volumes as V1Volume[]) : undefined;
  const hasAgent = containers.some((c) => c?.name === AGENT_CONTAINER_NAME);
  const hasInit = (initContainers ?? []).some((c) => c?.name === AGENT_INIT_CONTAINER_NAME);
  const withInit = needsInitContainer(config);
  // Reinvocation, or a pod copied from an injected one: injecting again would duplicate names,
  // which the API server's validation refuses — the pod would not be created at all.
  if (hasAgent && (hasInit || !withInit)) return { action: 'skipped', reason: 'already injected' };
  if (hasAgent || hasInit) {
    return {
      action: 'not-injected',
      reason: `tp agent not injected: the pod already has a container named ${hasAgent ? AGENT_CONTAINER_NAME : AGENT_INIT_CONTAINER_NAME}`,
    };
  }
  for (const name of [AGENT_TOKEN_VOLUME, AGENT_PASSWD_VOLUME]) {
    if ((volumes ?? []).some((v) => v?.name === name))
      return { action: 'not-injected', reason: `tp agent not injected: the pod already has a volume named ${name}` };
  }
  const appIndex = containers.findIndex((c) => c?.name === config.container);
  if (appIndex < 0) {
    return {
      action: 'not-injected',
      reason: `tp agent not injected: the pod has no container named ${config.container} (it has: ${containers.map((c) => c?.name).join(', ') || 'none'})`,
    };
  }
  const app = containers[appIndex]!;
  const clash = nameClash(containers, appIndex, config);
  if (clash) return { action: 'not-injected', reason: `tp agent not injected: ${clash}` };

  const ops: PatchOp[] = [];
  // The one remove goes first, while the index still names the app container in the original
  // array; every later op appends (`-`), so no index has to be recomputed.
  if (config.replace) ops.push({ op: 'remove', path: `/spec/containers/${appIndex}` });
  if (!config.replace) {
    for (const [field, probe] of probesToAgent(app, config))
      ops.push({ op: 'replace', path: `/spec/containers/${appIndex}/${field}`, value: probe });
    for (const [i, name] of renamedAppPorts(app, config))
      ops.push({ op: 'replace', path: `/spec/containers/${appIndex}/ports/${i}/name`, value: name });
  }
  if (withInit) {
    const init = initContainer(config, opts);
    ops.push(
      initContainers
        ? { op: 'add', path: '/spec/initContainers/-', value: init }
        : { op: 'add', path: '/spec/initContainers', value: [init] },
    );
  }
  const podSc = isObj(spec.securityContext) ? (spec.securityContext as V1PodSecurityContext) : undefined;
  ops.push({ op: 'add', path: '/spec/containers/-', value: agentContainer(config, app, opts, podSc) });
  const agentVolumes = [tokenVolume(), passwdVolume()];
  if (volumes) for (const v of agentVolumes) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  else ops.push({ op: 'add', path: '/spec/volumes', value: agentVolumes });
  const hash = agentConfigHash(config);
  const added = { [AGENT_INJECTED_ANNOTATION]: hash, [AGENT_PASSWD_ANNOTATION]: agentPasswd(agentIdentity(app, podSc)) };
  if (isObj(meta.annotations))
    for (const [k, v] of Object.entries(added)) ops.push({ op: 'add', path: `/metadata/annotations/${pointerToken(k)}`, value: v });
  else ops.push({ op: 'add', path: '/metadata/annotations', value: added });
  return { action: 'injected', config, hash, ops };
}

/** Why the agent cannot have the port names it takes over, if it cannot: a Service's named
 * targetPort resolves to the first container port of that name in the pod, so a name taken over
 * must be the agent's alone, and the app's new name must be new. */
function nameClash(containers: V1Container[], appIndex: number, config: AgentConfig): string | undefined {
  for (const m of config.ports.filter(takesName)) {
    for (const [i, c] of containers.entries()) {
      if (config.replace && i === appIndex) continue;
      for (const p of Array.isArray(c?.ports) ? c.ports : []) {
        if (p?.name === m.appName)
          return `container ${c.name} already has a port named ${m.appName}, the name the app's port ${m.name} was to get`;
        if (p?.name === m.name && i !== appIndex) return `container ${c.name} also has a port named ${m.name}, which the agent takes over`;
      }
    }
  }
  return undefined;
}

/** The app's ports whose names the agent takes over, by index, with their new names. */
export function renamedAppPorts(app: V1Container, config: AgentConfig): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  (Array.isArray(app.ports) ? app.ports : []).forEach((p, i) => {
    const m = config.ports.find((x) => takesName(x) && x.name === p?.name);
    if (m) out.push([i, m.appName!]);
  });
  return out;
}

const PROBE_FIELDS = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

/** The app's probes of redirected ports, pointed at the agent's probe port for that port (which
 * forwards to the app whatever is engaged). Ports are matched by number or by the app's port name.
 * A probe naming a port taken over by name gets the port's number: the name is the agent's now,
 * and nothing stands between the kubelet and the app's port. */
export function probesToAgent(app: V1Container, config: AgentConfig): Array<[string, V1Probe]> {
  const byName = new Map((app.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
  const probePort = (port: unknown): number | undefined => {
    const named = typeof port === 'string' && byName.has(port);
    const n =
      typeof port === 'number'
        ? port
        : typeof port === 'string'
          ? (byName.get(port) ?? (/^\d+$/.test(port) ? Number(port) : undefined))
          : undefined;
    const m = config.ports.find((x) => x.containerPort === n && x.protocol === 'TCP');
    if (!m) return undefined;
    if (takesName(m)) return named ? m.containerPort : undefined;
    return probePortOf(m);
  };
  const out: Array<[string, V1Probe]> = [];
  for (const field of PROBE_FIELDS) {
    const probe = app[field];
    if (!isObj(probe)) continue;
    const next: V1Probe = { ...probe };
    let changed = false;
    for (const kind of ['httpGet', 'tcpSocket', 'grpc'] as const) {
      const action = probe[kind] as { port?: unknown } | undefined;
      const port = isObj(action) ? probePort(action.port) : undefined;
      if (port === undefined) continue;
      (next as Record<string, unknown>)[kind] = { ...action, port };
      changed = true;
    }
    if (changed) out.push([field, next]);
  }
  return out;
}

function initContainer(config: AgentConfig, opts: MutateOptions): V1Container {
  return {
    name: AGENT_INIT_CONTAINER_NAME,
    image: opts.agentImage,
    ...(opts.imagePullPolicy ? { imagePullPolicy: opts.imagePullPolicy } : {}),
    command: ['node', AGENT_INIT_MAIN],
    env: [
      { name: AGENT_ENV.config, value: JSON.stringify(initConfigOf(config)) },
      ...(opts.logLevel ? [{ name: AGENT_ENV.logLevel, value: opts.logLevel }] : []),
    ],
    resources: AGENT_RESOURCES as V1Container['resources'],
    securityContext: INIT_SECURITY_CONTEXT,
  };
}

/**
 * tp-agent-init runs iptables-restore in the pod's network namespace. The nf_tables backend (the
 * image's iptables 1.8) needs CAP_NET_ADMIN and nothing else — checked with iptables-nft-restore
 * as root holding only that capability, on a read-only root file system. It needs uid 0 as well:
 * the kubelet grants added capabilities to root processes only (non-root containers get no
 * ambient capabilities), whatever the pod asks of its own containers (a container-level setting
 * overrides the pod-level runAsNonRoot). Pod Security "baseline" and "restricted" refuse
 * NET_ADMIN: where a namespace enforces either, the manager takes ports over by name instead and
 * this container is not injected (issue #16, lib/manager/port-takeover.ts).
 */
export const INIT_SECURITY_CONTEXT: V1SecurityContext = {
  runAsUser: 0,
  runAsNonRoot: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
};

/** The agent's user when the app runs as root or leaves the uid to its image. */
export const AGENT_NONROOT_UID = 65532;

/** Which seccomp profiles Pod Security "restricted" accepts. */
const allowedSeccomp = (p: V1SecurityContext['seccompProfile']) => p?.type === 'RuntimeDefault' || p?.type === 'Localhost';

/** The uid and primary gid the agent runs with (see agentSecurityContext). */
export function agentIdentity(app: V1Container, pod: V1PodSecurityContext | undefined): { uid: number; gid: number } {
  const a = (isObj(app.securityContext) ? app.securityContext : {}) as V1SecurityContext;
  const uid = a.runAsUser ?? pod?.runAsUser;
  // Without runAsGroup the runtime takes the gid from the image's /etc/passwd, which knows no uid
  // but root's and nobody's: 0 for every other uid.
  return { uid: uid !== undefined && uid > 0 ? uid : AGENT_NONROOT_UID, gid: a.runAsGroup ?? pod?.runAsGroup ?? 0 };
}

/**
 * The agent meets Pod Security "restricted" on its own, whatever the app and its pod say (issue
 * #16): non-root with a numeric uid, no privilege escalation, no capabilities, a seccomp profile,
 * a read-only root file system. It serves the app's volumes (SFTP), so it takes the app's uid
 * when the app runs as a non-root uid, and reads and writes what the app may; an app that runs as
 * root (or leaves the uid to its image) gets an agent of AGENT_NONROOT_UID, which reads what
 * others may read and writes where others may write — the price of never running the agent as
 * root (#15 gave a root app's agent root's file capabilities). The app's SELinux options and
 * AppArmor and seccomp profiles carry over where "restricted" allows them; a privileged app does
 * not make a privileged agent.
 */
export function agentSecurityContext(app: V1Container, pod: V1PodSecurityContext | undefined): V1SecurityContext {
  const a = (isObj(app.securityContext) ? app.securityContext : {}) as V1SecurityContext;
  const uid = a.runAsUser ?? pod?.runAsUser;
  const { hostProcess: _, ...windows } = a.windowsOptions ?? {};
  const carried: V1SecurityContext = {
    ...(a.runAsGroup !== undefined ? { runAsGroup: a.runAsGroup } : {}),
    ...(a.seLinuxOptions ? { seLinuxOptions: a.seLinuxOptions } : {}),
    ...(a.appArmorProfile && a.appArmorProfile.type !== 'Unconfined' ? { appArmorProfile: a.appArmorProfile } : {}),
    ...(Object.keys(windows).length ? { windowsOptions: windows } : {}),
  };
  // The pod's own allowed profile applies when the container names none.
  const seccomp = allowedSeccomp(a.seccompProfile)
    ? a.seccompProfile
    : allowedSeccomp(pod?.seccompProfile)
      ? undefined
      : { type: 'RuntimeDefault' };
  return {
    ...carried,
    // A uid from the pod's context applies to the agent as it is.
    ...(uid !== undefined && uid > 0 ? (a.runAsUser !== undefined ? { runAsUser: a.runAsUser } : {}) : { runAsUser: AGENT_NONROOT_UID }),
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    ...(seccomp ? { seccompProfile: seccomp } : {}),
  };
}

/**
 * The agent's /etc/passwd. OpenSSH's sftp-server looks its own uid up before anything else and
 * exits ("No user found for uid") when the lookup fails; the image knows only root and nobody,
 * and its root file system is read-only. So the webhook writes the entry into a pod annotation,
 * and a downward API volume projects it over /etc/passwd (a subPath mount: a file, not a
 * directory).
 */
export function agentPasswd(id: { uid: number; gid: number }): string {
  const lines = ['root:x:0:0:root:/root:/usr/sbin/nologin', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'];
  if (id.uid !== 65534) lines.push(`tp-agent:x:${id.uid}:${id.gid}:tp-agent:/nonexistent:/usr/sbin/nologin`);
  return lines.join('\n') + '\n';
}

/** The agent's ports: a port taken over by name is declared under that name at the agent port;
 * replacing, the app's ports are the agent's too (Services that name them must still find them
 * on the pod, or the endpoints disappear while the app is out). */
export function agentPorts(app: V1Container, config: AgentConfig): V1ContainerPort[] {
  const named = config.ports.filter(takesName);
  const taken = (p: V1ContainerPort) => named.find((m) => m.name === p.name);
  if (!config.replace) return named.map((m) => ({ name: m.name!, containerPort: m.agentPort, protocol: 'TCP' }));
  const appPorts = (Array.isArray(app.ports) ? app.ports : []).map((p) => (taken(p) ? { ...p, containerPort: taken(p)!.agentPort } : p));
  return [
    ...appPorts,
    ...named
      .filter((m) => !appPorts.some((p) => p.name === m.name))
      .map((m) => ({ name: m.name!, containerPort: m.agentPort, protocol: 'TCP' })),
  ];
}

function agentContainer(config: AgentConfig, app: V1Container, opts: MutateOptions, podSc: V1PodSecurityContext | undefined): V1Container {
  const appEnv = Array.isArray(app.env) ? app.env.filter((e): e is V1EnvVar => isObj(e) && typeof e.name === 'string') : [];
  const appEnvNames = new Set(appEnv.map((e) => e.name));
  const appMounts = Array.isArray(app.volumeMounts)
    ? app.volumeMounts.filter((m): m is V1VolumeMount => isObj(m) && typeof m.mountPath === 'string')
    : [];
  const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  const env: V1EnvVar[] = [
    { name: AGENT_ENV.config, value: serializeAgentConfig(config) },
    field(AGENT_ENV.podName, 'metadata.name'),
    field(AGENT_ENV.podNamespace, 'metadata.namespace'),
    field(AGENT_ENV.podIP, 'status.podIP'),
    { name: AGENT_ENV.appMounts, value: JSON.stringify(appMounts.map((m) => m.mountPath)) },
    ...(opts.logLevel ? [{ name: AGENT_ENV.logLevel, value: opts.logLevel }] : []),
    ...appEnv.map((e) => copyEnvVar(e, appEnvNames, config.replace ? undefined : app.name)),
  ];
  const envFrom: V1EnvFromSource[] = (Array.isArray(app.envFrom) ? app.envFrom.filter(isObj) : []).map((e) => ({
    ...e,
    prefix: APP_ENV_PREFIX + (e.prefix ?? ''),
  }));
  const volumeMounts: V1VolumeMount[] = appMounts.map((m) => ({
    name: m.name,
    mountPath: `${APP_MOUNT_ROOT}/${app.name}${m.mountPath.startsWith('/') ? '' : '/'}${m.mountPath}`,
    // As the app has it: intercept and replace may write through the mount (sshfs), ingest and
    // wiretap mount read-only on the workstation.
    ...(m.readOnly ? { readOnly: true } : {}),
    ...(m.subPath ? { subPath: m.subPath } : {}),
    // Expanded against the agent's env, where the app's variables carry the prefix.
    ...(m.subPathExpr ? { subPathExpr: rewriteRefs(m.subPathExpr, appEnvNames) } : {}),
  }));
  volumeMounts.push({ name: AGENT_TOKEN_VOLUME, mountPath: AGENT_TOKEN_DIR, readOnly: true });
  volumeMounts.push({ name: AGENT_PASSWD_VOLUME, mountPath: '/etc/passwd', subPath: PASSWD_FILE, readOnly: true });
  const c: V1Container = {
    name: AGENT_CONTAINER_NAME,
    image: opts.agentImage,
    ...(opts.imagePullPolicy ? { imagePullPolicy: opts.imagePullPolicy } : {}),
    command: ['node', AGENT_MAIN],
    env,
    ...(envFrom.length > 0 ? { envFrom } : {}),
    volumeMounts,
    resources: AGENT_RESOURCES as V1Container['resources'],
  };
  const ports = agentPorts(app, config);
  if (ports.length > 0) c.ports = ports;
  c.securityContext = agentSecurityContext(app, podSc);
  return c;
}

/** The app's variable under the prefix. `resourceFieldRef` without a container means "this
 * container": pinned to the app, whose limits the app saw — unless the app container is replaced
 * away, when a reference to it would fail the pod's validation. */
function copyEnvVar(e: V1EnvVar, appEnvNames: ReadonlySet<string>, appName: string | undefined): V1EnvVar {
  const out: V1EnvVar = { name: APP_ENV_PREFIX + e.name };
  if (typeof e.value === 'string') out.value = rewriteRefs(e.value, appEnvNames);
  if (isObj(e.valueFrom)) {
    const rf = e.valueFrom.resourceFieldRef;
    out.valueFrom =
      isObj(rf) && !rf.containerName && appName ? { ...e.valueFrom, resourceFieldRef: { ...rf, containerName: appName } } : e.valueFrom;
  }
  return out;
}

/** `$(VAR)` → `$(PREFIX VAR)` for the app's own variables; `$$` is Kubernetes' escape for a
 * literal `$`, so `$$(VAR)` stays as it is; references to anything else stay too. */
export function rewriteRefs(value: string, names: ReadonlySet<string>): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    if (value[i] === '$' && value[i + 1] === '$') {
      out += '$$';
      i += 2;
    } else if (value[i] === '$' && value[i + 1] === '(') {
      // As the kubelet reads it: the name runs to the first `)`; without one, the rest is literal.
      const end = value.indexOf(')', i + 2);
      if (end < 0) return out + value.slice(i);
      const name = value.slice(i + 2, end);
      out += names.has(name) ? `$(${APP_ENV_PREFIX}${name})` : value.slice(i, end + 1);
      i = end + 1;
    } else {
      out += value[i];
      i++;
    }
  }
  return out;
}

const PASSWD_FILE = 'passwd';

function passwdVolume(): V1Volume {
  return {
    name: AGENT_PASSWD_VOLUME,
    downwardAPI: {
      items: [{ path: PASSWD_FILE, fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${AGENT_PASSWD_ANNOTATION}']` } }],
    },
  };
}

function tokenVolume(): V1Volume {
  return {
    name: AGENT_TOKEN_VOLUME,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: AGENT_TOKEN_AUDIENCE,
            expirationSeconds: AGENT_TOKEN_EXPIRATION_SECONDS,
            path: AGENT_TOKEN_FILE,
          },
        },
      ],
    },
  };
}
