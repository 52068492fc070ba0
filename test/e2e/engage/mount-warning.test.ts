// Tier 3 (#15): a mount that fails is a warning and the engagement stays. A workload with a
// volume is ingested with --mount pointing at a directory that is not empty (sshfs would hide its
// files, so tp refuses it); the engagement is still active, its environment is written, and the
// warning names the cause and the fix. Not run by the author (HELPERS.md): the integrator runs it.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyYaml,
  clusterEnv,
  kubectlOk,
  makeWorkstation,
  testNamespace,
  tpRunner,
  waitAvailable,
  type TpRunner,
} from '../../helpers/cluster.js';

const WS = 'tpws-mountw';
let ns: Awaited<ReturnType<typeof testNamespace>>;
let ws: Awaited<ReturnType<typeof makeWorkstation>>;
let tp: TpRunner;
let dir: string;

const WITH_VOLUME = (namespace: string, tag: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: vol, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: vol}}
  template:
    metadata: {labels: {app: vol}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: vol
        image: tp.local/echo:${tag}
        env: [{name: GREETING, value: hello}]
        ports: [{name: http, containerPort: 8080}]
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
`;

test.before(async () => {
  const env = await clusterEnv();
  ns = await testNamespace('mountw');
  ws = await makeWorkstation(WS);
  dir = mkdtempSync(join(tmpdir(), 'tp-e2e-mountw-'));
  tp = tpRunner({ netns: WS, dir, kubeconfig: ws.kubeconfig });
  await applyYaml(WITH_VOLUME(ns.name, env.IMAGE_TAG));
  const up = await tp(['helm', 'upgrade', '--install'], { timeoutMs: 200_000 });
  if (up.code !== 0) throw new Error(`tp helm upgrade --install: ${up.stderr}`);
  await waitAvailable(ns.name, 'vol');
  const c = await tp(['connect', '--socks', '127.0.0.1:1091', '-n', ns.name]);
  if (c.code !== 0) throw new Error(`tp connect: ${c.stderr}`);
});

test.after.always(async () => {
  await tp?.(['uninstall', '--all-agents', '-n', ns.name]);
  await tp?.(['quit']);
  await ws?.remove();
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial(
  '#15: ingest with a mount point that is not empty: a warning with the cause and the fix, and the engagement stays',
  async (t) => {
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'mine.txt'), 'keep me');
    const envFile = join(dir, 'vol.env');
    const r = await tp(['ingest', 'vol', '-n', ns.name, '--mount', full, '--env-file', envFile], { timeoutMs: 200_000 });
    t.is(r.code, 0, r.stderr);
    t.regex(
      r.stderr,
      /^tp: warning: the volumes of vol are not mounted: cannot mount on \S+full: the directory is not empty; name an empty directory/m,
    );
    t.notRegex(r.stdout, /volumes mounted at/);
    t.regex(readFileSync(envFile, 'utf8'), /^GREETING=hello$/m, 'the environment still came');
    t.is(readFileSync(join(full, 'mine.txt'), 'utf8'), 'keep me');
    const list = JSON.parse((await tp(['list', '-n', ns.name, '-o', 'json'])).stdout) as {
      workloads: Array<{ name: string; engagements?: Array<{ name: string }> }>;
    };
    t.true(list.workloads.find((w) => w.name === 'vol')?.engagements?.some((e) => e.name === 'vol') ?? false, 'the engagement is active');
    t.is((await tp(['leave', 'vol'])).code, 0);
    t.is((await kubectlOk(['-n', ns.name, 'get', 'engagements', '-o', 'name'])).trim(), '');
  },
);
