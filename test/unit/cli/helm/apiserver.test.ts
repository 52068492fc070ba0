// tp's installer against a real kube-apiserver (etcd + apiserver only, envtest-style: no kubelet,
// so nothing becomes Available and the installer runs with wait=false), handing the release back
// and forth with the real helm binary. Skipped when the binaries are not built.

import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { install, uninstall, upgrade } from '../../../../lib/cli/helm/install.js';

const run = promisify(execFile);
const CHART = fileURLToPath(new URL('../../../../../helm/', import.meta.url));
const KUBE_BIN = process.env.TP_KUBE_BIN_DIR ?? join(homedir(), '.cache/tp/k8s-v1.34.4');
const HELM = process.env.TP_HELM_BIN ?? join(homedir(), '.cache/tp/helm-v3.22.0/helm');
const ETCD = process.env.TP_ETCD_BIN ?? '/usr/bin/etcd';
const APISERVER = join(KUBE_BIN, 'kube-apiserver');
const ready = [HELM, ETCD, APISERVER].every((p) => existsSync(p));
if (!ready) console.warn(`apiserver test skipped: needs ${APISERVER}, ${ETCD} and ${HELM}`);

const procs: ChildProcess[] = [];
let dir = '';
let kubeconfig = '';
let kc: k8s.KubeConfig;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

test.before(async () => {
  if (!ready) return;
  dir = mkdtempSync(join(tmpdir(), 'tp-helm-apiserver-'));
  const [client, peer, secure] = [await freePort(), await freePort(), await freePort()];
  execFileSync('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048'], { stdio: 'ignore' });
  execFileSync('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'tokens.csv'), 'tp-test-token,admin,admin,system:masters\n');
  procs.push(spawn(ETCD, ['--data-dir', join(dir, 'etcd'), '--listen-client-urls', `http://127.0.0.1:${client}`,
    '--advertise-client-urls', `http://127.0.0.1:${client}`, '--listen-peer-urls', `http://127.0.0.1:${peer}`],
  { stdio: 'ignore' }));
  procs.push(spawn(APISERVER, [`--etcd-servers=http://127.0.0.1:${client}`, `--secure-port=${secure}`,
    '--bind-address=127.0.0.1', `--cert-dir=${join(dir, 'certs')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=AlwaysAllow', `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.96.0.0/16', '--disable-admission-plugins=ServiceAccount'], { stdio: 'ignore' }));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: t',
    `clusters: [{name: t, cluster: {server: "https://127.0.0.1:${secure}", insecure-skip-tls-verify: true}}]`,
    'users: [{name: t, user: {token: tp-test-token}}]',
    'contexts: [{name: t, context: {cluster: t, user: t}}]', ''].join('\n'));
  kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; ; i++) {
    try {
      await core.listNamespace();
      break;
    } catch (e) {
      if (i > 120) throw new Error(`kube-apiserver did not come up: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
});

test.after.always(async () => {
  // SIGKILL: the apiserver's graceful shutdown takes a minute, and this one holds nothing of value.
  await Promise.all(procs.reverse().map((p) => new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  })));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const helm = async (...args: string[]) =>
  (await run(HELM, [...args, '--kubeconfig', kubeconfig, '--namespace', 'tp-system'])).stdout;

const maybe = ready ? test.serial : test.skip;

maybe('tp installs, helm reads and upgrades the release, tp upgrades after helm, tp uninstalls', async (t) => {
  const base = { kubeConfig: kc, chartDir: CHART, wait: false };
  const s = await install({ ...base, values: { set: ['logLevel=debug'] } });
  t.true(s.namespaceCreated);

  const list = JSON.parse(await helm('list', '--output', 'json')) as { name: string; revision: string; status: string; chart: string }[];
  t.like(list[0], { name: 'traffic-manager', revision: '1', status: 'deployed', chart: 'tp-0.1.0' });
  t.regex(await helm('get', 'values', 'traffic-manager'), /logLevel: debug/);

  await helm('upgrade', 'traffic-manager', CHART, '--set', 'logLevel=trace');
  const u = await upgrade({ ...base, values: { set: ['image.tag=0.9.0'] } });
  t.is(u.revision, 3);
  const history = JSON.parse(await helm('history', 'traffic-manager', '--output', 'json')) as { revision: number; status: string }[];
  t.deepEqual(history.map((h) => [h.revision, h.status]), [[1, 'superseded'], [2, 'superseded'], [3, 'deployed']]);

  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const d = await apps.readNamespacedDeployment({ name: 'traffic-manager', namespace: 'tp-system' });
  t.is(d.spec?.template.spec?.containers[0]?.image, 'tp.local/tp:0.9.0');
  t.is(d.metadata?.annotations?.['meta.helm.sh/release-name'], 'traffic-manager');

  const un = await uninstall({ kubeConfig: kc });
  t.is(un.deleted.length, 8);
  t.deepEqual(JSON.parse(await helm('list', '--output', 'json')), []);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const roles = await rbac.listClusterRole();
  t.false(roles.items.some((r) => r.metadata?.name === 'tp-traffic-manager-tp-system'));
});
