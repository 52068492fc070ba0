// What the cluster benchmarks share: running a command for its output, the local cluster's
// paths (scripts/cluster env), and a sink pod + Service (bench/lib/sink.ts) to measure against.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SINK_SOURCE } from './sink.js';

const CLUSTER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'cluster');

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: opts.env ?? process.env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
    c.stdin.on('error', () => {});
    c.stdin.end(opts.input ?? '');
  });
}

export const clusterScript = (args: string[]) => run(CLUSTER_SCRIPT, args);

export async function clusterEnv(): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await clusterScript(['env']))
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
}

/** A sink pod and a Service of the same name on port 9000, Ready; returns the name, the pod's
 * IP, the kubectl runner and the cleanup. */
export async function startSinkPod(
  prefix: string,
): Promise<{ name: string; podIP: string; kubectl: (args: string[], input?: string) => Promise<string>; remove: () => Promise<void> }> {
  const env = await clusterEnv();
  const kubectl = (args: string[], input?: string) =>
    run(env.KUBECTL!, ['--kubeconfig', env.KUBECONFIG!, ...args], input === undefined ? {} : { input });
  const name = `${prefix}-${Math.random().toString(16).slice(2, 8)}`;
  await kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: ${name}}}
spec:
  containers:
  - name: sink
    image: tp.local/tp:${env.IMAGE_TAG}
    command: ["node", "-e", ${JSON.stringify(SINK_SOURCE)}]
    readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  selector: {app: ${name}}
  ports: [{port: 9000}]
`,
  );
  await kubectl(['wait', '--for=condition=Ready', `pod/${name}`, '--timeout=60s']);
  const podIP = (await kubectl(['get', `pod/${name}`, '-o', 'jsonpath={.status.podIP}'])).trim();
  return {
    name,
    podIP,
    kubectl,
    remove: async () =>
      void (await kubectl(['delete', `pod/${name}`, `service/${name}`, '--wait=false', '--ignore-not-found']).catch(() => '')),
  };
}
