// Tier 3, issue #16: engagements in a namespace that enforces Pod Security "restricted"
// (`pod-security.kubernetes.io/enforce=restricted`), where tp-agent-init (root, NET_ADMIN) is
// refused. A Service that targets its port by name lets the agent take the port over instead: no
// init container, the app's port renamed, the agent (non-root, no capabilities) declaring the name.
// A Service with a numeric targetPort cannot be engaged there, and `tp intercept` says so in one
// sentence before the workload is touched. Every request comes from a pod of the namespace,
// through the Service; workloads and client meet "restricted" themselves.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  applyYaml,
  background,
  clusterEnv,
  eventually,
  fetchWithRetryJs,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-psa';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let alice: TpRunner;
const handlers: ChildProcess[] = [];

/** A workstation handler that answers with its tag, and 503 to /ready: the app's readiness probe
 * path, which must keep reaching the app. */
const HANDLER = (port: number, tag: string) => `require('http').createServer((q, r) => {
  if (q.url === '/ready') { r.statusCode = 503; r.end('the probe reached the workstation'); return; }
  r.end('${tag} ' + q.method + ' ' + q.url + '\\n');
}).listen(${port}, '127.0.0.1');`;

/** A Deployment that meets "restricted" by itself (uid 1000, no capabilities, RuntimeDefault
 * seccomp, no escalation, read-only root), its probe naming the port, a ConfigMap volume, and a
 * Service whose targetPort is `target`. */
const RESTRICTED_APP = (namespace: string, name: string, target: string | number, image: string) => `
apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}-cfg, namespace: ${namespace}}
data: {"app.yaml": "mode: restricted\\n"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 2
      securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: echo
        image: ${image}
        imagePullPolicy: IfNotPresent
        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
      volumes: [{name: cfg, configMap: {name: ${name}-cfg}}]
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  selector: {app: ${name}}
  ports: [{name: web, port: 80, targetPort: ${target}}]
`;

type Pod = {
  metadata: { name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec: {
    initContainers?: Array<{ name: string }>;
    containers: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }>; securityContext?: Record<string, unknown> }>;
  };
  status: { containerStatuses?: Array<{ name: string; restartCount: number }> };
};
const livePods = async (app: string) =>
  (JSON.parse(await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', `app=${app}`, '-o', 'json'])) as { items: Pod[] }).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );

/** A request from inside the namespace (the client pod) through a Service. */
async function get(url: string): Promise<string> {
  const r = await nodeInPod(
    ns.name,
    'deploy/client',
    `${fetchWithRetryJs(15)}
    fetchRetry(${JSON.stringify(url)}, {}).then(async (r) => console.log(await r.text()), (e) => { console.log('ERROR ' + (e.cause?.code ?? e.message)); });`,
  );
  return r.stdout.trim();
}

test.before(async () => {
  const env = await clusterEnv();
  const image = `tp.local/echo:${env.IMAGE_TAG ?? '0.1.0'}`;
  ns = await testNamespace('psa');
  await kubectlOk([
    'label',
    'namespace',
    ns.name,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-psa-'));
  alice = tpRunner({ netns: WS, dir: join(dir, 'alice'), kubeconfig: ws.kubeconfig });
  await applyYaml(
    RESTRICTED_APP(ns.name, 'echo', 'http', image) +
      '---' +
      RESTRICTED_APP(ns.name, 'numbered', 8080, image) +
      '---' +
      RESTRICTED_APP(ns.name, 'client', 'http', image),
  );
  const up = await alice(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  for (const d of ['echo', 'numbered', 'client']) await waitAvailable(ns.name, d);
  const c = await alice(['connect', '--socks', '127.0.0.1:1082', '-n', ns.name]);
  if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  handlers.push(background('node', ['-e', HANDLER(9001, 'local-alice')], WS));
  await new Promise((r) => setTimeout(r, 500));
});

test.after.always(async () => {
  for (const h of handlers) h.kill();
  await alice?.(['quit']);
  await ns?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

test.serial(
  '#16 restricted: an intercept of a port the Service targets by name reaches the workstation with no init container; leave returns traffic to the app',
  async (t) => {
    t.regex(await get('http://echo/before'), /^pod: echo-/);
    const r = await alice(['intercept', 'echo', '--port', '9001:http', '--mount', 'false', '--timeout', '90']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /Intercepting deployment\/echo \(container echo\) as "echo"\n {2}port 8080 \(http\) → 127\.0\.0\.1:9001/);

    const pods = await livePods('echo');
    t.is(pods.length, 1);
    const pod = pods[0]!;
    t.deepEqual(
      pod.spec.containers.map((c) => c.name),
      ['echo', 'tp-agent'],
    );
    t.falsy(
      pod.spec.initContainers?.some((c) => c.name === 'tp-agent-init'),
      'no NET_ADMIN init container',
    );
    t.deepEqual(
      pod.spec.containers[0]!.ports!.map((p) => p.name),
      ['tp-http'],
      'the app gave up the name',
    );
    t.like(pod.spec.containers[1]!.ports![0], { name: 'http', containerPort: 9900 });
    t.like(pod.spec.containers[1]!.securityContext, {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const endpoints = await kubectlOk([
      '-n',
      ns.name,
      'get',
      'endpointslices',
      '-l',
      'kubernetes.io/service-name=echo',
      '-o',
      'jsonpath={.items[*].ports[*].port}',
    ]);
    t.is(endpoints.trim(), '9900', 'the Service sends its traffic to the agent by the name');

    for (let i = 0; i < 3; i++) t.is(await get(`http://echo/hello-${i}`), `local-alice GET /hello-${i}`);
    // The readiness probe named the port: rewritten to the number, it still reaches the app.
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
    t.deepEqual(ready.trim().split(' '), ['True'], 'the probe did not reach the workstation');
    t.is(await get('http://echo/still'), 'local-alice GET /still');

    const restarts = (p: Pod) => `${p.metadata.name}/${p.status.containerStatuses?.map((c) => c.restartCount).join(',')}`;
    const before = (await livePods('echo')).map(restarts);
    const left = await alice(['leave', 'echo']);
    t.is(left.code, 0, left.stderr);
    t.regex(await get('http://echo/after-leave'), /^pod: echo-.*\nport: 8080\nGET \/after-leave /s, 'the agent forwards to the app again');
    t.deepEqual((await livePods('echo')).map(restarts), before, 'same pod, no restarts');
  },
);

test.serial("#16 restricted: ingest mounts the app's ConfigMap volume through sftp-server running as the app's non-root uid", async (t) => {
  const r = await alice(['ingest', 'echo', '--timeout', '90']);
  t.is(r.code, 0, r.stderr);
  const mount = /volumes mounted at (\S+) \(read-only\)/.exec(r.stdout)?.[1];
  t.truthy(mount, r.stdout);
  const status = JSON.parse((await alice(['status', '--output', 'json'])).stdout) as {
    daemonPid?: number;
    status?: { daemonPid?: number };
  };
  const daemonPid = status.daemonPid ?? status.status?.daemonPid;
  t.truthy(daemonPid);
  const cat = await sh('nsenter', ['-t', String(daemonPid), '-m', 'cat', `${mount}/etc/cfg/app.yaml`]);
  t.is(cat.stdout, 'mode: restricted\n', cat.stderr);
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial(
  '#16 restricted: a Service with a numeric targetPort cannot be engaged; the sentence names both ways out and the workload is untouched',
  async (t) => {
    const r = await alice(['intercept', 'numbered', '--port', '9001:http', '--mount', 'false']);
    t.is(r.code, 1, r.stdout);
    t.regex(
      r.stderr,
      new RegExp(
        `^tp: port 8080 of deployment/numbered cannot be engaged: namespace ${ns.name} enforces Pod Security "restricted", which refuses the agent's init container \\(it redirects the port with NET_ADMIN\\), and Service numbered targets it by number; ` +
          `make http the targetPort of Service numbered so the agent can take the port over by name, or allow the init container by labelling namespace ${ns.name} pod-security\\.kubernetes\\.io/enforce=privileged \\(or exempting it from Pod Security admission\\)`,
      ),
    );
    // The hint follows the sentence: the two commands.
    t.regex(
      r.stderr,
      /\(or exempting it from Pod Security admission\); kubectl -n \S+ patch service numbered --type=json .*, or kubectl label namespace \S+ pod-security\.kubernetes\.io\/enforce=privileged --overwrite\.$/m,
    );
    const template = await kubectlOk([
      '-n',
      ns.name,
      'get',
      'deployment',
      'numbered',
      '-o',
      'jsonpath={.spec.template.metadata.annotations}',
    ]);
    t.false(template.includes('tp.dev/agent-config'), 'nothing was written to the workload');
    t.regex(await get('http://numbered/still-the-app'), /^pod: numbered-/);
    // The refused engagement's object is gone: the next attempt is refused the same way, not as a duplicate.
    await eventually('the refused Engagement deleted', 15_000, async () =>
      (await kubectlOk(['-n', ns.name, 'get', 'engagements', '-o', 'name'])).includes('numbered') ? undefined : true,
    );
  },
);
