// bench/vif-cluster: `tp connect` (VIF) through the real port-forward of the local cluster, beside
// raw `kubectl port-forward` to the same pod, both measured from one workstation namespace in the
// same run (the host's network is never touched). A sink pod (bench/lib/sink.ts) answers both.
//   raw kubectl port-forward:  client → 127.0.0.1:PF → kubectl → API server → kubelet → pod
//   tp VIF:                    client → pod IP / Service name → tp0 → stack → HTTP/2 → port-forward → manager → pod
// Usage (root, cluster up, manager installed): node dist/bench/vif-cluster.js [--mib 256] [--flows 200]
import { spawn, type ChildProcess } from 'node:child_process';
import { clusterEnv, clusterScript, run, startSinkPod } from './lib/cluster.js';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

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

interface Row {
  path: string;
  up: number;
  down: number;
  p50: number;
  p99: number;
  cps: number;
}

const env = await clusterEnv();
const wsKubeconfig = (await clusterScript(['workstation', WS])).trim();
let sink: Awaited<ReturnType<typeof startSinkPod>> | undefined;
const dir = mkdtempSync(join(tmpdir(), 'tp-bench-vif-'));
const tpEnv = {
  ...process.env,
  KUBECONFIG: wsKubeconfig,
  TP_RUNTIME_DIR: join(dir, 'run'),
  TP_ROOT_RUNTIME_DIR: join(dir, 'root'),
  TP_LOG_DIR: join(dir, 'logs'),
};
const tp = (args: string[]) =>
  run('ip', ['netns', 'exec', WS, process.execPath, join(here, '..', 'lib', 'cli', 'main.js'), ...args], { env: tpEnv });
const measure = async (path: string, host: string, port: number): Promise<Row> => {
  const out = await run('ip', ['netns', 'exec', WS, process.execPath, join(here, 'lib', 'measure-cli.js'), host, String(port), MIB, FLOWS]);
  return { path, ...(JSON.parse(out) as Omit<Row, 'path'>) };
};

try {
  sink = await startSinkPod('bench-vif');
  const { name, podIP } = sink;
  const pfPort = 19700 + Math.floor(Math.random() * 200);
  const pf = spawn(
    'ip',
    ['netns', 'exec', WS, env.KUBECTL!, '--kubeconfig', wsKubeconfig, 'port-forward', `pod/${name}`, `${pfPort}:9000`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
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
  console.log(
    `\nbench/vif-cluster — ${MIB} MiB per direction, ${FLOWS} sequential new flows, from workstation namespace ${WS} (${new Date().toISOString()})\n`,
  );
  console.log('| path | up Gbit/s | ratio | down Gbit/s | ratio | new flow p50 ms | p99 ms | flows/s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.path} | ${r.up.toFixed(2)} | ${r2(r.up, base.up)} | ${r.down.toFixed(2)} | ${r2(r.down, base.down)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cps.toFixed(0)} |`,
    );
  }
} finally {
  await tp(['quit', '-s']).catch(() => {});
  await sink?.remove();
  await clusterScript(['workstation', WS, '--delete']).catch(() => '');
}
process.exit(0);
