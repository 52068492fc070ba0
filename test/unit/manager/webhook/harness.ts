// Shared by the webhook tests: AdmissionReview builders, a small RFC 6902 applier (what the API
// server does with our patch), a check of the rules pod validation would apply, and a logger
// that keeps its lines.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { AGENT_CONFIG_ANNOTATION, serializeAgentConfig, type AgentConfig } from '../../../../lib/common/agent-config.js';
import type { Logger } from '../../../../lib/common/log.js';

export const CONFIG: AgentConfig = {
  version: 1,
  workload: { kind: 'Deployment', name: 'echo', namespace: 'team' },
  container: 'echo',
  replace: false,
  ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900, name: 'http' }],
  manager: { host: 'traffic-manager.tp-system', port: 8082 },
};

export const OPTS = { agentImage: 'tp.local/tp:0.1.0', imagePullPolicy: 'IfNotPresent', logLevel: 'debug' };

/** A pod as the ReplicaSet controller creates it: generateName, template annotations. */
export function pod(
  opts: {
    config?: AgentConfig | string | null;
    containers?: V1Container[];
    spec?: Record<string, unknown>;
    annotations?: Record<string, string>;
  } = {},
): V1Pod {
  const annotations: Record<string, string> = { ...opts.annotations };
  if (opts.config !== null)
    annotations[AGENT_CONFIG_ANNOTATION] = typeof opts.config === 'string' ? opts.config : serializeAgentConfig(opts.config ?? CONFIG);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'echo-5d9c7b-', namespace: 'team', annotations },
    spec: {
      containers: opts.containers ?? [{ name: 'echo', image: 'ghcr.io/example/echo:1', ports: [{ name: 'http', containerPort: 8080 }] }],
      ...opts.spec,
    },
  } as V1Pod;
}

export function review(object: unknown, request: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'team',
      operation: 'CREATE',
      object,
      ...request,
    },
  };
}

type Json = unknown;
const clone = <T>(v: T): T => structuredClone(v);

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new Error(`bad pointer ${p}`);
  return p
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** RFC 6902 add/remove/replace/test; throws where the API server would refuse the patch. */
export function applyPatch(doc: Json, ops: Array<{ op: string; path: string; value?: Json }>): Json {
  const root = { '': clone(doc) } as Record<string, Json>;
  for (const op of ops) {
    const tokens = ['', ...parsePointer(op.path)];
    const last = tokens.pop()!;
    let parent: Json = root;
    for (const t of tokens) {
      if (Array.isArray(parent)) parent = parent[Number(t)];
      else if (parent && typeof parent === 'object' && t in parent) parent = (parent as Record<string, Json>)[t];
      else throw new Error(`${op.op} ${op.path}: no parent`);
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`${op.op} ${op.path}: index out of range`);
      if (op.op === 'add') parent.splice(i, 0, clone(op.value));
      else if (op.op === 'remove') {
        if (i >= parent.length) throw new Error(`remove ${op.path}: no such element`);
        parent.splice(i, 1);
      } else if (op.op === 'test') {
        if (JSON.stringify(parent[i]) !== JSON.stringify(op.value)) throw new Error(`test ${op.path} failed`);
      } else throw new Error(`unsupported op ${op.op}`);
    } else if (parent && typeof parent === 'object') {
      const o = parent as Record<string, Json>;
      if (op.op === 'add') o[last] = clone(op.value);
      else if (op.op === 'replace') {
        if (!(last in o)) throw new Error(`replace ${op.path}: no such member`);
        o[last] = clone(op.value);
      } else if (op.op === 'remove') {
        if (!(last in o)) throw new Error(`remove ${op.path}: no such member`);
        delete o[last];
      } else if (op.op === 'test') {
        if (JSON.stringify(o[last]) !== JSON.stringify(op.value)) throw new Error(`test ${op.path} failed`);
      } else throw new Error(`unsupported op ${op.op}`);
    } else throw new Error(`${op.op} ${op.path}: parent is not a container`);
  }
  return root[''];
}

/** The pod validation rules an injected pod could break: unique names across containers and
 * init containers, unique volume names, mounts naming existing volumes, unique mount paths per
 * container, resourceFieldRefs naming existing containers. Returns the problems found. */
export function podProblems(p: V1Pod): string[] {
  const problems: string[] = [];
  const spec = p.spec!;
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const names = all.map((c) => c.name);
  if (new Set(names).size !== names.length) problems.push(`duplicate container names: ${names.join(', ')}`);
  const volumes = (spec.volumes ?? []).map((v) => v.name);
  if (new Set(volumes).size !== volumes.length) problems.push(`duplicate volume names: ${volumes.join(', ')}`);
  for (const c of all) {
    const paths = (c.volumeMounts ?? []).map((m) => m.mountPath);
    if (new Set(paths).size !== paths.length) problems.push(`${c.name}: duplicate mount paths`);
    for (const m of c.volumeMounts ?? []) if (!volumes.includes(m.name)) problems.push(`${c.name}: mount of unknown volume ${m.name}`);
    for (const e of c.env ?? []) {
      const cn = e.valueFrom?.resourceFieldRef?.containerName;
      if (cn && !names.includes(cn)) problems.push(`${c.name}: env ${e.name} refers to unknown container ${cn}`);
    }
    if (!c.image) problems.push(`${c.name}: no image`);
  }
  return problems;
}

export interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

export function captureLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const make = (base: Record<string, unknown>): Logger => {
    const at = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      void lines.push({ level, msg, fields: { ...base, ...fields } });
    return {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (f) => make({ ...base, ...f }),
      level: 'trace',
    };
  };
  return Object.assign(make({}), { lines });
}
