// Tier 3, issue 16: clusters as teams run them. A developer with rights only in namespace A (edit
// and tp-user there, tp-client in the manager's namespace, nothing cluster-wide — a
// ServiceAccount-token kubeconfig, as many clusters hand out) connects with the TUN device and
// --mapped-namespaces A: Services in A resolve by name and answer, names in B do not resolve,
// `tp list -n B` is refused with a sentence, and every DNS type works through the workstation's
// own resolver as cluster DNS answers it (SRV of a Service port, PTR of a pod IP, the SOA of a
// negative answer). The local cluster's CoreDNS serves SRV and the reverse zones
// (scripts/cluster-addons/coredns.yaml: `kubernetes cluster.local in-addr.arpa ip6.arpa`).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  applyYaml,
  clusterEnv,
  echoWorkload,
  kubectl,
  kubectlOk,
  makeWorkstation,
  sh,
  testNamespace,
  tpRunner,
  waitAvailable,
  workstationSnapshot,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-ns';
const MANAGER_NS = 'tp-system';
let A: Awaited<ReturnType<typeof testNamespace>>;
let B: Awaited<ReturnType<typeof testNamespace>>;
let ids: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let dir: string;
let dana: TpRunner;
let podA = '';
let podB = '';
let dnsIP = '';
let before: Record<string, string>;

const inWs = (cmd: string, args: string[], timeoutMs = 20_000) => sh(cmd, args, { netns: WS, timeoutMs });
/** dig through the workstation's resolver (/etc/resolv.conf: what every program uses). */
const dig = async (...args: string[]) => (await inWs('dig', ['+time=3', '+tries=1', ...args])).stdout;
/** dig of the cluster's DNS Service itself, through the TUN: what a pod would be told. */
const digCluster = async (...args: string[]) => (await inWs('dig', [`@${dnsIP}`, '+time=3', '+tries=1', ...args])).stdout;

/** A kubeconfig that authenticates with a ServiceAccount token. */
async function tokenKubeconfig(name: string, namespace: string): Promise<string> {
  const token = (await kubectlOk(['-n', ids.name, 'create', 'token', name, '--duration=2h'])).trim();
  const base = parse(readFileSync(ws.kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, unknown> }> };
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'tp-local', cluster: base.clusters[0]!.cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'tp-local', user: name, namespace } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return file;
}

// dana: tp-client in the manager's namespace, edit and tp-user in A; nothing in B, nothing
// cluster-wide (no namespaces, nodes or Services elsewhere).
const rbac = () => `
apiVersion: v1
kind: ServiceAccount
metadata: {name: dana, namespace: ${ids.name}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tp-client-${ids.name}, namespace: ${MANAGER_NS}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-client}
subjects: [{kind: ServiceAccount, name: dana, namespace: ${ids.name}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dana-edit, namespace: ${A.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: dana, namespace: ${ids.name}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dana-tp-user, namespace: ${A.name}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tp-user}
subjects: [{kind: ServiceAccount, name: dana, namespace: ${ids.name}}]
`;

const podIPOf = async (ns: string) =>
  (await kubectlOk(['-n', ns, 'get', 'pods', '-l', 'app=echo', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();

test.before(async () => {
  const env = await clusterEnv();
  dnsIP = env.DNS_SVC_IP;
  A = await testNamespace('nsa');
  B = await testNamespace('nsb');
  ids = await testNamespace('tpns');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-ns-'));
  const admin = tpRunner({ netns: WS, dir: join(dir, 'admin'), kubeconfig: ws.kubeconfig });
  const up = await admin(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  await applyYaml(rbac());
  await applyYaml(echoWorkload(A.name, 'echo', 1) + '---' + echoWorkload(B.name, 'echo', 1));
  for (const ns of [A.name, B.name]) await waitAvailable(ns, 'echo');
  podA = await podIPOf(A.name);
  podB = await podIPOf(B.name);
  dana = tpRunner({ netns: WS, dir: join(dir, 'dana'), kubeconfig: await tokenKubeconfig('dana', A.name) });
  dana.env.TP_ROOT_RUNTIME_DIR = join(dir, 'root-run');
  before = await workstationSnapshot(WS);
});

test.after.always(async () => {
  await dana?.(['quit', '-s']);
  await kubectl(['-n', MANAGER_NS, 'delete', 'rolebinding', `tp-client-${ids?.name}`]);
  for (const n of [A, B, ids]) await n?.remove();
  await ws?.remove();
  if (dir && !process.env.TP_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
});

const readLog = (name: string) => {
  try {
    return `\n--- ${name}\n${readFileSync(join(dana.logDir, name), 'utf8').slice(-4000)}`;
  } catch {
    return '';
  }
};

test.serial('#16: the namespace-only user has no cluster-wide right (the premise of this file)', async (t) => {
  const who = `system:serviceaccount:${ids.name}:dana`;
  for (const [verb, res, ns] of [
    ['list', 'namespaces', ''],
    ['list', 'nodes', ''],
    ['get', 'services', B.name],
    ['list', 'services', ''],
  ] as const) {
    const r = await kubectl(['auth', 'can-i', verb, res, ...(ns ? ['-n', ns] : ['--all-namespaces']), '--as', who]);
    t.is(r.stdout.trim(), 'no', `${verb} ${res} ${ns || 'cluster-wide'}`);
  }
});

test.serial('#16: tp connect (VIF) --mapped-namespaces A as a namespace-only user; tp status and -o json show the mapping', async (t) => {
  const r = await dana(['connect', '--mapped-namespaces', A.name]);
  t.is(r.code, 0, r.stderr + readLog('user-daemon.log') + readLog('root-daemon.log'));
  t.regex(r.stdout, new RegExp(`Mapped namespaces ${A.name}:`));
  const st = JSON.parse((await dana(['status', '-o', 'json'])).stdout) as {
    mappedNamespaces?: string[];
    dnsNamespaces?: string[];
    vif?: { interface: string };
  };
  t.deepEqual(st.mappedNamespaces, [A.name]);
  t.deepEqual(st.dnsNamespaces, [A.name]);
  t.is(st.vif?.interface, 'tp0');
  t.regex((await dana(['status'])).stdout, new RegExp(`^Limited to: +namespaces ${A.name} \\(--mapped-namespaces\\)$`, 'm'));
});

test.serial('#16: Services in A are reached by name; names in B do not resolve', async (t) => {
  for (const url of [
    `http://echo.${A.name}/by-pseudo-tld`,
    'http://echo/by-short-name',
    `http://echo.${A.name}.svc.cluster.local/by-fqdn`,
  ]) {
    const c = await inWs('curl', ['-sS', '--max-time', '8', url]);
    t.is(c.code, 0, `${url}: ${c.stderr}`);
    t.regex(c.stdout, /^pod: echo-/m, url);
  }
  t.not((await inWs('getent', ['hosts', `echo.${B.name}.svc.cluster.local`])).code, 0);
  const nx = await dig(`echo.${B.name}.svc.cluster.local`);
  t.regex(nx, /status: NXDOMAIN/, 'B is not there for dana, as a namespace that does not exist');
  t.regex(nx, /^cluster\.local\.\s+\d+\s+IN\s+SOA\s/m, 'with the SOA of any NXDOMAIN');
  t.not(
    (await inWs('curl', ['-sS', '--max-time', '5', `http://echo.${B.name}/`])).code,
    0,
    'B as a pseudo-TLD is not mapped: not a cluster name',
  );
});

test.serial('#16: tp list -n A works; tp list -n B is refused with a sentence naming the way out', async (t) => {
  const a = await dana(['list', '-n', A.name, '-o', 'json']);
  t.is(a.code, 0, a.stderr);
  t.deepEqual(
    (JSON.parse(a.stdout) as { workloads: Array<{ name: string }> }).workloads.map((w) => w.name),
    ['echo'],
  );
  const b = await dana(['list', '-n', B.name]);
  t.is(b.code, 1);
  t.regex(b.stderr, new RegExp(`^tp: namespace ${B.name} is not one of this connection's mapped namespaces \\(${A.name}\\)`));
  t.regex(b.stderr, new RegExp(`--mapped-namespaces ${A.name},${B.name}`));
});

test.serial('#16: dig -t SRV of a Service port through the system resolver answers as cluster DNS does', async (t) => {
  const name = `_http._tcp.echo.${A.name}.svc.cluster.local`;
  const viaTp = (await dig('+short', '-t', 'SRV', name)).trim();
  t.regex(viaTp, new RegExp(`^0 100 80 echo\\.${A.name}\\.svc\\.cluster\\.local\\.$`));
  t.is(viaTp, (await digCluster('+short', '-t', 'SRV', name)).trim());
});

test.serial(
  '#16: dig -x of a pod IP through the system resolver answers as cluster DNS does; a pod of B is NXDOMAIN for dana',
  async (t) => {
    const viaTp = (await dig('+short', '-x', podA)).trim();
    t.regex(viaTp, new RegExp(`\\.echo\\.${A.name}\\.svc\\.cluster\\.local\\.$`));
    t.is(viaTp, (await digCluster('+short', '-x', podA)).trim());
    t.regex(await dig('-x', podB), /status: NXDOMAIN/, 'its name is in B');
  },
);

test.serial(
  '#16: without mapped namespaces the namespace-only user still connects (--socks); the manager says which namespaces resolve',
  async (t) => {
    t.is((await dana(['quit'])).code, 0);
    t.deepEqual(await workstationSnapshot(WS), before, 'quit left the workstation as it was');
    const r = await dana(['connect', '--socks', '127.0.0.1:1190']);
    t.is(r.code, 0, r.stderr + readLog('user-daemon.log'));
    const st = JSON.parse((await dana(['status', '-o', 'json'])).stdout) as { mappedNamespaces?: string[]; dnsNamespaces?: string[] };
    t.is(st.mappedNamespaces, undefined);
    t.deepEqual(st.dnsNamespaces, [A.name], 'only what dana may see, though she may not list namespaces');
    const ok = await inWs('curl', ['-sS', '--max-time', '8', '--socks5-hostname', '127.0.0.1:1190', `http://echo.${A.name}/`]);
    t.regex(ok.stdout, /^pod: echo-/m, ok.stderr);
    const hidden = await inWs('curl', ['-sS', '--max-time', '8', '--socks5-hostname', '127.0.0.1:1190', `http://echo.${B.name}/`]);
    t.not(hidden.code, 0, 'the proxy resolves names in B as not existing');
    t.is((await dana(['list', '-n', A.name])).code, 0);
    t.is((await dana(['quit'])).code, 0);
  },
);
