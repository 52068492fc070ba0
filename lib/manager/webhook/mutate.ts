// The agent injector's decision, as a pure function of one AdmissionReview (DESIGN.md §6): a new
// pod that carries the agent-config annotation gets tp-agent-init and tp-agent as a JSON patch.
// Everything else is admitted untouched. The webhook runs with failurePolicy Ignore, and this
// function goes further: it never refuses a pod and never throws — a pod the agent cannot be put
// into is admitted as it is, with a warning saying why, because blocking a workload's rollout is
// worse than an engagement that waits for its agent and reports the pod's state.
//
// Reading list: admission.k8s.io/v1 AdmissionReview (request.uid, response.patchType JSONPatch,
// base64 patch, warnings); RFC 6902 (JSON Patch) and RFC 6901 (JSON Pointer, `/` spelled `~1`);
// dependent env vars `$(VAR)` / `$$` (Kubernetes "Define Dependent Environment Variables").
import type { V1Container, V1EnvFromSource, V1EnvVar, V1PodSecurityContext, V1Probe, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import {
  AGENT_CONFIG_ANNOTATION, AGENT_CONTAINER_NAME, AGENT_ENV, AGENT_INIT_CONTAINER_NAME, AGENT_INJECTED_ANNOTATION,
  AGENT_TOKEN_AUDIENCE, AGENT_TOKEN_DIR, AGENT_TOKEN_FILE, APP_ENV_PREFIX, APP_MOUNT_ROOT,
  agentConfigHash, initConfigOf, parseAgentConfig, probePortOf, serializeAgentConfig, type AgentConfig,
} from '../../common/agent-config.js';

/** The projected volume holding the token the agent presents to the manager. */
export const AGENT_TOKEN_VOLUME = 'tp-agent-token';
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
  if (!isObj(body) || body.kind !== 'AdmissionReview' || !isObj(body.request)) return { ok: false, error: 'the body is not an AdmissionReview with a request' };
  if (body.apiVersion !== 'admission.k8s.io/v1') return { ok: false, error: `AdmissionReview ${String(body.apiVersion)} is not served; this webhook speaks admission.k8s.io/v1` };
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
  if (typeof raw !== 'string') return { action: 'not-injected', reason: `tp agent not injected: the ${AGENT_CONFIG_ANNOTATION} annotation is not a string` };
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
  // Reinvocation, or a pod copied from an injected one: injecting again would duplicate names,
  // which the API server's validation refuses — the pod would not be created at all.
  if (hasAgent && hasInit) return { action: 'skipped', reason: 'already injected' };
  if (hasAgent || hasInit) {
    return { action: 'not-injected', reason: `tp agent not injected: the pod already has a container named ${hasAgent ? AGENT_CONTAINER_NAME : AGENT_INIT_CONTAINER_NAME}` };
  }
  if ((volumes ?? []).some((v) => v?.name === AGENT_TOKEN_VOLUME)) {
    return { action: 'not-injected', reason: `tp agent not injected: the pod already has a volume named ${AGENT_TOKEN_VOLUME}` };
  }
  const appIndex = containers.findIndex((c) => c?.name === config.container);
  if (appIndex < 0) {
    return { action: 'not-injected', reason: `tp agent not injected: the pod has no container named ${config.container} (it has: ${containers.map((c) => c?.name).join(', ') || 'none'})` };
  }
  const app = containers[appIndex]!;

  const ops: PatchOp[] = [];
  // The one remove goes first, while the index still names the app container in the original
  // array; every later op appends (`-`), so no index has to be recomputed.
  if (config.replace) ops.push({ op: 'remove', path: `/spec/containers/${appIndex}` });
  if (!config.replace) {
    for (const [field, probe] of probesToAgent(app, config)) ops.push({ op: 'replace', path: `/spec/containers/${appIndex}/${field}`, value: probe });
  }
  const init = initContainer(config, opts);
  ops.push(initContainers ? { op: 'add', path: '/spec/initContainers/-', value: init } : { op: 'add', path: '/spec/initContainers', value: [init] });
  const podSc = isObj(spec.securityContext) ? (spec.securityContext as V1PodSecurityContext) : undefined;
  ops.push({ op: 'add', path: '/spec/containers/-', value: agentContainer(config, app, opts, podSc) });
  const volume = tokenVolume();
  ops.push(volumes ? { op: 'add', path: '/spec/volumes/-', value: volume } : { op: 'add', path: '/spec/volumes', value: [volume] });
  const hash = agentConfigHash(config);
  ops.push(isObj(meta.annotations)
    ? { op: 'add', path: `/metadata/annotations/${pointerToken(AGENT_INJECTED_ANNOTATION)}`, value: hash }
    : { op: 'add', path: '/metadata/annotations', value: { [AGENT_INJECTED_ANNOTATION]: hash } });
  return { action: 'injected', config, hash, ops };
}

const PROBE_FIELDS = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

/** The app's probes of redirected ports, pointed at the agent's probe port for that port (which
 * forwards to the app whatever is engaged). Ports are matched by number or by the app's port name. */
export function probesToAgent(app: V1Container, config: AgentConfig): Array<[string, V1Probe]> {
  const byName = new Map((app.ports ?? []).filter((p) => p.name).map((p) => [p.name!, p.containerPort]));
  const probePort = (port: unknown): number | undefined => {
    const n = typeof port === 'number' ? port : typeof port === 'string' ? (byName.get(port) ?? (/^\d+$/.test(port) ? Number(port) : undefined)) : undefined;
    const m = config.ports.find((x) => x.containerPort === n && x.protocol === 'TCP');
    return m ? probePortOf(m) : undefined;
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
 * overrides the pod-level runAsNonRoot). Pod Security "baseline" refuses NET_ADMIN: tp cannot
 * inject agents into namespaces that enforce it (README, troubleshooting).
 */
export const INIT_SECURITY_CONTEXT: V1SecurityContext = {
  runAsUser: 0,
  runAsNonRoot: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
};

/** What sftp-server needs to serve a root app's volumes as root would (read and write files of
 * any owner, keep owners and modes): all in Pod Security baseline's allowed set. */
const ROOT_FILE_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];
/** The agent's user when the app must not run as root but leaves the uid to its image. */
export const AGENT_NONROOT_UID = 65532;

/**
 * The agent reads and writes the app's volumes (SFTP) as the app does, so it takes the app's
 * identity; around that it is locked down as far as that identity allows (issue #15):
 *  - the app runs as a non-root uid (container or pod runAsUser > 0): that uid, no capabilities,
 *    no privilege escalation, read-only root file system — what Pod Security "restricted" asks;
 *  - the app must be non-root but its image picks the uid (runAsNonRoot, no runAsUser): the
 *    agent's image runs as root, so it gets a uid of its own (AGENT_NONROOT_UID), same lock-down;
 *  - the app runs as root (or says nothing): root, keeping only the file capabilities that let it
 *    serve root's files (ROOT_FILE_CAPS, less any the app itself drops), no privilege escalation,
 *    read-only root file system.
 * The app's SELinux, AppArmor and seccomp settings carry over; a privileged app does not make a
 * privileged agent.
 */
export function agentSecurityContext(app: V1Container, pod: V1PodSecurityContext | undefined): V1SecurityContext {
  const a = (isObj(app.securityContext) ? app.securityContext : {}) as V1SecurityContext;
  const runAsUser = a.runAsUser ?? pod?.runAsUser;
  const runAsNonRoot = a.runAsNonRoot ?? pod?.runAsNonRoot;
  const carried: V1SecurityContext = {
    ...(a.runAsGroup !== undefined ? { runAsGroup: a.runAsGroup } : {}),
    ...(a.seLinuxOptions ? { seLinuxOptions: a.seLinuxOptions } : {}),
    ...(a.seccompProfile ? { seccompProfile: a.seccompProfile } : {}),
    ...(a.appArmorProfile ? { appArmorProfile: a.appArmorProfile } : {}),
    ...(a.windowsOptions ? { windowsOptions: a.windowsOptions } : {}),
  };
  const locked = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true } as const;
  if (runAsUser !== undefined && runAsUser > 0) {
    return { ...carried, ...(a.runAsUser !== undefined ? { runAsUser: a.runAsUser } : {}), runAsNonRoot: true, ...locked, capabilities: { drop: ['ALL'] } };
  }
  if (runAsUser === undefined && runAsNonRoot === true) {
    return { ...carried, runAsUser: AGENT_NONROOT_UID, runAsNonRoot: true, ...locked, capabilities: { drop: ['ALL'] } };
  }
  const dropped = new Set((a.capabilities?.drop ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, '')));
  const keep = dropped.has('ALL') ? [] : ROOT_FILE_CAPS.filter((c) => !dropped.has(c));
  return {
    ...carried, ...(a.runAsUser !== undefined ? { runAsUser: a.runAsUser } : {}), ...(a.runAsNonRoot !== undefined ? { runAsNonRoot: a.runAsNonRoot } : {}),
    ...locked, capabilities: { drop: ['ALL'], ...(keep.length ? { add: keep } : {}) },
  };
}

function agentContainer(config: AgentConfig, app: V1Container, opts: MutateOptions, podSc: V1PodSecurityContext | undefined): V1Container {
  const appEnv = Array.isArray(app.env) ? app.env.filter((e): e is V1EnvVar => isObj(e) && typeof e.name === 'string') : [];
  const appEnvNames = new Set(appEnv.map((e) => e.name));
  const appMounts = Array.isArray(app.volumeMounts) ? app.volumeMounts.filter((m): m is V1VolumeMount => isObj(m) && typeof m.mountPath === 'string') : [];
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
  const envFrom: V1EnvFromSource[] = (Array.isArray(app.envFrom) ? app.envFrom.filter(isObj) : []).map((e) => ({ ...e, prefix: APP_ENV_PREFIX + (e.prefix ?? '') }));
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
  // Replacing: Services that name the app's ports (targetPort: http) must still find them on the
  // pod, or the endpoints disappear while the app is out.
  if (config.replace && Array.isArray(app.ports) && app.ports.length > 0) c.ports = app.ports;
  // The agent reads the app's volumes as the app would (same user, same groups), and a namespace
  // that admits the app's settings admits the agent's, which are never looser.
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
    out.valueFrom = isObj(rf) && !rf.containerName && appName ? { ...e.valueFrom, resourceFieldRef: { ...rf, containerName: appName } } : e.valueFrom;
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

function tokenVolume(): V1Volume {
  return {
    name: AGENT_TOKEN_VOLUME,
    projected: {
      sources: [{ serviceAccountToken: { audience: AGENT_TOKEN_AUDIENCE, expirationSeconds: AGENT_TOKEN_EXPIRATION_SECONDS, path: AGENT_TOKEN_FILE } }],
    },
  };
}
