// A real kube-apiserver on etcd, envtest-style (no kubelet: objects are stored, pods never run),
// for tests of code that talks to the API: the chart installer and the agent injector. The
// binaries are the ones scripts/setup builds; declare such tests with
// testNeeding(APISERVER_BINARIES) (binaries.ts), which fails them in CI when one is missing.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ETCD, KUBE_APISERVER, missing, missingSentence, type Binary } from './binaries.js';

export const APISERVER_BINARIES: Binary[] = [ETCD, KUBE_APISERVER];

export interface TestApiServer {
  kc: k8s.KubeConfig;
  kubeconfig: string;
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      })
      .on('error', reject);
  });
}

/** Starts etcd and kube-apiserver (token auth, AlwaysAllow, no ServiceAccount admission) and
 * resolves once the API answers. `extraArgs` go to the apiserver. */
export async function startApiServer(prefix: string, extraArgs: string[] = []): Promise<TestApiServer> {
  const absent = missing(APISERVER_BINARIES);
  if (absent.length > 0) throw new Error(missingSentence(absent));
  const dir = mkdtempSync(join(tmpdir(), `tp-${prefix}-`));
  const procs: ChildProcess[] = [];
  const stop = async () => {
    // SIGKILL: the apiserver's graceful shutdown takes a minute, and this one holds nothing of value.
    await Promise.all(
      procs.reverse().map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [client, peer, secure] = [await freePort(), await freePort(), await freePort()];
    execFileSync('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048'], { stdio: 'ignore' });
    execFileSync('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')], { stdio: 'ignore' });
    writeFileSync(join(dir, 'tokens.csv'), 'tp-test-token,admin,admin,system:masters\n');
    procs.push(
      spawn(
        ETCD.path,
        [
          '--data-dir',
          join(dir, 'etcd'),
          '--listen-client-urls',
          `http://127.0.0.1:${client}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${client}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${peer}`,
        ],
        { stdio: 'ignore' },
      ),
    );
    procs.push(
      spawn(
        KUBE_APISERVER.path,
        [
          `--etcd-servers=http://127.0.0.1:${client}`,
          `--secure-port=${secure}`,
          '--bind-address=127.0.0.1',
          `--cert-dir=${join(dir, 'certs')}`,
          `--token-auth-file=${join(dir, 'tokens.csv')}`,
          '--authorization-mode=AlwaysAllow',
          `--service-account-key-file=${join(dir, 'sa.pub')}`,
          `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
          '--service-account-issuer=https://kubernetes.default.svc',
          '--service-cluster-ip-range=10.96.0.0/16',
          '--disable-admission-plugins=ServiceAccount',
          ...extraArgs,
        ],
        { stdio: 'ignore' },
      ),
    );
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: t',
        `clusters: [{name: t, cluster: {server: "https://127.0.0.1:${secure}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: t, user: {token: tp-test-token}}]',
        'contexts: [{name: t, context: {cluster: t, user: t}}]',
        '',
      ].join('\n'),
    );
    const kc = new k8s.KubeConfig();
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
    return { kc, kubeconfig, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
