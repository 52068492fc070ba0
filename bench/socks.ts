// bench/socks: throughput and new-flow latency through tp's SOCKS proxy, each beside its baseline
// measured in the same run.
//   (a) loopback: sink ← direct   vs   sink ← tunnel server ← HTTP/2 ← tunnel client ← SOCKS
//   (b) --cluster: a sink pod ← raw `kubectl port-forward`   vs   ← the real tp connect --socks
// Usage: node dist/bench/socks.js [--mib 1024] [--flows 500] [--cluster] [--skip-loopback] [--json]
// --json: the last line is one JSON object: socks_1flow (loopback, worse of up/down ÷ direct),
// socks_newflow_added_ms, and with --cluster socks_pf_1flow (÷ raw kubectl port-forward).
// Each process (sink, manager side, proxy side, measuring client) is separate, as in real use.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { SINK_SOURCE } from './lib/sink.js';
import { clusterEnv, run, startSinkPod } from './lib/cluster.js';
import { download, gbit, newFlowLatency, upload, type Target } from './lib/measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const MIB = Number(arg('mib', '1024'));
const FLOWS = Number(arg('flows', '500'));
const JSON_OUT = process.argv.includes('--json');
const out: Record<string, number> = {};
/** Worse of up/down of `r` ÷ `base`, and its added new-flow p50. */
const figures = (r: Row, base: Row) => ({ worse: Math.min(r.up / base.up, r.down / base.down), addedMs: r.p50 - base.p50 });
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

async function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(c);
  const rl = createInterface({ input: c.stdout! });
  const [line] = (await once(rl, 'line')) as [string];
  return line.trim();
}

interface Row {
  path: string;
  up: number;
  down: number;
  p50: number;
  p99: number;
  cps: number;
}

async function measure(path: string, t: Target): Promise<Row> {
  const bytes = MIB * 1024 * 1024;
  await upload(t, 4 * 1024 * 1024); // warm-up
  const up = await upload(t, bytes);
  const down = await download(t, bytes);
  const lat = await newFlowLatency(t, FLOWS);
  return { path, up: gbit(up), down: gbit(down), p50: lat.p50, p99: lat.p99, cps: lat.perSecond };
}

function print(title: string, rows: Row[]): void {
  const base = rows[0]!;
  console.log(`\n${title}  (${MIB} MiB per direction, ${FLOWS} sequential new flows)`);
  console.log('path                          up Gbit/s  (ratio)   down Gbit/s (ratio)   new-flow p50 ms  p99 ms   flows/s');
  for (const r of rows) {
    const ratio = (a: number, b: number) => `(${(a / b).toFixed(2)}x)`;
    console.log(
      `${r.path.padEnd(30)}${r.up.toFixed(2).padStart(8)}  ${ratio(r.up, base.up).padEnd(9)} ${r.down.toFixed(2).padStart(8)}    ${ratio(r.down, base.down).padEnd(9)} ${r.p50.toFixed(2).padStart(10)}  ${r.p99.toFixed(2).padStart(7)}  ${r.cps.toFixed(0).padStart(8)}`,
    );
  }
}

async function loopback(): Promise<void> {
  const sinkPort = 19000 + Math.floor(Math.random() * 500);
  children.push(
    spawn(process.execPath, ['-e', SINK_SOURCE], {
      stdio: 'ignore',
      env: { ...process.env, SINK_PORT: String(sinkPort), SINK_HOST: '127.0.0.1' },
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  const managerPort = await startChild(process.execPath, [join(here, 'lib', 'loopback-manager.js')]);
  const proxyPort = await startChild(process.execPath, [join(here, 'lib', 'loopback-proxy.js'), managerPort]);
  const target = { host: '127.0.0.1', port: sinkPort };
  const rows = [
    await measure('direct (loopback)', target),
    await measure('tp SOCKS → loopback manager', { ...target, socks: { host: '127.0.0.1', port: Number(proxyPort) } }),
  ];
  print('(a) loopback', rows);
  const f = figures(rows[1]!, rows[0]!);
  out.socks_1flow = f.worse;
  out.socks_newflow_added_ms = f.addedMs;
}

async function cluster(): Promise<void> {
  const env = await clusterEnv();
  const sink = await startSinkPod('bench-sink');
  const name = sink.name;
  const pfPort = 19600 + Math.floor(Math.random() * 200);
  const pf = spawn(env.KUBECTL!, ['--kubeconfig', env.KUBECONFIG!, 'port-forward', `pod/${name}`, `${pfPort}:9000`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(pf);
  await once(createInterface({ input: pf.stdout! }), 'line');
  const dir = mkdtempSync(join(tmpdir(), 'tp-bench-'));
  const tpEnv = { ...process.env, TP_RUNTIME_DIR: join(dir, 'run'), TP_LOG_DIR: join(dir, 'logs'), KUBECONFIG: env.KUBECONFIG };
  const cli = join(here, '..', 'lib', 'cli', 'main.js');
  const socksPort = 19800 + Math.floor(Math.random() * 100);
  await run(process.execPath, [cli, 'connect', '--socks', `127.0.0.1:${socksPort}`], { env: tpEnv });
  try {
    const rows = [
      await measure('raw kubectl port-forward', { host: '127.0.0.1', port: pfPort }),
      await measure('tp SOCKS → port-forward', { host: `${name}.default`, port: 9000, socks: { host: '127.0.0.1', port: socksPort } }),
    ];
    print('(b) through the real port-forward (host → socat API forwarder → kube-apiserver → kubelet)', rows);
    out.socks_pf_1flow = figures(rows[1]!, rows[0]!).worse;
  } finally {
    await run(process.execPath, [cli, 'quit'], { env: tpEnv });
    await sink.remove();
  }
}

if (!process.argv.includes('--skip-loopback')) await loopback();
if (process.argv.includes('--cluster')) await cluster();
if (JSON_OUT) console.log(JSON.stringify(out));
process.exit(0);
