// Tier 3: engagements on the local cluster (issue #5). Two workstation sessions in one workstation
// namespace, the traffic manager and its webhook from the real chart, agents injected into real
// pods; every request comes from inside another pod, through the workload's ClusterIP Service.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  fetchWithRetryJs,
  kubectl,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-eng';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let alice: TpRunner;
let bob: TpRunner;
const handlers: ChildProcess[] = [];
let tapFile = '';

/** An HTTP handler on the workstation that answers with its tag — and 503 to /ready, the echo
 * workload's readiness probe path, which must never reach it (probes go to the app). */
const HANDLER = (port: number, tag: string) => `require('http').createServer((q, r) => {
  if (q.url === '/ready') { r.statusCode = 503; r.end('the probe reached the workstation'); return; }
  let n = 0; q.on('data', (c) => (n += c.length)); q.on('end', () => r.end('${tag} ' + q.method + ' ' + q.url + ' ' + n + '\\n'));
}).listen(${port}, '127.0.0.1');`;
/** A raw TCP handler that appends whatever it receives to a file and answers with junk. */
const TAP = (port: number, file: string) => `require('net').createServer((s) => {
  s.on('data', (c) => { require('fs').appendFileSync('${file}', c); s.write('HTTP/1.1 500 Discard Me\\r\\ncontent-length: 0\\r\\n\\r\\n'); });
}).listen(${port}, '127.0.0.1');`;

const MULTI = (namespace: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: multi, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: multi}}
  template:
    metadata: {labels: {app: multi}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: multi
        image: tp.local/echo:0.1.0
        env: [{name: PORTS, value: "8080,8081"}]
        ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: ${namespace}}
spec:
  selector: {app: multi}
  ports: [{name: http, port: 80, targetPort: http}, {name: admin, port: 8081, targetPort: admin}]
`;

const CFG = (namespace: string) => `
apiVersion: v1
kind: Secret
metadata: {name: cfg-secret, namespace: ${namespace}}
stringData: {SECRET_TOKEN: "s3cr3t value"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg-map, namespace: ${namespace}}
data: {greeting: "hello from a configmap", "app.yaml": "mode: ingest-test\\n"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cfg, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: cfg}}
  template:
    metadata: {labels: {app: cfg}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: cfg
        image: tp.local/echo:0.1.0
        ports: [{name: http, containerPort: 8080}]
        envFrom: [{secretRef: {name: cfg-secret}}]
        env:
        - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg-map, key: greeting}}}
        - {name: PLAIN, value: "plain $(GREETING)"}
        volumeMounts: [{name: conf, mountPath: /etc/cfg}]
      volumes: [{name: conf, configMap: {name: cfg-map}}]
---
apiVersion: v1
kind: Service
metadata: {name: cfg, namespace: ${namespace}}
spec:
  selector: {app: cfg}
  ports: [{name: http, port: 80, targetPort: http}]
`;

/** A request from inside the cluster (the client pod) through a Service. */
async function get(url: string, headers: Record<string, string> = {}, body?: string): Promise<string> {
  const init = JSON.stringify({ headers, ...(body ? { method: 'POST', body } : {}) });
  const r = await nodeInPod(
    ns.name,
    'deploy/client',
    `${fetchWithRetryJs(15)}
    fetchRetry(${JSON.stringify(url)}, ${init}).then(async (r) => console.log(await r.text()), (e) => { console.log('ERROR ' + (e.cause?.code ?? e.message)); });`,
  );
  return r.stdout.trim();
}

const podsOf = async (app: string) =>
  JSON.parse(await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', `app=${app}`, '-o', 'json'])) as {
    items: Array<{
      metadata: { name: string; deletionTimestamp?: string };
      spec: { containers: Array<{ name: string }> };
      status: { containerStatuses?: Array<{ name: string; restartCount: number }> };
    }>;
  };
const livePods = async (app: string) => (await podsOf(app)).items.filter((p) => !p.metadata.deletionTimestamp);

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('eng');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-eng-'));
  tapFile = join(dir, 'tap.bin');
  alice = tpRunner({ netns: WS, dir: join(dir, 'alice'), kubeconfig: ws.kubeconfig });
  bob = tpRunner({ netns: WS, dir: join(dir, 'bob'), kubeconfig: ws.kubeconfig });
  await applyYaml(echoWorkload(ns.name) + '---' + echoWorkload(ns.name, 'client', 1) + '---' + MULTI(ns.name) + '---' + CFG(ns.name));
  const up = await alice(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  for (const d of ['echo', 'client', 'multi', 'cfg']) await waitAvailable(ns.name, d);
  for (const [r, port] of [
    [alice, 1080],
    [bob, 1081],
  ] as const) {
    const c = await r(['connect', '--socks', `127.0.0.1:${port}`, '-n', ns.name]);
    if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  }
  handlers.push(
    background('node', ['-e', HANDLER(9001, 'local-alice')], WS),
    background('node', ['-e', HANDLER(9002, 'local-bob')], WS),
    background('node', ['-e', HANDLER(9003, 'local-http')], WS),
    background('node', ['-e', HANDLER(9004, 'local-admin')], WS),
    background('node', ['-e', TAP(9005, tapFile)], WS),
  );
  await new Promise((r) => setTimeout(r, 500));
});

test.after.always(async () => {
  for (const h of handlers) h.kill();
  await alice?.(['quit']);
  await bob?.(['quit']);
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

test.serial('intercept: in-cluster requests reach the local handler; after leave the app answers, with no pod restart', async (t) => {
  const r = await alice(['intercept', 'echo', '--port', '9001:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Intercepting deployment\/echo \(container echo\) as "echo"\n {2}port 8080 \(http\) → 127\.0\.0\.1:9001/);
  const pods = await livePods('echo');
  t.is(pods.length, 2);
  for (const p of pods)
    t.true(
      p.spec.containers.some((c) => c.name === 'tp-agent'),
      `${p.metadata.name} runs the agent`,
    );
  for (let i = 0; i < 4; i++)
    t.is(await get(`http://echo/hello-${i}`), `local-alice GET /hello-${i} 0`, 'every request, whichever pod the Service picks');
  // The readiness probe (period 1 s) still reaches the app: after 4 s the pods are Ready.
  await new Promise((r) => setTimeout(r, 4000));
  const ready = await kubectlOk([
    '-n',
    ns.name,
    'get',
    'pods',
    '-l',
    'app=echo',
    '-o',
    'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}',
  ]);
  t.deepEqual(ready.trim().split(' '), ['True', 'True'], 'the probes did not reach the workstation');
  t.is(await get('http://echo/still'), 'local-alice GET /still 0');
  const list = JSON.parse((await alice(['list', '--output', 'json'])).stdout) as { workloads: Array<{ name: string; state: string }> };
  t.regex(list.workloads.find((w) => w.name === 'echo')!.state, /^intercepted by /);

  const before = pods.map((p) => `${p.metadata.name}/${p.status.containerStatuses?.map((c) => c.restartCount).join(',')}`).sort();
  const left = await alice(['leave', 'echo']);
  t.is(left.code, 0, left.stderr);
  t.regex(await get('http://echo/after-leave'), /^pod: echo-/);
  const after = (await livePods('echo'))
    .map((p) => `${p.metadata.name}/${p.status.containerStatuses?.map((c) => c.restartCount).join(',')}`)
    .sort();
  t.deepEqual(after, before, 'same pods, no restarts');

  // A second intercept reuses the running agents: no rollout, active at once.
  const again = await alice(['intercept', 'echo', '--port', '9001:http', '--mount', 'false', '--output', 'json']);
  t.is(again.code, 0, again.stderr);
  t.is(await get('http://echo/again'), 'local-alice GET /again 0');
  t.deepEqual((await livePods('echo')).map((p) => p.metadata.name).sort(), pods.map((p) => p.metadata.name).sort());
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial('a second unfiltered intercept of the port is refused, naming the other user', async (t) => {
  t.is((await alice(['intercept', 'echo', '--port', '9001:http', '--mount', 'false'])).code, 0);
  const r = await bob(['intercept', 'echo', '--port', '9002:http', '--mount', 'false']);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^tp: cannot intercept echo: port 8080 is already intercepted by intercept echo of \S+ \(\S+@\S+\); use an HTTP filter/,
  );
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial('filtered intercepts: each session gets the requests with its header value; the rest reach the app', async (t) => {
  const a = await alice(['intercept', 'echo', '--port', '9001:http', '--http-header', 'x-dev=alice', '--mount', 'false']);
  t.is(a.code, 0, a.stderr);
  const b = await bob(['intercept', 'echo', '--port', '9002:http', '--http-header', 'x-dev=bob', '--mount', 'false']);
  t.is(b.code, 0, b.stderr);
  t.regex(b.stdout, /for HTTP requests with x-dev: bob/);
  for (let i = 0; i < 3; i++) {
    t.is(await get(`http://echo/a${i}`, { 'x-dev': 'alice' }), `local-alice GET /a${i} 0`);
    t.is(await get(`http://echo/b${i}`, { 'x-dev': 'bob' }), `local-bob GET /b${i} 0`);
    t.regex(await get(`http://echo/n${i}`), /^pod: echo-/);
  }
  t.is((await alice(['leave', 'echo'])).code, 0);
  t.is((await bob(['leave', 'echo'])).code, 0);
  t.regex(await get('http://echo/a', { 'x-dev': 'alice' }), /^pod: echo-/);
});

test.serial("wiretap: the client gets the app's answer and the workstation the same request bytes", async (t) => {
  const r = await alice(['wiretap', 'echo', '--port', '9005:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /a copy; answers are discarded/);
  const answer = await get('http://echo/tapped', { 'x-tap': 'yes' }, 'tap-me-body');
  t.regex(answer, /^pod: echo-.*\nport: 8080\nPOST \/tapped HTTP\/1\.1/s, 'the app answered');
  const copy = await eventually('the copy', 10_000, async () => {
    const s = readFileSync(tapFile, 'utf8');
    return s.includes('tap-me-body') ? s : undefined;
  });
  t.regex(copy, /^POST \/tapped HTTP\/1\.1\r\n/);
  t.regex(copy, /\r\nx-tap: yes\r\n/i);
  t.true(answer.includes('tap-me-body'), 'the app got the body too');
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial('replace: the container leaves the pods and every port answers from the workstation; leave brings it back', async (t) => {
  const r = await alice(['replace', 'multi', '--port', '9003:http', '--port', '9004:admin', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /port 8080 \(http\) → 127\.0\.0\.1:9003\n {2}port 8081 \(admin\) → 127\.0\.0\.1:9004/);
  const pods = await livePods('multi');
  t.deepEqual(
    pods.map((p) => p.spec.containers.map((c) => c.name)),
    [['tp-agent']],
    'only the agent is left',
  );
  t.is(await get('http://multi/one'), 'local-http GET /one 0');
  t.is(await get('http://multi:8081/two'), 'local-admin GET /two 0');
  t.is((await alice(['leave', 'multi'])).code, 0);
  await eventually('the app container back', 90_000, async () => {
    const p = await livePods('multi');
    return p.length === 1 && p[0]!.spec.containers.some((c) => c.name === 'multi') ? true : undefined;
  });
  await waitAvailable(ns.name, 'multi');
  t.regex(await get('http://multi/back'), /^pod: multi-.*\nport: 8080/s);
  t.regex(await get('http://multi:8081/back'), /^pod: multi-.*\nport: 8081/s);
});

test.serial('ingest: env from a Secret (envFrom) and a ConfigMap, the ConfigMap volume mounted read-only, no traffic moves', async (t) => {
  const envFile = join(dir, 'cfg.env');
  const envJson = join(dir, 'cfg.json');
  const r = await alice(['ingest', 'cfg', '--env-file', envFile, '--env-json', envJson]);
  t.is(r.code, 0, r.stderr);
  const env = JSON.parse(readFileSync(envJson, 'utf8')) as Record<string, string>;
  t.is(env.SECRET_TOKEN, 's3cr3t value', 'from the Secret, through envFrom');
  t.is(env.GREETING, 'hello from a configmap', 'from the ConfigMap, through valueFrom');
  t.is(env.PLAIN, 'plain hello from a configmap', '$(VAR) references resolve as in the app');
  t.regex(readFileSync(envFile, 'utf8'), /^SECRET_TOKEN=s3cr3t value$/m, 'docker syntax');
  const mount = /volumes mounted at (\S+) \(read-only\)/.exec(r.stdout)?.[1];
  t.truthy(mount, r.stdout);
  const pid = JSON.parse((await alice(['status', '--output', 'json'])).stdout) as {
    userDaemon?: string;
    daemonPid?: number;
    status?: { daemonPid?: number };
  };
  const daemonPid = pid.daemonPid ?? pid.status?.daemonPid;
  t.truthy(daemonPid);
  const cat = await sh('nsenter', ['-t', String(daemonPid), '-m', 'cat', `${mount}/etc/cfg/app.yaml`]);
  t.is(cat.stdout, 'mode: ingest-test\n', cat.stderr);
  const write = await sh('nsenter', ['-t', String(daemonPid), '-m', 'sh', '-c', `echo x > ${mount}/etc/cfg/new`]);
  t.not(write.code, 0, 'read-only');
  t.regex(await get('http://cfg/untouched'), /^pod: cfg-/, 'ingest moves no traffic');
  t.is((await alice(['leave', 'cfg'])).code, 0);
  t.is(
    (await sh('nsenter', ['-t', String(daemonPid), '-m', 'sh', '-c', `grep -c " ${mount} " /proc/self/mountinfo`])).stdout.trim(),
    '0',
    'leave unmounts',
  );

  // `-- CMD` runs with the container's environment and leaves when it exits.
  const run = await alice(['ingest', 'cfg', '--mount', 'false', '--', 'sh', '-c', 'echo "got:$GREETING"; exit 3']);
  t.is(run.code, 3, "the command's exit code");
  t.regex(run.stdout, /^got:hello from a configmap$/m);
  const still = JSON.parse((await alice(['list', '--output', 'json'])).stdout) as {
    workloads: Array<{ name: string; engagements?: unknown[] }>;
  };
  t.falsy(still.workloads.find((w) => w.name === 'cfg')!.engagements, 'left after the command');
});

test.serial('the webhook unreachable: the CLI says the agent did not arrive, and why', async (t) => {
  await applyYaml(echoWorkload(ns.name, 'fresh', 1));
  await waitAvailable(ns.name, 'fresh');
  // Point the API server at a Service that does not exist: every call to the webhook fails, as
  // when its Service has no pods. (Taking the port off the real Service would not do: the API
  // server keeps its established connection to the webhook, and conntrack keeps it working.)
  const mwc = 'tp-agent-injector-tp-system';
  const setService = (name: string) =>
    kubectlOk([
      'patch',
      'mutatingwebhookconfiguration',
      mwc,
      '--type',
      'json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/service/name', value: name }]),
    ]);
  await setService('traffic-manager-gone');
  try {
    const r = await alice(['intercept', 'fresh', '--port', '9001:http', '--mount', 'false', '--timeout', '25']);
    t.is(r.code, 1, r.stdout);
    t.regex(
      r.stderr,
      /^tp: the traffic agent did not arrive in deployment\/fresh within 25 s: 1 pod was created without the agent \(fresh-[a-z0-9-]+\): the agent-injector webhook did not answer the API server; check that the traffic manager runs and its webhook is reachable/,
    );
  } finally {
    await setService('traffic-manager');
  }
  // With the webhook back, engaging again restarts the pods that lack the agent.
  const ok = await alice(['intercept', 'fresh', '--port', '9001:http', '--mount', 'false', '--timeout', '90']);
  t.is(ok.code, 0, ok.stderr);
  t.is(await get('http://fresh/now'), 'local-alice GET /now 0');
  t.is((await alice(['leave', 'fresh'])).code, 0);
});

test.serial('a manager restart: the client engages again by itself and the intercept comes back', async (t) => {
  const r = await alice(['intercept', 'echo', '--port', '9001:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.is(await get('http://echo/before-restart'), 'local-alice GET /before-restart 0');
  await kubectlOk(['-n', 'tp-system', 'delete', 'pod', '-l', 'app.kubernetes.io/name=traffic-manager', '--wait=true'], {
    timeoutMs: 60_000,
  });
  const started = Date.now();
  await eventually('the intercept back after the manager restart', 90_000, async () =>
    (await get('http://echo/after-restart')) === 'local-alice GET /after-restart 0' ? true : undefined,
  );
  t.log(`intercepted again ${Math.round((Date.now() - started) / 1000)} s after the manager pod was deleted`);
  const list = JSON.parse((await alice(['list', '--output', 'json'])).stdout) as { workloads: Array<{ name: string; state: string }> };
  t.regex(list.workloads.find((w) => w.name === 'echo')!.state, /^intercepted by /);
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial('a killed client (kill -9 of the user daemon): within the session expiry the app serves again', async (t) => {
  const r = await bob(['intercept', 'echo', '--port', '9002:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.is(await get('http://echo/k'), 'local-bob GET /k 0');
  const status = JSON.parse((await bob(['status', '--output', 'json'])).stdout) as { daemonPid?: number; status?: { daemonPid?: number } };
  const pid = status.daemonPid ?? status.status?.daemonPid;
  t.truthy(pid);
  process.kill(pid!, 'SIGKILL');
  const started = Date.now();
  await eventually('the app to answer again', 60_000, async () => (/^pod: echo-/.test(await get('http://echo/back')) ? true : undefined));
  t.log(`the app answered again ${Math.round((Date.now() - started) / 1000)} s after the kill`);
  const manager = await kubectl(['-n', 'tp-system', 'logs', 'deploy/traffic-manager']);
  t.regex(manager.stdout, /"msg":"session expired"/);
  t.regex(manager.stdout, /"msg":"deleting an engagement".*"reason":"the session expired"/);
});

const KINDS = (namespace: string) => `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: stateful, namespace: ${namespace}}
spec:
  serviceName: stateful
  replicas: 1
  selector: {matchLabels: {app: stateful}}
  template:
    metadata: {labels: {app: stateful}}
    spec:
      terminationGracePeriodSeconds: 2
      containers: [{name: app, image: tp.local/echo:0.1.0, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: bare, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec:
      terminationGracePeriodSeconds: 2
      containers: [{name: app, image: tp.local/echo:0.1.0, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: stateful, namespace: ${namespace}}
spec: {selector: {app: stateful}, ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: bare, namespace: ${namespace}}
spec: {selector: {app: bare}, ports: [{name: http, port: 80, targetPort: http}]}
`;

test.serial('StatefulSets and ReplicaSets are engaged too; tp uninstall takes the agents out again', async (t) => {
  await applyYaml(KINDS(ns.name));
  await kubectlOk(['-n', ns.name, 'rollout', 'status', 'statefulset/stateful', '--timeout=90s'], { timeoutMs: 100_000 });
  await eventually('the replicaset ready', 90_000, async () => ((await livePods('bare')).length === 1 ? true : undefined));
  for (const w of ['stateful', 'bare']) {
    const r = await alice(['intercept', w, '--port', '9001:http', '--mount', 'false', '--timeout', '90']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`Intercepting ${w === 'bare' ? 'replicaset' : 'statefulset'}/${w} `));
    t.is(await get(`http://${w}/kind`), 'local-alice GET /kind 0');
    t.is((await alice(['leave', w])).code, 0);
    t.regex(await get(`http://${w}/kind`), new RegExp(`^pod: ${w}-`));
  }
  const one = await alice(['uninstall', 'bare']);
  t.is(one.code, 0, one.stderr);
  t.is(one.stdout.trim(), 'Removed the traffic agent from replicaset/bare');
  const before = JSON.parse((await alice(['list', '--output', 'json'])).stdout) as {
    workloads: Array<{ name: string; kind: string; agent?: unknown }>;
  };
  const withAgents = before.workloads
    .filter((w) => w.agent)
    .map((w) => `${w.kind.toLowerCase()}/${w.name}`)
    .sort();
  t.true(withAgents.includes('statefulset/stateful') && !withAgents.includes('replicaset/bare'), withAgents.join(' '));
  const all = await alice(['uninstall', '--all-agents', '--output', 'json']);
  t.is(all.code, 0, all.stderr);
  t.deepEqual((JSON.parse(all.stdout) as { workloads: string[] }).workloads.sort(), withAgents);
  await eventually('pods without agents', 120_000, async () => {
    for (const app of ['echo', 'bare', 'stateful']) {
      const pods = await livePods(app);
      if (pods.length === 0 || pods.some((p) => p.spec.containers.some((c) => c.name === 'tp-agent'))) return undefined;
    }
    return true;
  });
  t.regex(await get('http://echo/plain'), /^pod: echo-/);
  const list = JSON.parse((await alice(['list', '--output', 'json'])).stdout) as { workloads: Array<{ name: string; state: string }> };
  t.is(list.workloads.find((w) => w.name === 'echo')!.state, 'ready to engage');
});
