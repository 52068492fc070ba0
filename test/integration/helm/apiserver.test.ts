// tp's installer against a real kube-apiserver (etcd + apiserver only, envtest-style: no kubelet,
// so nothing becomes Available and the installer runs with wait=false), handing the release back
// and forth with the real helm binary. Without the binaries: a failure in CI, a skip elsewhere
// (test/helpers/binaries.ts).

import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { install, uninstall, upgrade } from '../../../lib/helm/install.js';
import { APISERVER_BINARIES, startApiServer, type TestApiServer } from '../../helpers/apiserver.js';
import { HELM, missing, testNeeding } from '../../helpers/binaries.js';

const run = promisify(execFile);
const CHART = fileURLToPath(new URL('../../../../helm/', import.meta.url));
const NEEDS = [...APISERVER_BINARIES, HELM];
const ready = missing(NEEDS).length === 0;

let api: TestApiServer | undefined;
let kubeconfig = '';
let kc: k8s.KubeConfig;

test.before(async () => {
  if (!ready) return;
  api = await startApiServer('helm-apiserver');
  ({ kc, kubeconfig } = api);
});

test.after.always(async () => {
  await api?.stop();
});

const helm = async (...args: string[]) =>
  (await run(HELM.path, [...args, '--kubeconfig', kubeconfig, '--namespace', 'tp-system'])).stdout;

const maybe = testNeeding(NEEDS, { serial: true });

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
  // Everything the last revision installed is deleted, and nothing was gone before (not a count:
  // the chart grows).
  t.deepEqual([...un.deleted].sort(), [...u.resources].sort());
  t.deepEqual(un.alreadyGone, []);
  t.deepEqual(JSON.parse(await helm('list', '--output', 'json')), []);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const roles = await rbac.listClusterRole();
  t.false(roles.items.some((r) => r.metadata?.name === 'tp-traffic-manager-tp-system'));
});
