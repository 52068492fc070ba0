// #15: the kubeconfig as kubectl loads it, and each failure of the Kubernetes API as one sentence
// with its fix. Real files in a temporary directory; a real credential plugin (a shell script);
// a real request to a closed loopback port.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkCredentials, kubeFailure, loadKube } from '../../../lib/user/kube.js';
import { describeKubeError } from '../../../lib/common/kube-errors.js';
import { DaemonCallError } from '../../../lib/common/rpc/daemon.js';
import type { ErrorCode } from '../../../lib/common/errors.js';

function dir(t: { teardown(f: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tp-kube-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Cfg {
  clusters?: Array<[string, string, Record<string, unknown>?]>;
  users?: Array<[string, Record<string, unknown>]>;
  contexts?: Array<[string, string, string, string?]>;
  current?: string;
}
function kubeconfig(path: string, c: Cfg): string {
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: (c.clusters ?? []).map(([name, server, extra]) => ({ name, cluster: { server, ...extra } })),
      users: (c.users ?? []).map(([name, user]) => ({ name, user })),
      contexts: (c.contexts ?? []).map(([name, cluster, user, namespace]) => ({
        name,
        context: { cluster, user, ...(namespace ? { namespace } : {}) },
      })),
      ...(c.current ? { 'current-context': c.current } : {}),
    }),
  );
  return path;
}

const rejects = (t: import('ava').ExecutionContext, fn: () => unknown, code: ErrorCode, message: RegExp) => {
  const err = t.throws(fn) as DaemonCallError;
  t.is(err.code, code);
  t.regex(err.message, message);
  return err;
};

test('#15: KUBECONFIG files merge as kubectl merges them: per name the first file wins, current-context from the first that sets one', (t) => {
  const d = dir(t);
  const a = kubeconfig(join(d, 'a'), {
    clusters: [['shared', 'https://a.example:6443']],
    users: [['ua', { token: 'a' }]],
    contexts: [['ctx-a', 'shared', 'ua', 'team-a']],
  });
  const b = kubeconfig(join(d, 'b'), {
    clusters: [
      ['shared', 'https://b.example:6443'],
      ['only-b', 'https://ob.example'],
    ],
    users: [
      ['ua', { token: 'b' }],
      ['ub', { token: 'b' }],
    ],
    contexts: [
      ['ctx-a', 'only-b', 'ub'],
      ['ctx-b', 'only-b', 'ub'],
    ],
    current: 'ctx-b',
  });
  const c = kubeconfig(join(d, 'c'), { contexts: [['ctx-c', 'shared', 'ua']], current: 'ctx-c' });
  const target = loadKube({ kubeconfigEnv: [a, join(d, 'missing'), b, c].join(':') });
  t.is(target.context, 'ctx-b', 'a has no current-context; b is the first that sets one');
  t.is(target.kc.getCluster('shared')?.server, 'https://a.example:6443', 'a defines "shared" first');
  t.is(target.kc.getUser('ua')?.token, 'a');
  t.is(target.kc.getContextObject('ctx-a')?.cluster, 'shared', "the whole context entry is a's");
  t.deepEqual(
    target.kc
      .getContexts()
      .map((x) => x.name)
      .sort(),
    ['ctx-a', 'ctx-b', 'ctx-c'],
  );
  t.is(target.kubeconfig, [a, b, c].join(':'), 'the missing file is skipped, not an error');
  const withContext = loadKube({ kubeconfigEnv: [a, b].join(':'), context: 'ctx-a' });
  t.is(withContext.namespace, 'team-a');
  t.is(withContext.cluster, 'shared');
});

test('#15: relative certificate paths are relative to the file that names them', (t) => {
  const d = dir(t);
  mkdirSync(join(d, 'sub'));
  const f = kubeconfig(join(d, 'sub', 'config'), {
    clusters: [['c', 'https://x', { 'certificate-authority': 'ca.crt' }]],
    users: [['u', { 'client-certificate': '../u.crt', 'client-key': 'u.key' }]],
    contexts: [['x', 'c', 'u']],
    current: 'x',
  });
  const kc = loadKube({ kubeconfig: f }).kc;
  t.is(kc.getCluster('c')?.caFile, join(d, 'sub', 'ca.crt'));
  t.is(kc.getUser('u')?.certFile, join(d, 'u.crt'));
  t.is(kc.getUser('u')?.keyFile, join(d, 'sub', 'u.key'));
});

test('#15: no kubeconfig at all is one sentence naming where tp looked (not "HTTP protocol is not allowed")', (t) => {
  const d = dir(t);
  const err = rejects(
    t,
    () => loadKube({ kubeconfigEnv: '', home: d, inCluster: false }),
    'E_NO_KUBECONFIG',
    new RegExp(`^no kubeconfig found \\(looked in ${join(d, '.kube', 'config')}\\)$`),
  );
  t.regex(err.hint!, /--kubeconfig FILE or set KUBECONFIG/);
  rejects(
    t,
    () => loadKube({ kubeconfigEnv: `${d}/x:${d}/y`, home: d, inCluster: false }),
    'E_NO_KUBECONFIG',
    new RegExp(`^no kubeconfig found \\(looked in KUBECONFIG \\(${d}/x, ${d}/y\\)\\)$`),
  );
  rejects(t, () => loadKube({ kubeconfig: join(d, 'nope') }), 'E_KUBECONFIG', /^the kubeconfig .*nope does not exist$/);
});

test('#15: kubeconfigs that cannot be used say why: no contexts, unknown --context, no current context, a context without its cluster, not YAML', (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'empty'), '');
  rejects(t, () => loadKube({ kubeconfig: join(d, 'empty') }), 'E_KUBECONFIG', /has no contexts$/);
  const f = kubeconfig(join(d, 'f'), {
    clusters: [['c', 'https://x']],
    users: [['u', { token: 't' }]],
    contexts: [
      ['one', 'c', 'u'],
      ['two', 'gone', 'u'],
    ],
  });
  rejects(t, () => loadKube({ kubeconfig: f }), 'E_CONTEXT', /sets no current context$/);
  rejects(
    t,
    () => loadKube({ kubeconfig: f, context: 'three' }),
    'E_CONTEXT',
    /^context "three" is not in the kubeconfig .* \(it has: one, two\)$/,
  );
  rejects(
    t,
    () => loadKube({ kubeconfig: f, context: 'two' }),
    'E_KUBECONFIG',
    /^context "two" names cluster "gone", which the kubeconfig .* does not define/,
  );
  writeFileSync(join(d, 'bad'), 'clusters: [');
  rejects(t, () => loadKube({ kubeconfig: join(d, 'bad') }), 'E_KUBECONFIG', /is not YAML/);
});

const where = { server: 'https://k.example:6443', context: 'prod' };

test('#15: API failures read as one sentence with the fix: forbidden names verb, resource and namespace', (t) => {
  const forbidden = {
    code: 403,
    body: JSON.stringify({
      kind: 'Status',
      reason: 'Forbidden',
      message:
        'deployments.apps "echo" is forbidden: User "alice" cannot patch resource "deployments" in API group "apps" in the namespace "dev"',
    }),
  };
  const f = describeKubeError(forbidden, where)!;
  t.is(f.message, 'alice may not patch deployments.apps in namespace dev');
  t.regex(f.hint!, /kubectl auth can-i patch deployments\.apps -n dev/);
  const clusterWide = describeKubeError(
    { code: 403, body: { message: 'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope' } },
    where,
  )!;
  t.is(clusterWide.message, 'bob may not list nodes cluster-wide');
});

test('#15: not found reads "no Deployment echo in namespace dev"; a missing namespace and a missing API say so', (t) => {
  const nf = {
    code: 404,
    body: { reason: 'NotFound', message: 'deployments.apps "echo" not found', details: { name: 'echo', kind: 'deployments' } },
  };
  t.is(
    describeKubeError(nf, where, { verb: 'get', resource: 'deployments.apps', kind: 'Deployment', name: 'echo', namespace: 'dev' })!
      .message,
    'no Deployment echo in namespace dev',
  );
  t.is(describeKubeError({ code: 404, body: { message: 'namespaces "dev" not found' } }, where)!.message, 'namespace dev does not exist');
  const noApi = describeKubeError({ code: 404, body: { message: 'the server could not find the requested resource' } }, where, {
    verb: 'create',
    resource: 'engagements.tp.dev',
    namespace: 'dev',
  })!;
  t.is(noApi.message, 'the cluster does not serve engagements.tp.dev');
  t.regex(noApi.hint!, /tp helm install/);
});

test('#15: expired credentials (401) say so and how to log in again, naming the credential plugin when there is one', (t) => {
  const f = describeKubeError({ code: 401, body: { message: 'Unauthorized' } }, { ...where, execCommand: 'aws' })!;
  t.is(f.code, 'E_KUBE_UNAUTHORIZED');
  t.regex(
    f.message,
    /^the Kubernetes API server at https:\/\/k\.example:6443 did not accept your credentials \(kubeconfig context prod\): they have expired or are not valid; the credential plugin `aws`/,
  );
  t.regex(f.hint!, /log in again/);
});

test('#15: network and TLS failures name the address and the cause; other errors are left alone', (t) => {
  const refused = Object.assign(new Error('request to https://k.example:6443/api failed, reason: connect ECONNREFUSED 10.0.0.1:6443'), {
    name: 'FetchError',
    type: 'system',
    code: 'ECONNREFUSED',
    errno: 'ECONNREFUSED',
  });
  t.is(
    describeKubeError(refused, where)!.message,
    'cannot reach the Kubernetes API server at https://k.example:6443 (kubeconfig context prod): connection refused',
  );
  const dns = Object.assign(new Error('x'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND k.example'), { code: 'ENOTFOUND' }) });
  t.regex(describeKubeError(dns, where)!.message, /: the host name does not resolve$/);
  const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  t.is(describeKubeError(tls, where)!.code, 'E_KUBE_TLS');
  t.regex(
    describeKubeError(new Error('HTTP protocol is not allowed when skipTLSVerify is not set or false'), {
      server: 'http://localhost:8080',
    })!.message,
    /is plain http:\/\//,
  );
  t.is(describeKubeError(new TypeError('x is undefined'), where), undefined, 'a bug stays a bug');
  t.is(describeKubeError(new DaemonCallError('E_FLAG', 'mine'), where), undefined, "tp's own errors are already worded");
});

test('#15: a real request to a closed port reads "cannot reach … connection refused"', async (t) => {
  const d = dir(t);
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const f = kubeconfig(join(d, 'c'), {
    clusters: [['c', `https://127.0.0.1:${port}`]],
    users: [['u', { token: 't' }]],
    contexts: [['x', 'c', 'u']],
    current: 'x',
  });
  const target = loadKube({ kubeconfig: f });
  const err = await target.kc
    .makeApiClient(k8s.CoreV1Api)
    .listNamespace()
    .then(
      () => undefined,
      (e: unknown) => kubeFailure(e, target),
    );
  t.true(err instanceof DaemonCallError);
  t.is(
    (err as DaemonCallError).message,
    `cannot reach the Kubernetes API server at https://127.0.0.1:${port} (kubeconfig context x): connection refused`,
  );
  t.truthy((err as DaemonCallError & { cause?: unknown }).cause, 'the library error stays as the cause, for the log');
});

test('#15: a failing credential plugin is reported with its stderr; a missing one says it is not installed', async (t) => {
  const d = dir(t);
  const plugin = join(d, 'get-token');
  writeFileSync(plugin, '#!/bin/sh\necho "some progress" >&2\necho "error: the SSO session has expired; run: corp-login" >&2\nexit 1\n');
  chmodSync(plugin, 0o755);
  const exec = (command: string) => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command, interactiveMode: 'Never' } });
  const f = kubeconfig(join(d, 'c'), {
    clusters: [['c', 'https://127.0.0.1:1']],
    users: [
      ['u', exec(plugin)],
      ['gone', exec('tp-no-such-plugin')],
    ],
    contexts: [
      ['x', 'c', 'u'],
      ['y', 'c', 'gone'],
    ],
    current: 'x',
  });
  const failing = (await t.throwsAsync(checkCredentials(loadKube({ kubeconfig: f })))) as DaemonCallError;
  t.is(failing.code, 'E_KUBE_CREDENTIALS');
  t.is(
    failing.message,
    `the credential plugin \`${plugin}\` (kubeconfig context x) failed: some progress error: the SSO session has expired; run: corp-login`,
  );
  const missing = (await t.throwsAsync(checkCredentials(loadKube({ kubeconfig: f, context: 'y' })))) as DaemonCallError;
  t.is(missing.message, 'kubeconfig context y gets its credentials from `tp-no-such-plugin`, which is not installed (not found on PATH)');
});
