import test from 'ava';
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { AGENT_CONTAINER_NAME } from '../../../../lib/common/agent-config.js';
import {
  ConflictError,
  generateCertBundle,
  serviceDnsNames,
  splitPem,
  type CertBundle,
  type SecretStore,
  type WebhookConfigStore,
} from '../../../../lib/manager/webhook/cert.js';
import { createWebhookServer, MAX_BODY_BYTES, MUTATE_PATH, type WebhookServer } from '../../../../lib/manager/webhook/server.js';
import { runWebhook } from '../../../../lib/manager/webhook/start.js';
import { applyPatch, captureLogger, OPTS, pod, review } from './harness.js';

const NAMES = serviceDnsNames('traffic-manager', 'tp-system', 'cluster.local');
const bundles = Promise.all([generateCertBundle({ dnsNames: NAMES }), generateCertBundle({ dnsNames: NAMES })]);

interface Reply {
  status: number;
  body: string;
  peerCert: string;
}

/** One HTTPS request to 127.0.0.1 as the API server makes it: by Service name, trusting `ca` only. */
function call(port: number, ca: string, opts: { method?: string; path?: string; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: NAMES[0],
        ca,
        method: opts.method ?? 'POST',
        path: opts.path ?? MUTATE_PATH,
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const peerCert = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()?.toString() ?? '';
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), peerCert }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function serve(b: CertBundle): Promise<{ ws: WebhookServer; port: number; log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger();
  const ws = createWebhookServer({ tls: { cert: b['tls.crt'], key: b['tls.key'] }, mutate: OPTS, log });
  return { ws, port: await ws.listen(0, '127.0.0.1'), log };
}

test('an AdmissionReview over HTTPS, verified with the generated CA by the Service name, gets the patch', async (t) => {
  const [b] = await bundles;
  const { ws, port, log } = await serve(b);
  t.teardown(() => ws.close());
  const p = pod();
  const r = await call(port, b['ca.crt'], { body: JSON.stringify(review(p)) });
  t.is(r.status, 200);
  const rev = JSON.parse(r.body);
  t.is(rev.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  t.true(rev.response.allowed);
  const out = applyPatch(p, JSON.parse(Buffer.from(rev.response.patch, 'base64').toString())) as typeof p;
  t.true(out.spec!.containers.some((c) => c.name === AGENT_CONTAINER_NAME));
  const line = log.lines.find((l) => l.msg === 'agent injected');
  t.like(line?.fields, {
    pod: 'echo-5d9c7b-*',
    namespace: 'team',
    workload: 'Deployment/echo',
    container: 'echo',
    replace: false,
    ports: ['8080/TCP->9900'],
  });
});

test('a client that does not trust the CA cannot talk to the webhook', async (t) => {
  const [b, other] = await bundles;
  const { ws, port } = await serve(b);
  t.teardown(() => ws.close());
  await t.throwsAsync(call(port, other['ca.crt'], { body: '{}' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
});

test('bad requests get 4xx answers with a message, and the server keeps serving', async (t) => {
  const [b] = await bundles;
  const { ws, port } = await serve(b);
  t.teardown(() => ws.close());
  const ca = b['ca.crt'];
  const bad = await call(port, ca, { body: '{"apiVersion":' });
  t.is(bad.status, 400);
  t.regex(JSON.parse(bad.body).error, /^the body is not JSON: /);
  t.deepEqual(
    [(await call(port, ca, { body: '{"kind":"Pod"}' })).status, JSON.parse((await call(port, ca, { body: '{"kind":"Pod"}' })).body)],
    [400, { error: 'the body is not an AdmissionReview with a request' }],
  );
  t.is((await call(port, ca, { path: '/mutate', body: '{}' })).status, 404);
  t.is((await call(port, ca, { method: 'GET' })).status, 405);
  const big = await call(port, ca, { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) }).catch((err: NodeJS.ErrnoException) => ({
    status: err.code,
    body: '',
    peerCert: '',
  }));
  t.true(big.status === 413 || big.status === 'ECONNRESET' || big.status === 'EPIPE', `oversized body: ${big.status}`);
  t.is((await call(port, ca, { body: JSON.stringify(review(pod({ config: null }))) })).status, 200, 'still serving');
});

test('setCertificate: new connections get the new certificate', async (t) => {
  const [a, b] = await bundles;
  const { ws, port } = await serve(a);
  t.teardown(() => ws.close());
  const before = await call(port, a['ca.crt'], { body: JSON.stringify(review(pod({ config: null }))) });
  t.is(before.peerCert, new X509Certificate(a['tls.crt']).toString());
  ws.setCertificate({ cert: b['tls.crt'], key: b['tls.key'] });
  const after = await call(port, b['ca.crt'], { body: JSON.stringify(review(pod({ config: null }))) });
  t.is(after.status, 200);
  t.is(after.peerCert, new X509Certificate(b['tls.crt']).toString());
});

/** In-memory Secret and MutatingWebhookConfiguration, as in cert.test.ts but minimal. */
function stores(initial?: CertBundle) {
  const secret: SecretStore & { data?: CertBundle; rv: number } = {
    data: initial,
    rv: 1,
    async read() {
      return secret.data ? { data: { ...secret.data }, resourceVersion: String(secret.rv) } : undefined;
    },
    async create(d) {
      if (secret.data) throw new ConflictError();
      secret.data = d;
      secret.rv++;
    },
    async replace(d, rv) {
      if (rv !== String(secret.rv)) throw new ConflictError();
      secret.data = d;
      secret.rv++;
    },
  };
  const config: WebhookConfigStore & { obj: { webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }> } } = {
    obj: { webhooks: [{ name: 'agent-injector.tp.dev', clientConfig: {} }] },
    async read() {
      return config.obj.webhooks.map((w) => ({ name: w.name, ...(w.clientConfig.caBundle ? { caBundle: w.clientConfig.caBundle } : {}) }));
    },
    async patch(ops) {
      config.obj = applyPatch(config.obj, ops) as typeof config.obj;
    },
  };
  return { secret, config };
}

const caBundleOf = (c: ReturnType<typeof stores>['config']) =>
  Buffer.from(c.obj.webhooks[0]!.clientConfig.caBundle ?? '', 'base64').toString();

async function until(t: { fail(m: string): void }, what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return t.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('runWebhook: creates the Secret, serves its certificate, sets the caBundle, and repairs it after an upgrade empties it', async (t) => {
  const { secret, config } = stores();
  const log = captureLogger();
  const wh = await runWebhook({
    namespace: 'tp-system',
    serviceName: 'traffic-manager',
    clusterDomain: 'cluster.local',
    port: 0,
    host: '127.0.0.1',
    secretName: 'tp-agent-injector-tls',
    webhookConfigName: 'tp-agent-injector-tp-system',
    ...OPTS,
    log,
    recheckMs: 20,
    secrets: secret,
    configs: config,
  });
  t.teardown(() => wh.close());
  t.truthy(secret.data);
  t.is(caBundleOf(config), secret.data!['ca.crt']);
  t.truthy(log.lines.find((l) => l.msg === 'webhook caBundle set'));
  t.is((await call(wh.port, caBundleOf(config), { body: JSON.stringify(review(pod())) })).status, 200);

  config.obj.webhooks[0]!.clientConfig = {};
  await until(t, 'the caBundle repair', () => caBundleOf(config) === secret.data!['ca.crt']);
  t.like(log.lines.find((l) => l.msg === 'webhook caBundle repaired')?.fields, { webhooks: ['agent-injector.tp.dev'] });
});

test('runWebhook: a certificate rotated in the Secret (by another pod) is served once the caBundle has its CA', async (t) => {
  const [first, second] = await bundles;
  const { secret, config } = stores(first);
  const log = captureLogger();
  const wh = await runWebhook({
    namespace: 'tp-system',
    serviceName: 'traffic-manager',
    clusterDomain: 'cluster.local',
    port: 0,
    host: '127.0.0.1',
    secretName: 's',
    webhookConfigName: 'w',
    ...OPTS,
    log,
    recheckMs: 20,
    secrets: secret,
    configs: config,
  });
  t.teardown(() => wh.close());
  // Another manager pod rotates: new CA first, the old one kept after it.
  secret.data = { ...second, 'ca.crt': second['ca.crt'] + first['ca.crt'] };
  secret.rv++;
  await until(t, 'the new certificate served', () => log.lines.some((l) => l.msg === 'webhook serves the new certificate'));
  t.deepEqual(splitPem(caBundleOf(config)).length, 2);
  const r = await call(wh.port, second['ca.crt'], { body: JSON.stringify(review(pod({ config: null }))) });
  t.is(r.peerCert, new X509Certificate(second['tls.crt']).toString());
  const order = log.lines.map((l) => l.msg).filter((m) => m === 'webhook caBundle repaired' || m === 'webhook serves the new certificate');
  t.deepEqual(
    order.slice(0, 2),
    ['webhook caBundle repaired', 'webhook serves the new certificate'],
    'the CA reaches the API server before the certificate changes',
  );
});
