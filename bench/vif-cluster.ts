// bench/vif-cluster: `tp connect` (VIF) through the real port-forward of the local cluster, beside
// raw `kubectl port-forward` to the same pod, both measured from one workstation namespace in the
// same run (the host's network is never touched). A sink pod (bench/lib/sink.ts) answers both.
//   raw kubectl port-forward:  client → 127.0.0.1:PF → kubectl → API server → kubelet → pod
//   tp VIF:                    client → pod IP / Service name → tp0 → stack → HTTP/2 → port-forward → manager → pod
// Usage (root, cluster up, manager installed): node dist/bench/vif-cluster.js [--mib 256] [--flows 200]
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { SINK_SOURCE } from './lib/sink.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const MIB = arg('mib', '256');
const FLOWS = arg('flows', '200');
const WS = 'tpws-benchvif';
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: opts.env ?? process.env });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
    c.stdin.on('error', () => {});
    c.stdin.end(opts.input ?? '');
  });
}

interface Row { path: string; up: number; down: number; p50: number; p99: number; cps: number }

const cluster = join(here, '..', '..', 'scripts', 'cluster');
const env = Object.fromEntries((await run(cluster, ['env'])).trim().split('\n').map((l) => l.split('=') as [string, string]));
const wsKubeconfig = (await run(cluster, ['workstation', WS])).trim();
const kubectl = (args: string[], input?: string) => run(env.KUBECTL!, ['--kubeconfig', env.KUBECONFIG!, ...args], input === undefined ? {} : { input });
const name = `bench-vif-${Math.random().toString(16).slice(2, 8)}`;
const dir = mkdtempSync(join(tmpdir(), 'tp-bench-vif-'));
const tpEnv = { ...process.env, KUBECONFIG: wsKubeconfig, TP_RUNTIME_DIR: join(dir, 'run'), TP_ROOT_RUNTIME_DIR: join(dir, 'root'), TP_LOG_DIR: join(dir, 'logs') };
const tp = (args: string[]) => run('ip', ['netns', 'exec', WS, process.execPath, join(here, '..', 'lib', 'cli', 'main.js'), ...args], { env: tpEnv });
const measure = async (path: string, host: string, port: number): Promise<Row> => {
  const out = await run('ip', ['netns', 'exec', WS, process.execPath, join(here, 'lib', 'measure-cli.js'), host, String(port), MIB, FLOWS]);
  return { path, ...(JSON.parse(out) as Omit<Row, 'path'>) };
};

try {
  await kubectl(['apply', '-f', '-'], `
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
`);
  await kubectl(['wait', '--for=condition=Ready', `pod/${name}`, '--timeout=60s']);
  const podIP = (await kubectl(['get', `pod/${name}`, '-o', 'jsonpath={.status.podIP}'])).trim();

  const pfPort = 19700 + Math.floor(Math.random() * 200);
  const pf = spawn('ip', ['netns', 'exec', WS, env.KUBECTL!, '--kubeconfig', wsKubeconfig, 'port-forward', `pod/${name}`, `${pfPort}:9000`], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(pf);
  await once(createInterface({ input: pf.stdout! }), 'line');
  const rows: Row[] = [await measure('raw kubectl port-forward', '127.0.0.1', pfPort)];
  pf.kill('SIGKILL');

  await tp(['connect', '-n', 'default']);
  rows.push(await measure('tp VIF → pod IP', podIP, 9000));
  rows.push(await measure('tp VIF → Service name', `${name}.default`, 9000));
  await tp(['quit', '-s']);

  const base = rows[0]!;
  const r2 = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log(`\nbench/vif-cluster — ${MIB} MiB per direction, ${FLOWS} sequential new flows, from workstation namespace ${WS} (${new Date().toISOString()})\n`);
  console.log('| path | up Gbit/s | ratio | down Gbit/s | ratio | new flow p50 ms | p99 ms | flows/s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.path} | ${r.up.toFixed(2)} | ${r2(r.up, base.up)} | ${r.down.toFixed(2)} | ${r2(r.down, base.down)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cps.toFixed(0)} |`);
  }
} finally {
  await tp(['quit', '-s']).catch(() => {});
  await kubectl(['delete', `pod/${name}`, `service/${name}`, '--wait=false', '--ignore-not-found']).catch(() => {});
  await run(cluster, ['workstation', WS, '--delete']).catch(() => {});
}
process.exit(0);
