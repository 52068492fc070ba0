// Tier 3: two users on one cluster (issue #11). Identities are real Kubernetes ones made here —
// ServiceAccount-token kubeconfigs for alice, bob and carol (an admin) — with the chart's roles
// bound as the README shows: tp-client in the manager's namespace, tp-user and edit in namespace
// A for alice and bob, only view in B for bob, tp-admin for carol. Every request to a workload
// comes from a pod inside the cluster.
import test from 'ava';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
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
  REPO_ROOT,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-id';
const MANAGER_NS = 'tp-system';
let A: Awaited<ReturnType<typeof testNamespace>>;
let B: Awaited<ReturnType<typeof testNamespace>>;
let ids: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
const kube: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
let alice: TpRunner;
let bob: TpRunner;
const handlers: ChildProcess[] = [];
const user = (name: string) => `system:serviceaccount:${ids.name}:${name}`;

const HANDLER = (port: number, tag: string) => `require('http').createServer((q, r) => {
  q.resume(); q.on('end', () => r.end('${tag} ' + q.method + ' ' + q.url + '\\n'));
}).listen(${port}, '127.0.0.1');`;

/** A request from inside the cluster (the client pod in A) through echo's Service. */
async function get(url: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await nodeInPod(
    A.name,
    'deploy/client',
    `${fetchWithRetryJs(15)}
    fetchRetry(${JSON.stringify(url)}, ${JSON.stringify({ headers })}).then(async (r) => console.log(await r.text()), (e) => { console.log('ERROR ' + (e.cause?.code ?? e.message)); });`,
  );
  return r.stdout.trim();
}

/** A kubeconfig that authenticates with a ServiceAccount token: what many clusters hand developers. */
async function tokenKubeconfig(name: string, namespace: string): Promise<string> {
  const token = (await kubectlOk(['-n', ids.name, 'create', 'token', name, '--duration=2h'])).trim();
  const base = parse(readFileSync(ws.kubeconfig, 'utf8')) as { clusters: Array<{ name: string; cluster: Record<string, unknown> }> };
  const cluster = base.clusters[0]!;
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'tp-local', cluster: cluster.cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'tp-local', user: name, namespace } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return file;
}

const rbac = () => `
apiVersion: v1
kind: ServiceAccount
metadata: {name: alice, namespace: ${ids.name}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bob, namespace: ${ids.name}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: carol, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tp-client-${ids.name}, namespace: ${MANAGER_NS}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-client}
subjects:
- {kind: ServiceAccount, name: alice, namespace: ${ids.name}}
- {kind: ServiceAccount, name: bob, namespace: ${ids.name}}
- {kind: ServiceAccount, name: carol, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-edit, namespace: ${A.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: ServiceAccount, name: alice, namespace: ${ids.name}}
- {kind: ServiceAccount, name: bob, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-tp-user, namespace: ${A.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-user}
subjects:
- {kind: ServiceAccount, name: alice, namespace: ${ids.name}}
- {kind: ServiceAccount, name: bob, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-view, namespace: ${B.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: bob, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tp-admin-${ids.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-admin}
subjects:
- {kind: ServiceAccount, name: carol, namespace: ${ids.name}}
`;

test.before(async () => {
  await clusterEnv();
  A = await testNamespace('ida');
  B = await testNamespace('idb');
  ids = await testNamespace('tpid');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-id-'));
  const admin = tpRunner({ netns: WS, dir: join(dir, 'admin'), kubeconfig: ws.kubeconfig });
  const up = await admin(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  await applyYaml(rbac());
  await applyYaml(echoWorkload(A.name) + '---' + echoWorkload(A.name, 'client', 1) + '---' + echoWorkload(B.name, 'echo', 1));
  for (const [ns, d] of [
    [A.name, 'echo'],
    [A.name, 'client'],
    [B.name, 'echo'],
  ] as const)
    await waitAvailable(ns, d);
  kube.alice = await tokenKubeconfig('alice', A.name);
  kube.bob = await tokenKubeconfig('bob', A.name);
  kube.carol = await tokenKubeconfig('carol', A.name);
  alice = tpRunner({ netns: WS, dir: join(dir, 'alice'), kubeconfig: kube.alice });
  bob = tpRunner({ netns: WS, dir: join(dir, 'bob'), kubeconfig: kube.bob });
  for (const [r, port] of [
    [alice, 1180],
    [bob, 1181],
  ] as const) {
    const c = await r(['connect', '--socks', `127.0.0.1:${port}`]);
    if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
  }
  handlers.push(background('node', ['-e', HANDLER(9011, 'local-alice')], WS), background('node', ['-e', HANDLER(9012, 'local-bob')], WS));
  await new Promise((r) => setTimeout(r, 500));
});

test.after.always(async () => {
  for (const h of handlers) h.kill();
  await alice?.(['quit']);
  await bob?.(['quit']);
  await kubectl(['delete', 'clusterrolebinding', `tp-admin-${ids?.name}`]);
  await kubectl(['-n', MANAGER_NS, 'delete', 'rolebinding', `tp-client-${ids?.name}`]);
  for (const n of [A, B, ids]) await n?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

const sessionOf = async (r: TpRunner) =>
  JSON.parse((await r(['status', '--output', 'json'])).stdout) as { session?: string; user?: string };

test.serial('#11: each user connects as who the cluster says they are; the session object holds only a hash', async (t) => {
  const s = await sessionOf(alice);
  t.is(s.user, user('alice'));
  const obj = JSON.parse(await kubectlOk(['-n', MANAGER_NS, 'get', 'session', s.session!, '-o', 'json'])) as {
    spec: Record<string, unknown>;
  };
  t.deepEqual(Object.keys(obj.spec).sort(), ['clientVersion', 'label', 'owner', 'secretHash']);
  t.regex(String(obj.spec.secretHash), /^sha256:[0-9a-f]{64}$/);
  t.is((obj.spec.owner as { username: string }).username, user('alice'));
  const status = (await alice(['status', '--output', 'json'])).stdout;
  t.notRegex(status, /secret/i, 'tp status shows no secret');
  const table = await kubectlOk(['-n', MANAGER_NS, 'get', 'sessions']);
  t.regex(table.split('\n')[0]!, /NAME\s+OWNER\s+LABEL\s+LAST SEEN\s+AGE/);
});

test.serial('#11: without tp-user in a namespace, engaging there is refused with one sentence naming the permission', async (t) => {
  const r = await bob(['intercept', 'echo', '-n', B.name, '--port', '9012:http', '--mount', 'false']);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    new RegExp(
      `^tp: ${user('bob')} may not engage workloads in namespace ${B.name}: creating engagements\\.tp\\.dev there is forbidden; ask your cluster admin for the tp-user role`,
    ),
  );
  t.regex(r.stderr, /tp-user/);
  // What bob may do in A works: list.
  const list = await bob(['list', '-n', A.name, '--output', 'json']);
  t.is(list.code, 0, list.stderr);
});

test.serial('#11: an owner that is not the requesting user is refused at admission', async (t) => {
  const victim = (await sessionOf(alice)).session!;
  const forged = `
apiVersion: tp.dev/v1
kind: Engagement
metadata: {name: forged, namespace: ${A.name}, labels: {tp.dev/manager-namespace: ${MANAGER_NS}}}
spec:
  type: intercept
  workload: {name: echo}
  ports: [http]
  owner: {username: "${user('alice')}", groups: [system:serviceaccounts, "system:serviceaccounts:${ids.name}", system:authenticated]}
  session: {name: ${victim}, namespace: ${MANAGER_NS}}
`;
  const r = await kubectl(['create', '-f', '-'], { kubeconfig: kube.bob, netns: WS, input: forged });
  t.not(r.code, 0);
  t.regex(r.stderr, /must be the user who creates it: system:serviceaccount:\S+:bob/);
  const s = await kubectl(['create', '-f', '-'], {
    kubeconfig: kube.bob,
    netns: WS,
    input: `apiVersion: tp.dev/v1\nkind: Session\nmetadata: {name: forged-session, namespace: ${MANAGER_NS}}\nspec: {owner: {username: "${user('alice')}"}, label: x, secretHash: "sha256:${'0'.repeat(64)}"}\n`,
  });
  t.not(s.code, 0);
  t.regex(s.stderr, /must be the user who creates it/);
});

test.serial(
  '#11: two users intercept one workload with different header values; each gets their own, the rest reach the app',
  async (t) => {
    const a = await alice(['intercept', 'echo', '--port', '9011:http', '--http-header', 'x-dev=alice', '--mount', 'false']);
    t.is(a.code, 0, a.stderr);
    const b = await bob(['intercept', 'echo', '--port', '9012:http', '--http-header', 'x-dev=bob', '--mount', 'false']);
    t.is(b.code, 0, b.stderr);
    t.regex(b.stdout, /as "echo-bob"/, 'the name alice took is not available to bob: his gets his name');
    t.is(await get('http://echo/a', { 'x-dev': 'alice' }), 'local-alice GET /a');
    t.is(await get('http://echo/b', { 'x-dev': 'bob' }), 'local-bob GET /b');
    t.regex(await get('http://echo/n'), /^pod: echo-/);
    const table = await kubectlOk(['-n', A.name, 'get', 'engagements'], { kubeconfig: kube.carol, netns: WS });
    t.regex(table.split('\n')[0]!, /NAME\s+TYPE\s+WORKLOAD\s+OWNER\s+PORTS\s+FILTER\s+STATE\s+AGE/);
    t.regex(table, new RegExp(`echo\\s+intercept\\s+echo\\s+${user('alice')}\\s+8080/http\\s+x-dev=alice\\s+Active`));
    t.regex(table, new RegExp(`echo-bob\\s+intercept\\s+echo\\s+${user('bob')}\\s+8080/http\\s+x-dev=bob\\s+Active`));
    const list = JSON.parse((await bob(['list', '--output', 'json'])).stdout) as {
      workloads: Array<{ name: string; engagements?: Array<Record<string, unknown>> }>;
    };
    const es = list.workloads.find((w) => w.name === 'echo')!.engagements!;
    t.deepEqual(
      es.map((e) => e.owner),
      [user('bob'), user('alice')],
      "one's own first",
    );
    for (const e of es) t.false('session' in e || 'sessionId' in e, 'no session names or ids are listed');
  },
);

test.serial("#11: bob can neither leave nor delete alice's engagement; only his own", async (t) => {
  t.is((await bob(['leave', 'echo'])).code, 0, 'his own, by the name he engaged with');
  const r = await bob(['leave', 'echo']);
  t.is(r.code, 1);
  t.is(r.stderr.trim(), `tp: echo belongs to ${user('alice')}; ask them or an admin (kubectl delete engagement echo -n ${A.name}).`);
  const k = await kubectl(['-n', A.name, 'delete', 'engagement', 'echo'], { kubeconfig: kube.bob, netns: WS });
  t.not(k.code, 0);
  t.regex(k.stderr, new RegExp(`echo belongs to ${user('alice')}; ask them or an admin`));
  t.is(await get('http://echo/still-alice', { 'x-dev': 'alice' }), 'local-alice GET /still-alice');
});

test.serial("#11: a second user cannot receive, follow or mount the first user's engagement by any route of the protocol", async (t) => {
  const victim = (await sessionOf(alice)).session!;
  const script = join(REPO_ROOT, 'dist', 'test', 'e2e', 'engage', 'attacker.js');
  const attacker = background(
    process.execPath,
    [
      script,
      JSON.stringify({
        kubeconfig: kube.bob,
        managerNamespace: MANAGER_NS,
        victimSession: victim,
        namespace: A.name,
        engagement: 'echo',
        listenMs: 8000,
      }),
    ],
    WS,
  );
  let out = '';
  attacker.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  attacker.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually('the attacker listening', 60_000, async () => (out.includes('"listening"') ? true : undefined));
  // The victim's intercepted requests flow while the attacker listens.
  for (let i = 0; i < 3; i++) t.is(await get(`http://echo/v${i}`, { 'x-dev': 'alice' }), `local-alice GET /v${i}`);
  await new Promise<void>((r) => attacker.once('exit', () => r()));
  const lines = out
    .trim()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const outcome = (p: string) => String(lines.find((l) => l.probe === p)?.outcome);
  t.log(lines.map((l) => JSON.stringify(l)).join('\n'));
  t.regex(outcome('watch-before-hello'), /^refused E_UNAUTHENTICATED/);
  t.regex(outcome('sftp-before-hello'), /^refused forbidden/);
  t.regex(outcome('dial-before-hello'), /^refused forbidden/);
  t.regex(outcome('hello-as-victim-guessed-secret'), /^refused E_SESSION_UNKNOWN/);
  t.regex(outcome('hello-as-victim-with-hash'), /^refused E_SESSION_UNKNOWN/);
  t.is(outcome('hello-as-self'), 'ACCEPTED');
  t.regex(outcome('watch-victim-engagement'), /^refused E_NOT_YOURS/);
  t.regex(outcome('sftp-victim-engagement'), /^refused forbidden/);
  t.regex(outcome('pair-guessed-token'), /^refused forbidden/);
  t.deepEqual(
    lines.find((l) => 'dials' in l),
    { dials: 0 },
    "none of the victim's connections reached the attacker",
  );
});

test.serial("#11: a pod holding its own token, claiming another namespace's workload, is refused as an agent", async (t) => {
  const config = JSON.stringify({
    version: 1,
    workload: { kind: 'Deployment', name: 'echo', namespace: A.name },
    container: 'echo',
    replace: false,
    ports: [{ containerPort: 8080, protocol: 'TCP', agentPort: 9900 }],
    manager: { host: `traffic-manager.${MANAGER_NS}`, port: 8082 },
  });
  const script = `const { TunnelClient } = await import('/app/dist/lib/proxy/tunnel/client.js');
    const token = (await import('node:fs')).readFileSync('/var/run/secrets/tp.dev/token', 'utf8').trim();
    const c = await TunnelClient.connect({ host: 'traffic-manager.${MANAGER_NS}', port: 8082, peer: 'agent' });
    try { await c.call('agentHello', { token, podName: 'echo-fake', podIP: '', configHash: '', env: {}, mounts: [], version: 'x' }); console.log('ACCEPTED'); }
    catch (e) { console.log('REFUSED ' + e.code + ' ' + e.message); }
    try { await c.openStream('tp-engaged', '/engaged/x/8080?peer=1', AbortSignal.timeout(5000)); console.log('STREAM ACCEPTED'); } catch (e) { console.log('STREAM REFUSED ' + e.failure); }
    process.exit(0);`;
  const env = await clusterEnv();
  // A workload of its own in B (so the pod has an owner), whose pods claim A's echo.
  await applyYaml(`
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: impostor, namespace: ${B.name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: impostor}}
  template:
    metadata:
      labels: {app: impostor}
      annotations: {tp.dev/agent-config: '${config}'}
    spec:
      containers:
      - name: impostor
        image: tp.local/tp:${env.IMAGE_TAG}
        imagePullPolicy: IfNotPresent
        command: [node, --input-type=module, -e, ${JSON.stringify(script)}]
        volumeMounts: [{name: token, mountPath: /var/run/secrets/tp.dev}]
      volumes:
      - name: token
        projected: {sources: [{serviceAccountToken: {path: token, audience: tp-traffic-manager, expirationSeconds: 3600}}]}
`);
  const logs = await eventually('the impostor to have tried', 90_000, async () => {
    const l = await kubectl(['-n', B.name, 'logs', 'rs/impostor']);
    return l.stdout.includes('STREAM') ? l.stdout : undefined;
  });
  await kubectl(['-n', B.name, 'delete', 'rs', 'impostor', '--wait=false']);
  t.regex(
    logs,
    new RegExp(
      `^REFUSED E_AGENT_UNAUTHENTICATED the agent was refused: pod ${B.name}/impostor-\\w+ claims to be an agent of deployment/echo in namespace ${A.name}, but it belongs to replicaset/impostor in ${B.name}$`,
      'm',
    ),
  );
  t.regex(logs, /^STREAM REFUSED forbidden/m, 'nothing else is served to it');
  const manager = await kubectlOk(['-n', MANAGER_NS, 'logs', 'deploy/traffic-manager']);
  t.regex(manager, /"msg":"agent refused".*impostor/, 'the refusal is logged with the reason');
});

test.serial(
  "#11: an admin ends alice's engagement with kubectl; traffic returns to the app within 10 s; alice's tp list says who",
  async (t) => {
    const del = await kubectl(['-n', A.name, 'delete', 'engagement', 'echo'], { kubeconfig: kube.carol, netns: WS });
    t.is(del.code, 0, del.stderr);
    const started = Date.now();
    await eventually("the app to answer alice's header again", 10_000, async () =>
      /^pod: echo-/.test(await get('http://echo/after-admin', { 'x-dev': 'alice' })) ? true : undefined,
    );
    t.log(`the app answered ${Date.now() - started} ms after the delete`);
    const list = await alice(['list']);
    t.regex(list.stdout, new RegExp(`Your intercept echo of echo ended at \\S+: deleted by ${user('carol')}`));
  },
);

test.serial('#11: kill -9 of the manager during a live intercept; the intercept works again with no user action', async (t) => {
  const r = await alice(['intercept', 'echo', '--port', '9011:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  t.is(await get('http://echo/before'), 'local-alice GET /before');
  const pids = execFileSync('pgrep', ['-f', 'dist/lib/manager/main.js']).toString().trim().split('\n');
  t.is(pids.length, 1, 'one manager process on this machine');
  process.kill(Number(pids[0]), 'SIGKILL');
  const started = Date.now();
  await eventually('the intercept back after kill -9 of the manager', 120_000, async () =>
    (await get('http://echo/after-kill')) === 'local-alice GET /after-kill' ? true : undefined,
  );
  t.log(`intercepted again ${Math.round((Date.now() - started) / 1000)} s after kill -9 of the manager`);
  t.is((await kubectlOk(['-n', A.name, 'get', 'engagement', 'echo', '-o', 'jsonpath={.status.state}'])).trim(), 'Active');
  t.is((await alice(['leave', 'echo'])).code, 0);
});

test.serial('#11: a session whose client died expires, and its objects are deleted with it', async (t) => {
  const r = await bob(['intercept', 'echo', '--port', '9012:http', '--mount', 'false']);
  t.is(r.code, 0, r.stderr);
  const { session } = await sessionOf(bob);
  const pid = (JSON.parse((await bob(['status', '--output', 'json'])).stdout) as { daemonPid: number }).daemonPid;
  process.kill(pid, 'SIGKILL');
  const started = Date.now();
  await eventually("bob's session and engagement to be deleted", 60_000, async () => {
    const s = await kubectl(['-n', MANAGER_NS, 'get', 'session', session!]);
    const e = await kubectl(['-n', A.name, 'get', 'engagements', '-o', 'name']);
    return s.code !== 0 && !e.stdout.includes(`echo`) ? true : undefined;
  });
  t.log(`session and engagement gone ${Math.round((Date.now() - started) / 1000)} s after kill -9 of the client`);
  t.regex(await get('http://echo/app-again'), /^pod: echo-/);
  await sh('true', []);
});
