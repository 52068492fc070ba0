// bench/cluster-suite: the figures of issue #14 that need the local cluster, each against a
// baseline measured in the same run:
//   pf_up, pf_down          tp SOCKS through the port-forward ÷ raw `kubectl port-forward`
//   direct_vs_pf            tp SOCKS over the direct route ÷ tp SOCKS through the port-forward (worse direction)
//   manager_cpu_s_per_gib   the manager process's CPU seconds per GiB relayed (port-forward runs)
//   manager_idle_mib        the manager's RSS with one idle client
//   intercept_1flow         an in-cluster client ↔ an intercepted Service ↔ a workstation sink, ÷
//                           raw `kubectl port-forward` in the same direction (worse of the two)
//   agent_idle_*, agent_tap_*  what an agent costs the app's own clients: added keep-alive and
//                           new-connection p50 (ms) and download ratio, idle and with a wiretap
//   cli_start_ms, intercept_warm_ms, leave_ms
// Usage (cluster up, images built): node dist/bench/cluster-suite.js [--mib 256] [--json] [--profile-manager] [--profile-agent]
// The last line with --json is one JSON object of these keys.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { clusterEnv, run } from './lib/cluster.js';
import { download, gbit, upload } from './lib/measure.js';
import { SINK_SOURCE } from './lib/sink.js';
import { profileRunningProcess } from './lib/inspect-profile.js';
import { summarise } from './lib/profile.js';
import { APP_SOURCE, HTTP_CLIENT_SOURCE, SINK_CLIENT_SOURCE, WATCH_SOURCE } from './lib/pod-scripts.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const MIB = Number(arg('mib', '256'));
const JSON_OUT = process.argv.includes('--json');
/** --profile-manager: one more port-forward run with the manager under the CPU profiler, summarised. */
const PROFILE_MANAGER = process.argv.includes('--profile-manager');
/** --profile-agent: the idle agent's measurement once more with the app pod's agent profiled. */
const PROFILE_AGENT = process.argv.includes('--profile-agent');
const NODE_PORT = 31444;
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
const out: Record<string, number> = {};
const note = (s: string) => process.stderr.write(`${s}\n`);

const env = await clusterEnv();
const ns = `bench-${Math.random().toString(16).slice(2, 8)}`;
const kubectl = (args: string[], input?: string) =>
  run(env.KUBECTL!, ['--kubeconfig', env.KUBECONFIG!, ...args], input === undefined ? {} : { input });
const dir = mkdtempSync(join(tmpdir(), 'tp-bench-cluster-'));
const tpEnv = { ...process.env, TP_RUNTIME_DIR: join(dir, 'run'), TP_LOG_DIR: join(dir, 'logs'), KUBECONFIG: env.KUBECONFIG };
const cli = join(here, '..', 'lib', 'cli', 'main.js');
const tp = (args: string[]) => run(process.execPath, ['--', cli, ...args], { env: tpEnv });
const port = () => 20000 + Math.floor(Math.random() * 20000);

const image = `tp.local/tp:${env.IMAGE_TAG}`;
const deploy = (name: string, source: string, containerPort: number, probe = true) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
      # Without it a Service named sink puts SINK_PORT=tcp://… into the env the sink reads.
      enableServiceLinks: false
      containers:
      - name: ${name}
        image: ${image}
        imagePullPolicy: IfNotPresent
        command: [node, -e, ${JSON.stringify(source)}]
        ports: [{name: main, containerPort: ${containerPort}}]
        ${probe ? `readinessProbe: {tcpSocket: {port: ${containerPort}}, periodSeconds: 1}` : ''}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {app: ${name}}
  ports: [{name: main, port: ${containerPort === 8080 ? 80 : containerPort}, targetPort: main}]
`;

/** A program run inside the client pod; its last stdout line parsed as JSON. */
async function inPod<T>(source: string, args: string[]): Promise<T> {
  const o = await kubectl(['-n', ns, 'exec', 'deploy/client', '--', 'node', '-e', source, ...args]);
  const last = o.trim().split('\n').at(-1)!;
  const v = JSON.parse(last) as T & { error?: string };
  if (v.error) throw new Error(v.error);
  return v;
}

/** CPU seconds (user + system) and RSS MiB of the manager process, read from /proc on this host. */
function managerPid(): number {
  return Number(spawnSync('pgrep', ['-f', 'dist/lib/manager/main.js'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
}

/** The agent process of the pod whose name starts with `podPrefix` (its /etc/hostname is the pod's name). */
function agentPidOf(podPrefix: string): number {
  const pids = spawnSync('pgrep', ['-f', 'dist/lib/agent/main.js'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  const pid = pids.find((p) => {
    try {
      return readFileSync(`/proc/${p}/root/etc/hostname`, 'utf8').startsWith(podPrefix);
    } catch {
      return false;
    }
  });
  if (!pid) throw new Error(`no agent process in a pod named ${podPrefix}…`);
  return Number(pid);
}

function managerProc(): { cpu: number; rssMiB: number } {
  const pid = managerPid();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const hz = 100;
  const cpu = (Number(f[11]) + Number(f[12])) / hz;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return { cpu, rssMiB: Number(rss) / 1024 };
}

async function portForward(target: string, remote: number): Promise<number> {
  const local = port();
  const pf = spawn(env.KUBECTL!, ['--kubeconfig', env.KUBECONFIG!, '-n', ns, 'port-forward', target, `${local}:${remote}`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(pf);
  await once(createInterface({ input: pf.stdout! }), 'line');
  return local;
}

async function hostSink(): Promise<number> {
  const p = port();
  children.push(
    spawn(process.execPath, ['-e', SINK_SOURCE], {
      stdio: 'ignore',
      env: { ...process.env, SINK_PORT: String(p), SINK_HOST: '127.0.0.1' },
    }),
  );
  await new Promise((r) => setTimeout(r, 300));
  return p;
}

const rows: Array<[string, string]> = [];
const row = (what: string, value: string) => {
  rows.push([what, value]);
  note(`  ${what.padEnd(62)} ${value}`);
};

try {
  note(`bench/cluster-suite: ${MIB} MiB per direction; namespace ${ns}`);
  await kubectl(['create', 'namespace', ns]);
  await tp(['helm', 'upgrade', '--install', '--set', 'directRoute.enabled=true', '--set', `directRoute.nodePort=${NODE_PORT}`]);
  await kubectl(
    ['apply', '-f', '-'],
    deploy('sink', SINK_SOURCE, 9000) +
      '---' +
      deploy('isink', SINK_SOURCE, 9000) +
      '---' +
      deploy('app', APP_SOURCE, 8080) +
      '---' +
      deploy('plain', APP_SOURCE, 8080) +
      '---' +
      deploy('client', 'setInterval(() => {}, 1 << 30)', 7000, false),
  );
  for (const d of ['sink', 'isink', 'app', 'plain', 'client'])
    await kubectl(['-n', ns, 'rollout', 'status', `deploy/${d}`, '--timeout=120s']);

  // ---- CLI start -------------------------------------------------------------------------
  const starts: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    await run(process.execPath, ['--', cli, 'version'], { env: { ...tpEnv, TP_RUNTIME_DIR: join(dir, 'none') } });
    starts.push(Date.now() - t0);
  }
  out.cli_start_ms = median(starts);
  row('CLI start: tp version, median of 10 (ms)', out.cli_start_ms.toFixed(0));

  // ---- through the port-forward -----------------------------------------------------------
  const pf = await portForward('deploy/sink', 9000);
  const raw = {
    up: gbit(await upload({ host: '127.0.0.1', port: pf }, MIB << 20)),
    down: gbit(await download({ host: '127.0.0.1', port: pf }, MIB << 20)),
  };
  const socksPort = port();
  await tp(['connect', '--socks', `127.0.0.1:${socksPort}`, '-n', ns]);
  await new Promise((r) => setTimeout(r, 5000));
  out.manager_idle_mib = managerProc().rssMiB;
  row('manager RSS with one idle client (MiB)', out.manager_idle_mib.toFixed(0));
  const via = { host: `sink.${ns}`, port: 9000, socks: { host: '127.0.0.1', port: socksPort } };
  await upload(via, 4 << 20);
  const cpu0 = managerProc().cpu;
  const tpPf = { up: gbit(await upload(via, MIB << 20)), down: gbit(await download(via, MIB << 20)) };
  const cpu1 = managerProc().cpu;
  out.pf_up = tpPf.up / raw.up;
  out.pf_down = tpPf.down / raw.down;
  out.manager_cpu_s_per_gib = (cpu1 - cpu0) / ((2 * MIB) / 1024);
  row(`raw kubectl port-forward up / down (Gbit/s)`, `${raw.up.toFixed(2)} / ${raw.down.toFixed(2)}`);
  row(
    `tp SOCKS through the port-forward up / down (Gbit/s)`,
    `${tpPf.up.toFixed(2)} / ${tpPf.down.toFixed(2)}  (${out.pf_up.toFixed(2)}x / ${out.pf_down.toFixed(2)}x)`,
  );
  row('manager CPU seconds per GiB relayed', out.manager_cpu_s_per_gib.toFixed(2));
  if (PROFILE_MANAGER) {
    // One more upload and download with the manager under the profiler (not in the figures above:
    // sampling costs CPU of its own).
    const file = join(dir, 'manager-pf.cpuprofile');
    const prof = await profileRunningProcess(managerPid(), file);
    await upload(via, MIB << 20);
    await download(via, MIB << 20);
    await prof.stop();
    note(`manager profile, ${MIB} MiB up + ${MIB} MiB down through the port-forward: ${file}`);
    for (const l of summarise(file, 15)) note(l);
  }

  // ---- intercept -------------------------------------------------------------------------
  const wsSink = await hostSink();
  await tp(['intercept', 'isink', '--port', `${wsSink}:9000`, '--mount', 'false']);
  const icpt = await inPod<{ up: number; down: number }>(SINK_CLIENT_SOURCE, ['isink', '9000', String(Math.min(MIB, 128))]);
  const pfIsink = await portForward('deploy/isink', 9000);
  const rawI = {
    up: gbit(await upload({ host: '127.0.0.1', port: pfIsink }, Math.min(MIB, 128) << 20)),
    down: gbit(await download({ host: '127.0.0.1', port: pfIsink }, Math.min(MIB, 128) << 20)),
  };
  // The pod's upload travels cluster → workstation: the direction of a port-forward download.
  out.intercept_1flow = Math.min(icpt.up / rawI.down, icpt.down / rawI.up);
  row(
    'intercept: pod → workstation / workstation → pod (Gbit/s)',
    `${icpt.up.toFixed(2)} / ${icpt.down.toFixed(2)}  (vs pf ${rawI.down.toFixed(2)} / ${rawI.up.toFixed(2)}: ${out.intercept_1flow.toFixed(2)}x)`,
  );
  await tp(['leave', 'isink']);

  // ---- what an agent costs the app's own clients ------------------------------------------
  const measureApp = (svc: string) =>
    inPod<{ kaP50: number; newP50: number; down: number }>(HTTP_CLIENT_SOURCE, [`http://${svc}/`, '500', '300', '64']);
  const base = await measureApp('plain');
  const wsHttp = port();
  children.push(
    spawn(
      process.execPath,
      ['-e', `require('http').createServer((q, r) => { q.resume(); q.on('end', () => r.end('ws')); }).listen(${wsHttp}, '127.0.0.1')`],
      { stdio: 'ignore' },
    ),
  );
  await tp(['intercept', 'app', '--port', `${wsHttp}:main`, '--mount', 'false']); // installs the agent
  await tp(['leave', 'app']);
  const idle = await measureApp('app');
  if (PROFILE_AGENT) {
    // The same measurement once more with the app pod's agent under the profiler.
    const file = join(dir, 'agent-idle.cpuprofile');
    const prof = await profileRunningProcess(agentPidOf('app-'), file);
    await measureApp('app');
    await prof.stop();
    note(`agent profile (nothing engaged), 500 keep-alive + 300 new-connection GETs + 64 MiB down: ${file}`);
    for (const l of summarise(file, 15)) note(l);
  }
  out.agent_idle_ka_added_ms = idle.kaP50 - base.kaP50;
  out.agent_idle_new_added_ms = idle.newP50 - base.newP50;
  out.agent_idle_down = idle.down / base.down;
  row(
    'app alone: keep-alive p50 / new-conn p50 (ms), download (Gbit/s)',
    `${base.kaP50.toFixed(2)} / ${base.newP50.toFixed(2)}, ${base.down.toFixed(2)}`,
  );
  row(
    'agent idle: added keep-alive / new-conn p50 (ms), download ratio',
    `+${out.agent_idle_ka_added_ms.toFixed(2)} / +${out.agent_idle_new_added_ms.toFixed(2)}, ${out.agent_idle_down.toFixed(2)}x`,
  );
  await tp(['wiretap', 'app', '--port', `${wsHttp}:main`, '--mount', 'false']);
  const tap = await measureApp('app');
  out.agent_tap_ka_added_ms = tap.kaP50 - base.kaP50;
  out.agent_tap_new_added_ms = tap.newP50 - base.newP50;
  out.agent_tap_down = tap.down / base.down;
  row(
    'wiretap active: added keep-alive / new-conn p50 (ms), download ratio',
    `+${out.agent_tap_ka_added_ms.toFixed(2)} / +${out.agent_tap_new_added_ms.toFixed(2)}, ${out.agent_tap_down.toFixed(2)}x`,
  );
  await tp(['leave', 'app']);

  // ---- warm intercept and leave, as the app's clients see them ----------------------------
  const watch = spawn(
    env.KUBECTL!,
    ['--kubeconfig', env.KUBECONFIG!, '-n', ns, 'exec', 'deploy/client', '--', 'node', '-e', WATCH_SOURCE, 'http://app/small'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.push(watch);
  const seen: Array<{ at: number; who: string }> = [];
  createInterface({ input: watch.stdout! }).on('line', (l) => {
    const [at, who] = l.split(' ');
    seen.push({ at: Number(at), who: who ?? '' });
  });
  const firstAfter = async (t0: number, who: string) => {
    for (let i = 0; i < 600; i++) {
      const hit = seen.find((s) => s.at >= t0 && s.who === who);
      if (hit) return hit.at;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no answer from ${who} within 30 s`);
  };
  await firstAfter(Date.now(), 'app');
  const warms: number[] = [];
  const leaves: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    await tp(['intercept', 'app', '--port', `${wsHttp}:main`, '--mount', 'false']);
    warms.push((await firstAfter(t0, 'ws')) - t0);
    const t1 = Date.now();
    await tp(['leave', 'app']);
    leaves.push((await firstAfter(t1, 'app')) - t1);
  }
  out.intercept_warm_ms = median(warms);
  out.leave_ms = median(leaves);
  row('warm intercept: command start → first request at the workstation (ms, median of 3)', out.intercept_warm_ms.toFixed(0));
  row('leave: command start → the app answers again (ms, median of 3)', out.leave_ms.toFixed(0));
  watch.kill();

  // ---- the direct route --------------------------------------------------------------------
  await tp(['quit']);
  await tp(['connect', '--socks', `127.0.0.1:${socksPort}`, '-n', ns, '--manager-address', `${env.NODE_IP}:${NODE_PORT}`]);
  await upload(via, 4 << 20);
  const direct = { up: gbit(await upload(via, MIB << 20)), down: gbit(await download(via, MIB << 20)) };
  out.direct_vs_pf = Math.min(direct.up / tpPf.up, direct.down / tpPf.down);
  row(
    'tp SOCKS over the direct route up / down (Gbit/s)',
    `${direct.up.toFixed(2)} / ${direct.down.toFixed(2)}  (${out.direct_vs_pf.toFixed(2)}x the port-forward)`,
  );
} finally {
  await tp(['quit']).catch(() => '');
  await tp(['helm', 'upgrade', '--install']).catch(() => '');
  await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => '');
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

if (JSON_OUT) console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.toFixed(3))]))));
process.exit(0);
