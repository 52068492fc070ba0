// Tier 3: the local cluster is a real Kubernetes. Workloads from our images become Available, pods
// resolve Service names through CoreDNS and reach them through ClusterIPs, and a workstation
// namespace reaches the API server (port-forward works) but not pod or Service IPs.
import test from 'ava';
import {
  applyYaml,
  background,
  clusterEnv,
  echoWorkload,
  eventually,
  fetchWithRetryJs,
  kubectlOk,
  makeWorkstation,
  nodeInPod,
  sh,
  testNamespace,
  waitAvailable,
} from '../../helpers/cluster.js';

let ns: Awaited<ReturnType<typeof testNamespace>>;

test.before(async () => {
  await clusterEnv();
  ns = await testNamespace('smoke');
  await applyYaml(echoWorkload(ns.name));
});

test.after.always(async () => {
  await ns?.remove();
});

test.serial('the node is Ready and every kube-system pod Running', async (t) => {
  const nodes = JSON.parse(await kubectlOk(['get', 'nodes', '-o', 'json'])) as {
    items: Array<{ status: { conditions: Array<{ type: string; status: string }> } }>;
  };
  t.is(nodes.items.length, 1);
  t.is(nodes.items[0]!.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  const pods = JSON.parse(await kubectlOk(['-n', 'kube-system', 'get', 'pods', '-o', 'json'])) as {
    items: Array<{ metadata: { name: string }; status: { phase: string } }>;
  };
  t.true(pods.items.length > 0);
  for (const p of pods.items) t.is(p.status.phase, 'Running', p.metadata.name);
});

// #16: with Debian's etcd 3.4 under Kubernetes 1.34 such a watch ended after 3 s with "Too large
// resource version", over and over; informers (and Telepresence's client) start exactly this way.
test.serial('#16: a watch opened without a resourceVersion stays open and delivers an event within a second', async (t) => {
  const env = await clusterEnv();
  await kubectlOk(['-n', ns.name, 'create', 'configmap', 'seed', '--from-literal=k=v']);
  const watch = background(env.KUBECTL, [
    '--kubeconfig',
    env.KUBECONFIG,
    'get',
    '--raw',
    '/api/v1/namespaces/' + ns.name + '/configmaps?watch=1',
  ]);
  let out = '';
  watch.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    // The initial ADDED events of what exists, then nothing while idle.
    await eventually('the initial events', 10_000, async () => (out.includes('"seed"') ? true : undefined));
    await new Promise((r) => setTimeout(r, 4_000)); // longer than the 3 s that broke it
    t.is(watch.exitCode, null, 'the watch is still open after 4 s');
    const before = out.length;
    const t0 = Date.now();
    await kubectlOk(['-n', ns.name, 'create', 'configmap', 'watched', '--from-literal=k=v']);
    const ms = await eventually('the ADDED event of the new ConfigMap', 5_000, async () =>
      out.slice(before).includes('"watched"') ? Date.now() - t0 : undefined,
    );
    t.true(ms < 1_000, `the event arrived after ${ms} ms`);
    t.is(watch.exitCode, null);
  } finally {
    watch.kill();
  }
});

test.serial('a 2-replica echo Deployment becomes Available', async (t) => {
  await waitAvailable(ns.name, 'echo');
  const pods = await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[*].status.podIP}']);
  t.is(pods.trim().split(/\s+/).length, 2);
});

test.serial('from inside a pod the Service name resolves through CoreDNS to the ClusterIP and answers', async (t) => {
  const clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const env = await clusterEnv();
  const script = `${fetchWithRetryJs()}
    const dns = require('node:dns');
    const fs = require('node:fs');
    const name = 'echo.${ns.name}.svc.cluster.local';
    dns.lookup(name, { family: 4 }, async (err, address) => {
      if (err) { console.log(JSON.stringify({ err: String(err) })); process.exit(1); }
      const res = await fetchRetry('http://' + name + '/smoke');
      const body = await res.text();
      const nameserver = fs.readFileSync('/etc/resolv.conf', 'utf8').match(/nameserver (\\S+)/)[1];
      console.log(JSON.stringify({ address, status: res.status, body, nameserver }));
    });`;
  const r = await nodeInPod(ns.name, 'deploy/echo', script);
  t.is(r.code, 0, r.stderr + r.stdout);
  const out = JSON.parse(r.stdout) as { address: string; status: number; body: string; nameserver: string };
  t.is(out.nameserver, env.DNS_SVC_IP, 'pods use the kube-dns Service as their resolver');
  t.is(out.address, clusterIP);
  t.is(out.status, 200);
  t.regex(out.body, /^pod: echo-/m);
  t.regex(out.body, /^GET \/smoke HTTP\/1\.1$/m);
});

test.serial('a Deployment running my own command in the tp image is reachable by Service name from another pod', async (t) => {
  const env = await clusterEnv();
  const server = `require('node:http').createServer((q, s) => s.end('hello from tp image ' + process.version)).listen(9000)`;
  await applyYaml(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: mine, namespace: ${ns.name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: mine}}
  template:
    metadata: {labels: {app: mine}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: mine
        image: tp.local/tp:${env.IMAGE_TAG}
        imagePullPolicy: IfNotPresent
        command: ["node", "-e", ${JSON.stringify(server)}]
        ports: [{containerPort: 9000}]
        readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: mine, namespace: ${ns.name}}
spec:
  selector: {app: mine}
  ports: [{port: 80, targetPort: 9000}]
`);
  await waitAvailable(ns.name, 'mine');
  const r = await nodeInPod(
    ns.name,
    'deploy/echo',
    `${fetchWithRetryJs()} fetchRetry('http://mine/').then(r => r.text()).then(t => console.log(t))`,
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^hello from tp image v\d+/);
});

test.serial('a workstation namespace reaches the API server (port-forward works) but not pod or Service IPs', async (t) => {
  const ws = await makeWorkstation('tpws-smoke');
  t.teardown(ws.remove);
  const podIP = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  const podName = (await kubectlOk(['-n', ns.name, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const clusterIP = (await kubectlOk(['-n', ns.name, 'get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).trim();

  for (const ip of [podIP, clusterIP]) {
    const port = ip === podIP ? 8080 : 80;
    const r = await sh('curl', ['-sS', '--max-time', '3', `http://${ip}:${port}/`], { netns: 'tpws-smoke' });
    t.not(r.code, 0, `${ip} must not be reachable from a workstation before tp connects`);
  }

  const env = await clusterEnv();
  const pf = background(
    env.KUBECTL,
    ['--kubeconfig', ws.kubeconfig, '-n', ns.name, 'port-forward', `pod/${podName}`, '18080:8080'],
    'tpws-smoke',
  );
  t.teardown(() => void pf.kill('SIGKILL'));
  const body = await eventually('the port-forward to answer', 20_000, async () => {
    const r = await sh('curl', ['-sS', '--max-time', '2', 'http://127.0.0.1:18080/through-port-forward'], { netns: 'tpws-smoke' });
    return r.code === 0 ? r.stdout : undefined;
  });
  t.regex(body, new RegExp(`^pod: ${podName}$`, 'm'));
  t.regex(body, /^GET \/through-port-forward HTTP\/1\.1$/m);
});
