// Helpers for tier-3 tests: the local cluster of scripts/cluster, real kubectl, workstation
// namespaces. Nothing here fakes Kubernetes; it only runs the real tools and waits for them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

const run = promisify(execFile);

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLUSTER_SCRIPT = join(REPO_ROOT, 'scripts', 'cluster');

export interface ClusterEnv {
  KUBECTL: string;
  HELM: string;
  KUBECONFIG: string;
  NODE_NETNS: string;
  NODE_IP: string;
  POD_CIDR: string;
  SERVICE_CIDR: string;
  DNS_SVC_IP: string;
  STATE: string;
  RUN: string;
  IMAGE_TAG: string;
}

let cachedEnv: ClusterEnv | undefined;

/** Paths and addresses of the local cluster, from `scripts/cluster env` (the one source of truth). */
export async function clusterEnv(): Promise<ClusterEnv> {
  if (cachedEnv) return cachedEnv;
  const { stdout } = await run(CLUSTER_SCRIPT, ['env']);
  const env: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const eq = line.indexOf('=');
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  cachedEnv = env as unknown as ClusterEnv;
  return cachedEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command (optionally inside a network namespace) and returns its output and exit code
 * without throwing, so tests can assert on failures too. */
export async function sh(
  cmd: string,
  args: string[],
  opts: { netns?: string; timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  const full = opts.netns ? (['ip', ['netns', 'exec', opts.netns, cmd, ...args]] as const) : ([cmd, args] as const);
  return new Promise((resolve) => {
    const child = spawn(full[0], [...full[1]], { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on('error', () => {}); // a command that exits before reading its input
    child.stdin.end(opts.input ?? '');
  });
}

/** kubectl against the local cluster. With `netns`, from inside that namespace with its kubeconfig. */
export async function kubectl(
  args: string[],
  opts: { netns?: string; kubeconfig?: string; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const env = await clusterEnv();
  return sh(env.KUBECTL, ['--kubeconfig', opts.kubeconfig ?? env.KUBECONFIG, ...args], opts);
}

/** kubectl that must succeed; throws with its stderr otherwise. */
export async function kubectlOk(
  args: string[],
  opts: { netns?: string; kubeconfig?: string; timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export async function applyYaml(yaml: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], { input: yaml });
}

/** A fresh namespace for one test file; the returned function deletes it. */
export async function testNamespace(prefix: string): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  return { name, remove: async () => void (await kubectl(['delete', 'namespace', name, '--wait=false'])) };
}

/** A workstation network namespace (reaches only the API server); returns its kubeconfig path. */
export async function makeWorkstation(name: string): Promise<{ kubeconfig: string; remove: () => Promise<void> }> {
  const r = await sh(CLUSTER_SCRIPT, ['workstation', name]);
  if (r.code !== 0) throw new Error(`scripts/cluster workstation ${name}: ${r.stderr}`);
  return {
    kubeconfig: r.stdout.trim(),
    remove: async () => void (await sh(CLUSTER_SCRIPT, ['workstation', name, '--delete'])),
  };
}

/** The echo workload: a Deployment and a Service named `name` in `namespace`. */
export function echoWorkload(namespace: string, name = 'echo', replicas = 2, image?: string): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${name}}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: ${image ?? 'tp.local/echo:' + (cachedEnv?.IMAGE_TAG ?? '0.1.0')}
        imagePullPolicy: IfNotPresent
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /ready, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  selector: {app: ${name}}
  ports:
  - {name: http, port: 80, targetPort: http}
`;
}

export async function waitAvailable(namespace: string, deployment: string, timeoutS = 120): Promise<void> {
  const r = await kubectl(['-n', namespace, 'wait', '--for=condition=Available', `deployment/${deployment}`, `--timeout=${timeoutS}s`], {
    timeoutMs: (timeoutS + 10) * 1000,
  });
  if (r.code !== 0) {
    const pods = await kubectl(['-n', namespace, 'get', 'pods', '-o', 'wide']);
    const events = await kubectl(['-n', namespace, 'get', 'events', '--sort-by=.lastTimestamp']);
    throw new Error(`deployment ${namespace}/${deployment} not Available: ${r.stderr}\n${pods.stdout}\n${events.stdout}`);
  }
}

/** Runs `node -e SCRIPT` inside a running pod (the echo and tp images both have node). */
export async function nodeInPod(namespace: string, target: string, script: string, timeoutMs = 30_000): Promise<RunResult> {
  return kubectl(['-n', namespace, 'exec', target, '--', 'node', '-e', script], { timeoutMs });
}

/** JavaScript for `node -e` in a pod: fetch(url) retried for up to `seconds`, because a Service's
 * iptables rules appear a moment after its pods turn Ready (kube-proxy syncs asynchronously). */
export function fetchWithRetryJs(seconds = 20): string {
  return `async function fetchRetry(url, init) {
    const deadline = Date.now() + ${seconds * 1000};
    for (;;) {
      try { return await fetch(url, init); }
      catch (err) { if (Date.now() > deadline) throw err; await new Promise((r) => setTimeout(r, 250)); }
    }
  }`;
}

/** A background process that tests must stop. */
export function background(cmd: string, args: string[], netns?: string): ChildProcess {
  const [c, a] = netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
  return spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** The tp CLI of this checkout (dist/), run like a user would, optionally in a workstation
 * namespace, with its own runtime and log directories so tests never share a daemon. */
export interface TpRunner {
  (args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  env: NodeJS.ProcessEnv;
  logDir: string;
}

export function tpRunner(opts: { netns?: string; dir: string; kubeconfig?: string }): TpRunner {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TP_RUNTIME_DIR: join(opts.dir, 'run'),
    TP_LOG_DIR: join(opts.dir, 'logs'),
    ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
  };
  const cli = join(REPO_ROOT, 'dist', 'lib', 'cli', 'main.js');
  const run = ((args: string[], o: { timeoutMs?: number } = {}) =>
    sh(process.execPath, ['--', cli, ...args], {
      ...(opts.netns ? { netns: opts.netns } : {}),
      env,
      timeoutMs: o.timeoutMs ?? 120_000,
    })) as TpRunner;
  run.env = env;
  run.logDir = join(opts.dir, 'logs');
  return run;
}

/** Routes, links, addresses, firewall rules and resolver of a workstation namespace, comparable
 * as text: what `tp quit` must leave exactly as it found. */
// A type, not an interface: it must stay assignable to Record<string, string> for the comparers.
export type WorkstationSnapshot = {
  routes: string;
  links: string;
  addrs: string;
  iptables: string;
  resolv: string;
};

export async function workstationSnapshot(netns: string, env?: NodeJS.ProcessEnv): Promise<WorkstationSnapshot> {
  const inWs = (cmd: string, args: string[]) => sh(cmd, args, { netns, timeoutMs: 20_000, ...(env ? { env } : {}) });
  // Rules, not bookkeeping: counters and timestamps drop out, and so does a table that holds no
  // rule (iptables-nft leaves an empty nat table behind once a chain was added and removed).
  const strip = (s: string) =>
    s
      .split(/^(?=\*)/m)
      .filter((table) => /^-A /m.test(table))
      .join('')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
      .join('\n');
  // IPv6 link-local addresses appear by themselves a moment after a link comes up (DAD): the
  // kernel's doing, not tp's, so they are left out of the comparison.
  const noLinkLocal = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.includes('fe80::'))
      .join('\n');
  return {
    routes: noLinkLocal((await inWs('ip', ['route', 'show', 'table', 'all'])).stdout),
    links: (await inWs('ip', ['-br', 'link'])).stdout,
    addrs: (await inWs('ip', ['-br', 'addr'])).stdout.replace(/ fe80::\S+/g, ''),
    iptables: strip((await inWs('iptables-save', [])).stdout),
    resolv: (await inWs('cat', ['/etc/resolv.conf'])).stdout,
  };
}
